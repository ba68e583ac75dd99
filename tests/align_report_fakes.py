"""A hand-made alignment ``report.json`` (the shape core.align.finish writes next to its audit) and sweep
frontier points, for the Audit / Jobs page tests. Built with the core functions that produce the real ones."""

from __future__ import annotations

from typing import Any

from core.evals.awareness import states_knew
from core.evals.stats import rate_ci


def _group(n: int, k_before: int, k_after: int) -> tuple[list[bool], list[bool]]:
    return [i < k_before for i in range(n)], [i < k_after for i in range(n)]


# (class, flagged, n, refused before, refused after)
GROUPS = [
    (True, True, 16, 8, 14),  # harmful, flagged: 50 % -> 87.5 %
    (True, False, 4, 1, 2),  # harmful, not flagged: 25 % -> 50 %
    (False, True, 2, 1, 2),  # benign, flagged: 50 % -> 100 %
    (False, False, 18, 1, 3),  # benign, not flagged: 5.6 % -> 16.7 %
]


def states_knew_block() -> dict[str, Any]:
    harmful, flagged, before, after = [], [], [], []
    for h, f, n, kb, ka in GROUPS:
        b, a = _group(n, kb, ka)
        harmful += [h] * n
        flagged += [f] * n
        before += b
        after += a
    table = states_knew(harmful=harmful, flagged=flagged, refused_before=before, refused_after=after)
    probe = {
        "layer": 3,
        "positions": "last_prompt",
        "threshold": 0.61,
        "cv_auroc": 0.934,
        "n_train": {"harmful": 40, "benign": 40},
        "column": 1,
    }
    return {"probe": probe, **table}


def _kinds(counts: dict[str, tuple[int, int, int]]) -> dict[str, Any]:
    return {
        kind: {
            "base": rate_ci(_group(n, kb, ka)[0]).to_json(),
            "tuned": rate_ci(_group(n, kb, ka)[1]).to_json(),
        }
        for kind, (n, kb, ka) in counts.items()
    }


def align_report() -> dict[str, Any]:
    """What ``<run_dir>/audit/report.json`` holds (the parts the Audit page reads)."""
    return {
        "template": "plain",
        "by_kind": _kinds(
            {"harmful": (20, 9, 16), "benign_counterpart": (20, 2, 5), "borderline": (6, 1, 3)}
        ),
        "states_knew": states_knew_block(),
        "stress_minimal_pairs": {
            "by_kind": _kinds({"harmful": (12, 3, 9), "benign_counterpart": (12, 0, 4)})
        },
        "holdout_readout": {
            "n": {"harmful": 120, "benign_counterpart": 120, "borderline": 122},
            "auroc": 0.9741,
            "refused": {
                "-1": {"harmful": 0.908, "benign_counterpart": 0.042, "borderline": 0.107},
                "0": {"harmful": 0.867, "benign_counterpart": 0.042, "borderline": 0.09},
                "2": {"harmful": 0.767, "benign_counterpart": 0.025, "borderline": 0.066},
            },
            "offset_within_bars": 0.0,
        },
    }


def frontier_points() -> list[dict[str, Any]]:
    """Three points of a sweep over ``sft_epochs`` (the shape of ``core.align.sweep.frontier_point``)."""
    rows = [(0.5, 0.62, 0.04), (1.0, 0.85, 0.08), (2.0, 0.93, 0.15)]
    return [
        {
            "value": v,
            "harmful_refusal": h,
            "harmful_refusal_ci95": [h - 0.1, min(1.0, h + 0.05)],
            "over_refusal": o,
            "over_refusal_ci95": [max(0.0, o - 0.03), o + 0.06],
            "harmful_refusal_before": 0.4,
            "over_refusal_before": 0.02,
            "wall_s": 100.0 * (i + 1),
            "holdout": {
                "auroc": 0.95 + 0.01 * i,
                "harmful": h - 0.02,
                "benign_counterpart": o / 2,
                "borderline": o,
            },
        }
        for i, (v, h, o) in enumerate(rows)
    ]
