"""Checks and text of the Audit page (pure: no Streamlit calls; tested in tests/unit/app)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from core.evals.stats import MIN_N, diff_text


def early_batch_size(batch_size: int) -> int:
    """The Audit page's first generation batch: a quarter of a batch (at least one prompt), so the first
    measured speed, and the time left, appear early (the runner uses it only when one batch is over a
    quarter of the audit)."""
    return max(1, batch_size // 4)


def config_problem(cfg: dict[str, Any]) -> str | None:
    """Why an audit config from the run form cannot run (no suite, no subject), or None when it can."""
    if not cfg["suites"]:
        return "Choose at least one suite."
    if not cfg["subjects"]:
        return "Add at least one subject first."
    return None


def result_summary(folder: Path, result: Any) -> str:
    """One line about a loaded audit: folder, attempts, dataset, split and run time."""
    return (
        f"`{folder}` · {len(result.records)} attempts · dataset `{result.meta.get('dataset')}` "
        f"(split {result.meta.get('split')}) · {result.meta.get('seconds', 0):.0f} s"
    )


NO_VECTOR = "(none)"


def steering_spec(vector: str, method: str, alpha: float, layers_text: str) -> dict[str, Any] | None:
    """A subject's steering settings from the form: None without a vector; layers ``"10, 14"`` -> ``[10, 14]``
    (empty = the vector's default). A layer that is not an integer raises ``ValueError``."""
    if vector == NO_VECTOR:
        return None
    steering: dict[str, Any] = {"method": method, "alpha": float(alpha)}
    if layers_text.strip():
        steering["layers"] = [int(x) for x in layers_text.split(",") if x.strip()]
    return steering


# ---- the scorecard (same rows and interval code as ``reasonscope eval`` and the HTML report) ---------------
def scorecard_table_rows(rows: list[dict[str, Any]], n_subjects: int) -> list[dict[str, Any]]:
    """The Audit page's scorecard table from ``core.evals.result.scorecard`` rows: rate (%), Wilson 95 % CI,
    n next to it, "too few" below ``FEW`` items, and the paired Δ with its Newcombe CI and McNemar p."""
    return [
        {
            "subject": r["subject"],
            "suite": r["title"],
            "better": "↑ higher" if r["higher_is_better"] else "↓ lower",
            "rate %": None if r["rate"] is None else round(100 * r["rate"], 1),
            "95 % CI": _ci_text(r["ci_low"], r["ci_high"]) if r["rate"] is not None else "—",
            "n": r["n"],
            "note": f"too few (n < {FEW})" if r["too_few"] else "",
            "Δ vs baseline (pt)": None if r["delta"] is None else round(100 * r["delta"], 1),
            "Δ 95 % CI": _delta_ci(r),
            "McNemar p": r["p_mcnemar"],
            "verdict": r["verdict"] or ("baseline" if n_subjects > 1 else ""),
            "judge disagreements": r["n_disagreements"],
            "human verdicts": r["n_human"],
        }
        for r in rows
    ]


def _delta_ci(r: dict[str, Any]) -> str:
    text = diff_text(r["delta"], *(r.get("delta_ci") or (None, None)))
    return "—" if text is None or "[" not in text else text[text.index("[") :]


def category_table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-category (attack family) rates of ``core.evals.result.category_rows`` for the Audit page."""
    return [
        {
            "subject": r["subject"],
            "suite": r["title"],
            "category": r["category"],
            "rate %": None if r["rate"] is None else round(100 * r["rate"], 1),
            "95 % CI": _ci_text(r["ci_low"], r["ci_high"]),
            "n": r["n"],
            "note": f"too few (n < {FEW})" if r["too_few"] else "",
        }
        for r in rows
    ]


# ---- an alignment run's report.json (states knew, per-kind refusal, stress split) --------------------------
ALIGN_REPORT = "report.json"  # written next to the audit by core.align.finish
FEW = MIN_N  # below this many items a rate is shown, but marked "too few" (one threshold with the CLI)
KIND_LABELS = {"harmful": "Harmful", "benign_counterpart": "Benign counterpart", "borderline": "Borderline"}
KNEW_GROUPS = (
    ("harmful", "flagged", "Harmful requests the probe flags"),
    ("harmful", "not_flagged", "Harmful requests the probe does not flag"),
    ("benign", "flagged", "Benign requests the probe flags"),
    ("benign", "not_flagged", "Benign requests the probe does not flag"),
)


def alignment_report(folder: Path) -> dict[str, Any] | None:
    """The alignment run's ``report.json`` in an audit folder, or None for an audit without one. A file that
    is not a JSON object raises ``ValueError``."""
    path = Path(folder) / ALIGN_REPORT
    if not path.is_file():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(report, dict):
        raise ValueError(f"{path} is not a JSON object.")
    return report


def _num(x: Any) -> float | None:
    """A finite float, or None (null, NaN, missing)."""
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def _pct(x: Any) -> float | None:
    v = _num(x)
    return None if v is None else round(100 * v, 1)


def _ci_text(lo: Any, hi: Any) -> str:
    lo, hi = _num(lo), _num(hi)
    return "—" if lo is None or hi is None else f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def _says(x: Any) -> str:
    v = _num(x)
    return "n/a" if v is None else f"{100 * v:.0f} %"


def _knew(report: dict[str, Any]) -> dict[str, Any] | None:
    knew = report.get("states_knew")
    return knew if isinstance(knew, dict) and "harmful" in knew and "benign" in knew else None


def _refused(part: dict[str, Any], when: str) -> dict[str, Any]:
    r = part.get(f"refused_{when}") or {}
    lo, hi = (list(r.get("ci95") or []) + [None, None])[:2]
    return {"rate": _num(r.get("rate")), "low": _num(lo), "high": _num(hi), "n": r.get("n"), "k": r.get("k")}


def _share(r: dict[str, Any]) -> str:
    """``88 % (14 of 16)``."""
    counts = f" ({r['k']} of {r['n']})" if r.get("k") is not None and r.get("n") else ""
    return _says(r["rate"]) + counts


def holdout_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Table rows of the report's held-out train slice readout (``core.align.readout``): per decision offset,
    the share (%) of each item kind read as refused. Offset 0 is what greedy decoding does; [] without the
    block or with a malformed one."""
    ho = report.get("holdout_readout")
    refused = ho.get("refused") if isinstance(ho, dict) else None
    if not isinstance(refused, dict):
        return []
    offsets = sorted(
        (f, key, rates)
        for key, rates in refused.items()
        if (f := _float_or_none(key)) is not None and isinstance(rates, dict)
    )
    rows = []
    for f, key, rates in offsets:
        row: dict[str, Any] = {"decision offset": key + (" (greedy)" if f == 0 else "")}
        for kind, label in KIND_LABELS.items():
            row[f"{label} refused (%)"] = _pct(rates.get(kind))
        rows.append(row)
    return rows


def holdout_caption(report: dict[str, Any]) -> str:
    """One sentence on the readout: slice size, AUROC, and where the bars would be met."""
    ho = report.get("holdout_readout") or {}
    n = ho.get("n") if isinstance(ho.get("n"), dict) else {}
    auroc = _num(ho.get("auroc"))
    auroc_text = "n/a" if auroc is None else f"{auroc:.3f}"
    size = ", ".join(f"{v} {KIND_LABELS.get(k, k).lower()}" for k, v in n.items())
    chosen = _num(ho.get("offset_within_bars"))
    where = (
        "no reported offset keeps counterparts ≤ 5 % and borderline ≤ 10 %"
        if chosen is None
        else f"counterparts ≤ 5 % and borderline ≤ 10 % from offset {chosen:g}"
    )
    step, of = _num(ho.get("step")), _num(ho.get("of"))
    when = (
        f"at step {step:g} of {of:g}, the checkpoint the run kept (the best balanced accuracy on this slice)"
        if ho.get("kept") and step is not None and of is not None and step != of
        else "at the end of the verdict SFT"
    )
    return (
        f"The verdict read off held-out train prompts (whole families kept out of training: {size}) "
        f"without generating, {when}: AUROC {auroc_text}; {where}. "
        "A positive offset is where weighting benign verdicts more would move the decision. "
        "This is the slice to choose settings on — never the validation split."
    )


def _float_or_none(x: Any) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def states_knew_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Table rows of the report's "states knew" block: per class (harmful / benign) and probe verdict (flags /
    does not flag), n and the refusal rate (%) before and after training with its Wilson 95 % CI. [] without
    the block."""
    knew = _knew(report)
    if knew is None:
        return []
    rows = []
    for cls, sub, label in KNEW_GROUPS:
        part = knew[cls].get(sub) or {}
        before, after = _refused(part, "before"), _refused(part, "after")
        rows.append(
            {
                "group": label,
                "n": int(part.get("n") or 0),
                "refused before %": _pct(before["rate"]),
                "before 95 % CI": _ci_text(before["low"], before["high"]),
                "refused after %": _pct(after["rate"]),
                "after 95 % CI": _ci_text(after["low"], after["high"]),
            }
        )
    return rows


def states_knew_bars(report: dict[str, Any]) -> dict[str, list[Any]]:
    """The groups of ``states_knew_rows`` as plain lists for ``align_charts.states_knew_figure`` (rates as
    fractions, None where a group is empty)."""
    knew = _knew(report)
    out: dict[str, list[Any]] = {
        k: [] for k in ("labels", "harmful", "before", "before_ci", "after", "after_ci")
    }
    if knew is None:
        return out
    for cls, sub, label in KNEW_GROUPS:
        part = knew[cls].get(sub) or {}
        before, after = _refused(part, "before"), _refused(part, "after")
        out["labels"].append(f"{label} (n = {int(part.get('n') or 0)})")
        out["harmful"].append(cls == "harmful")
        out["before"].append(before["rate"])
        out["before_ci"].append((before["low"], before["high"]))
        out["after"].append(after["rate"])
        out["after_ci"].append((after["low"], after["high"]))
    return out


def probe_description(report: dict[str, Any]) -> str:
    """``a layer-12 probe, CV AUROC 0.97`` (what the "states" are)."""
    probe = (_knew(report) or {}).get("probe") or {}
    auroc = _num(probe.get("cv_auroc"))
    return f"a layer-{probe.get('layer', '?')} probe, CV AUROC " + (
        "n/a" if auroc is None else f"{auroc:.2f}"
    )


def states_knew_captions(report: dict[str, Any]) -> list[str]:
    """One plain-language sentence per class: how many requests the probe flags, and how many of those the
    model refused before and after training. [] without the block."""
    knew = _knew(report)
    if knew is None:
        return []
    out = []
    for cls, who in (
        ("harmful", f"the model's own states ({probe_description(report)}) flag"),
        ("benign", "the same probe flags"),
    ):
        part = knew[cls]
        n = int(part.get("n") or 0)
        if n == 0:
            out.append(f"There are no {cls} validation requests.")
            continue
        flagged = part.get("flagged") or {}
        head = f"Of the {n} {cls} validation requests, {who} "
        head += _says((part.get("flag_rate") or {}).get("rate"))
        if not flagged.get("n"):
            out.append(head + ", so there is no refusal rate of flagged requests to compare.")
            continue
        before, after = _refused(flagged, "before"), _refused(flagged, "after")
        tail = f"; the model refused {_share(before)} of those before training"
        tail += f" and {_share(after)} after." if "refused_after" in flagged else "."
        out.append(head + tail)
    return out


def kind_rows(by_kind: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Refusal rate (%) per item kind before (base) and after (tuned) with n and Wilson 95 % CIs; ``note``
    says "too few" below ``FEW`` items. Harmful, benign counterpart and borderline first."""
    if not isinstance(by_kind, dict):
        return []
    order = [k for k in KIND_LABELS if k in by_kind] + sorted(k for k in by_kind if k not in KIND_LABELS)
    rows = []
    for kind in order:
        subj = by_kind[kind] or {}
        base, tuned = subj.get("base") or {}, subj.get("tuned") or {}
        ns = [int(s["n"]) for s in (base, tuned) if isinstance(s.get("n"), int | float)]
        n = min(ns) if ns else 0
        rows.append(
            {
                "kind": KIND_LABELS.get(kind, kind),
                "n": n,
                "refused before %": _pct(base.get("rate")),
                "before 95 % CI": _ci_text(base.get("low"), base.get("high")),
                "refused after %": _pct(tuned.get("rate")),
                "after 95 % CI": _ci_text(tuned.get("low"), tuned.get("high")),
                "note": f"too few (n < {FEW})" if n < FEW else "",
            }
        )
    return rows
