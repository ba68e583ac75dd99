""" "The states knew -- does the model act?": a probe's verdict on each prompt beside the model's behaviour.

For each class (harmful / benign) the table splits the prompts by whether a linear probe on the base model's
prompt states flags them (P(unsafe) at or above its operating threshold) and gives, for each part, the share
the model refused before and after training. A stakeholder reads it as: of the harmful requests the model's
own states recognise, how many did it refuse before, and how many now? Arrays in, plain JSON out (no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import InputError
from core.evals.stats import wilson_interval


def _rate(x: np.ndarray) -> dict[str, Any]:
    n = int(len(x))
    k = int(np.sum(x))
    lo, hi = wilson_interval(k, n)
    return {"rate": (k / n) if n else None, "k": k, "n": n, "ci95": [lo, hi]}


def states_knew(
    *,
    harmful: Sequence[bool],
    flagged: Sequence[bool],
    refused_before: Sequence[bool],
    refused_after: Sequence[bool] | None = None,
) -> dict[str, Any]:
    """``{"harmful": {...}, "benign": {...}}``; each has ``flag_rate`` (share of the class the probe flags)
    and, for ``flagged`` / ``not_flagged`` prompts, ``refused_before`` / ``refused_after`` rates with Wilson
    CIs."""
    h = np.asarray(harmful, dtype=bool)
    f = np.asarray(flagged, dtype=bool)
    rb = np.asarray(refused_before, dtype=bool)
    ra = np.asarray(refused_after, dtype=bool) if refused_after is not None else None
    if not (len(h) == len(f) == len(rb) and (ra is None or len(ra) == len(h))):
        raise InputError(
            "states_knew needs one harmful / flagged / refused value per prompt (lengths differ)."
        )
    out: dict[str, Any] = {}
    for name, cls in (("harmful", h), ("benign", ~h)):
        part: dict[str, Any] = {"n": int(cls.sum()), "flag_rate": _rate(f[cls])}
        for sub, sel in (("flagged", cls & f), ("not_flagged", cls & ~f)):
            part[sub] = {"n": int(sel.sum()), "refused_before": _rate(rb[sel])}
            if ra is not None:
                part[sub]["refused_after"] = _rate(ra[sel])
        out[name] = part
    return out


def states_knew_lines(table: dict[str, Any]) -> list[str]:
    """Plain-language lines of the table (the job log, the report, the Story)."""

    def pct(r: dict[str, Any]) -> str:
        return "n/a" if r["rate"] is None else f"{100 * r['rate']:.0f} % of {r['n']}"

    lines = []
    for name in ("harmful", "benign"):
        p = table[name]
        fl = p["flag_rate"]
        line = (
            f"{name}: the probe flags {pct(fl)}; of those the model refused "
            f"{pct(p['flagged']['refused_before'])}"
        )
        if "refused_after" in p["flagged"]:
            line += f" before training and {pct(p['flagged']['refused_after'])} after"
        lines.append(line)
    return lines
