"""Text and table helpers of the Steer page (pure: no Streamlit calls; tested in tests/unit/app)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.explore.palette import DIFF_DELETE, DIFF_INSERT
from core.steer.controls import concrete_layers
from core.steer.units import DEFAULT_MULTIPLES, alpha_from_multiple, multiple_from_alpha

RELATIVE, ABSOLUTE = "× mean ‖h‖", "absolute"
UNITS = [RELATIVE, ABSOLUTE]  # the "α in" choices (relative first: the default)


@dataclass(frozen=True, kw_only=True)
class Strength:
    """How α relates to the residual stream at the target layers."""

    norm: float  # mean ‖h‖ over the target layers
    vector_norm: float  # mean ‖v‖ of the directions applied there
    layers: list[int]
    source: str  # where the norm was measured
    units: str  # RELATIVE | ABSOLUTE: how the page's α inputs are read

    @classmethod
    def of(cls, norms: Any, directions: dict[int, np.ndarray], units: str) -> Strength:
        layers = sorted(directions)
        vnorm = float(np.mean([np.linalg.norm(np.asarray(v, dtype=np.float64)) for v in directions.values()]))
        return cls(norm=norms.at(layers), vector_norm=vnorm, layers=layers, source=norms.source, units=units)


def default_sweep_text(strength: Strength | None) -> str:
    """The sweep's default α values: 0 to 1 × the mean residual norm in relative units, else 0, 1, 2, 4."""
    if strength is not None and strength.units == RELATIVE:
        return ", ".join(f"{m:g}" for m in DEFAULT_MULTIPLES)
    return "0, 1, 2, 4"


def sweep_alphas(values: Sequence[float], method: str, strength: Strength | None) -> list[float]:
    """The absolute α of each typed sweep value (converted when they are multiples of the mean norm)."""
    if strength is None or strength.units != RELATIVE:
        return [float(v) for v in values]
    return [alpha_from_multiple(v, method, strength.norm, strength.vector_norm) for v in values]


def diff_html(ops: Sequence[tuple[str, str]], side: str) -> str:
    """One side of a word diff as HTML: the baseline shows removed words struck through, the steered text
    shows added words highlighted (palette diff colours; everything escaped)."""
    parts = []
    for op, text in ops:
        t = html.escape(text).replace("\n", "<br>")
        if op == "same":
            parts.append(t)
        elif op == "delete" and side == "baseline":
            parts.append(f'<del style="background:{DIFF_DELETE};text-decoration:line-through">{t}</del>')
        elif op == "insert" and side == "steered":
            parts.append(f'<ins style="background:{DIFF_INSERT};text-decoration:none">{t}</ins>')
    body = "".join(parts) or "<i>(empty)</i>"
    return f'<div style="white-space:pre-wrap;line-height:1.6">{body}</div>'


def describe_vector(vector: Any) -> str:
    """One markdown line about a steering vector: name, source, layers, default layer, norms of up to 8
    layers."""
    concrete = concrete_layers(vector)
    return (
        f"**{vector.name}** · source `{vector.source}` · layers {concrete or 'any'} · default layer "
        f"{vector.default_layer if vector.default_layer is not None else '—'} · norms "
        + ", ".join(f"L{k}: {n:.2f}" for k, n in list(vector.norms().items())[:8])
    )


def sweep_rows(
    points: list[Any], method: str = "add", strength: Strength | None = None
) -> list[dict[str, Any]]:
    """The sweep table: α (and, when the norm is known, α as a multiple of the mean residual norm), refusal
    rate, harmless KL and the start of the first completion per point."""
    return [
        {
            "α": p.alpha,
            **(
                {"× mean ‖h‖": multiple_from_alpha(p.alpha, method, strength.norm, strength.vector_norm)}
                if strength is not None
                else {}
            ),
            "refusal rate": p.refusal_rate,
            "harmless KL": p.kl,
            "first completion": p.completions[0][:120],
        }
        for p in points
    ]


def sweep_series(points: list[Any]) -> tuple[list[float], list[float], list[float]]:
    """(alphas, refusal rates, KLs) of the sweep points, for ``sweep_figure``."""
    return [p.alpha for p in points], [p.refusal_rate for p in points], [p.kl for p in points]
