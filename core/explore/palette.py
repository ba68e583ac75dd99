"""The one colour language of ReasonScope: every page, chart and the offline HTML report take their colours
and continuous scales from here (nothing else names a colour for safe / unsafe).

**Safe = bluish green ``#009E73``, unsafe = vermillion ``#D55E00``** (the Okabe–Ito pair). Plain red / green
(``#2ca02c`` / ``#d62728``) collapse to almost the same colour under deuteranopia (CIE76 ΔE ≈ 7 after the
Machado et al. 2009 simulation); this pair stays distinct (ΔE ≈ 53 deuteranopia, ≈ 37 protanopia;
tests/unit/explore/test_palette.py checks it). Other categories avoid both hues, so green and red never mean
anything else (subjects, spans, diffs, jobs).

Scales are explicit ``[[position, colour], ...]`` lists, never names: plotly.js and plotly.py read some names
differently (``"RdBu"`` runs blue → red in plotly.js and red → blue in plotly.py, which once painted unsafe
points blue on Explore). Kinds of score and their scales:

* ``"probability"`` -- P(unsafe) in [0, 1]: safe colour → light grey at 0.5 → unsafe colour, fixed range.
* ``"axis"`` -- a signed position on a safe → unsafe axis where 0 means "halfway": the same diverging scale,
  centred on 0, symmetric range.
* ``"magnitude"`` -- everything else (norms, cosines, layers): sequential (cividis), no centre.

Ranges (``color_range``) cover the bulk of the values exactly; values beyond Tukey's far-out fences
(3 × IQR past the quartiles, e.g. the first token's huge norm) are *outliers*: drawn at the end colour and
marked by the charts, with the true range shown next to the scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from plotly.colors import sample_colorscale, sequential

SAFE = "#009E73"  # Okabe–Ito bluish green
UNSAFE = "#D55E00"  # Okabe–Ito vermillion
RETHINK = "#E69F00"  # Okabe–Ito orange: between the two
UNLABELLED = "#9E9E9E"
NEUTRAL = "#F2F2F2"  # the centre of the safe → unsafe scale
INK = "#222222"  # outlier marks, new prompts, rules
LABEL_COLOURS = {"safe": SAFE, "unsafe": UNSAFE, "rethink": RETHINK, "unlabelled": UNLABELLED}
GROUP_COLOURS = {"harmful": UNSAFE, "benign": SAFE}  # request groups of the audits: harmful = unsafe side
# categorical colours that mean neither safe nor unsafe: subjects, probe sets, series (Okabe–Ito minus both)
SERIES_COLOURS = ("#0072B2", "#CC79A7", "#56B4E9", "#7F7F7F", "#8C564B", "#000000", "#F0E442")
SPAN_COLOURS = {"prompt": "#7F7F7F", "completion": "#0072B2", "reasoning": "#CC79A7", "answer": "#56B4E9"}
BASE_COLOUR = "#7F7F7F"  # a base model before training
TUNED_COLOUR = SERIES_COLOURS[0]
# word diff of baseline vs steered text: not red / green (those mean unsafe / safe here)
DIFF_INSERT = "rgba(86,180,233,0.45)"  # sky blue background
DIFF_DELETE = "rgba(204,121,167,0.40)"  # reddish-purple background, struck through
# st.badge colour names of job statuses (Streamlit only takes names); "red"/"green" here are job outcomes
STATUS_BADGES = {
    "queued": "gray",
    "running": "blue",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "orange",
    "lost": "violet",
}

Scale = list[list]  # [[position in 0..1, colour], ...]
SAFE_UNSAFE: Scale = [[0.0, SAFE], [0.5, NEUTRAL], [1.0, UNSAFE]]
SEQUENTIAL: Scale = [[i / (len(sequential.Cividis) - 1), c] for i, c in enumerate(sequential.Cividis)]
COUNTS: Scale = [[0.0, "#F7FBFF"], [1.0, "#08306B"]]  # confusion-matrix counts (light → dark blue)
KINDS = ("probability", "axis", "magnitude")


def scale_for(kind: str) -> Scale:
    """The colour scale of a score kind (``KINDS``)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown score kind {kind!r}; use one of {list(KINDS)}.")
    return SAFE_UNSAFE if kind in ("probability", "axis") else SEQUENTIAL


def _hex(rgb: Sequence[float]) -> str:
    vals = [float(x) for x in rgb]
    scale = 255.0 if max(vals) <= 1.0 else 1.0
    return "#" + "".join(f"{int(round(min(max(v * scale, 0), 255))):02X}" for v in vals)


def colours_at(scale: Scale, positions: Sequence[float] | np.ndarray) -> list[str]:
    """``#RRGGBB`` colours of ``scale`` at ``positions`` in [0, 1] (clipped; NaN -> the centre)."""
    pos = np.nan_to_num(np.clip(np.asarray(positions, dtype=float), 0.0, 1.0), nan=0.5)
    if pos.size == 0:
        return []
    return [_hex(c) for c in sample_colorscale(scale, list(pos), colortype="tuple")]


def colour_at(scale: Scale, value: float, lo: float = 0.0, hi: float = 1.0) -> str:
    """The colour of ``value`` on ``scale`` spanning ``[lo, hi]`` (clipped)."""
    return colours_at(scale, [(float(value) - lo) / ((hi - lo) or 1.0)])[0]


def score_colour(p_unsafe: float) -> str:
    """The colour of a probability P(unsafe): safe colour at 0, grey at 0.5, unsafe colour at 1."""
    return colour_at(SAFE_UNSAFE, p_unsafe)


def rgba(colour: str, alpha: float) -> str:
    """``#RRGGBB`` -> ``rgba(r,g,b,alpha)``."""
    h = colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def outlier_mask(values: np.ndarray) -> np.ndarray:
    """True where a value lies beyond Tukey's far-out fences (3 × IQR past the quartiles) -- e.g. the first
    token's norm, 100-1000 × the rest. Nothing is an outlier when the IQR is 0 or there are < 8 values."""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    out = np.zeros(v.shape, dtype=bool)
    if finite.size < 8:
        return out
    q1, q3 = np.percentile(finite, [25, 75])
    iqr = q3 - q1
    if iqr <= 0:
        return out
    with np.errstate(invalid="ignore"):
        return np.isfinite(v) & ((v < q1 - 3 * iqr) | (v > q3 + 3 * iqr))


@dataclass(frozen=True, kw_only=True)
class ColourRange:
    """The colour range of some scores, their true range and which ones are outliers."""

    kind: str
    lo: float  # the scale's ends
    hi: float
    true_lo: float  # the scores' real min / max (NaN when there are none)
    true_hi: float
    n_outliers: int

    @property
    def scale(self) -> Scale:
        return scale_for(self.kind)

    @property
    def clipped(self) -> bool:
        return self.true_lo < self.lo or self.true_hi > self.hi

    def position(self, values: np.ndarray) -> np.ndarray:
        """Values as positions in [0, 1] on the scale (clipped; NaN stays NaN)."""
        v = np.asarray(values, dtype=np.float64)
        return np.clip((v - self.lo) / ((self.hi - self.lo) or 1.0), 0.0, 1.0)

    def outside(self, values: np.ndarray) -> np.ndarray:
        """True where a value is beyond the scale's ends (drawn at the end colour: mark it)."""
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return np.isfinite(v) & ((v < self.lo) | (v > self.hi))

    def describe(self) -> str:
        """``"true range -495 … 3.7; 1 outlier beyond the colour range (marked)"``."""
        if not np.isfinite(self.true_lo):
            return "no finite values"
        text = f"true range {self.true_lo:.3g} … {self.true_hi:.3g}"
        if self.n_outliers:
            text += f"; {self.n_outliers} outlier{'s' if self.n_outliers > 1 else ''} beyond the colour range"
            text += " (marked)"
        return text


def color_range(scores: np.ndarray, kind: str = "magnitude") -> ColourRange:
    """The colour range of ``scores`` for a score ``kind``: probability -> [0, 1]; axis -> ±(largest |x| of
    the non-outliers), centred on 0; magnitude -> min … max of the non-outliers."""
    scale_for(kind)  # checks the kind
    v = np.asarray(scores, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        lo, hi = (-1.0, 1.0) if kind == "axis" else (0.0, 1.0)
        return ColourRange(kind=kind, lo=lo, hi=hi, true_lo=np.nan, true_hi=np.nan, n_outliers=0)
    true_lo, true_hi = float(finite.min()), float(finite.max())
    if kind == "probability":
        lo, hi = 0.0, 1.0
    else:
        bulk = finite[~outlier_mask(finite)]
        if kind == "axis":
            m = float(np.abs(bulk).max()) or 1.0
            lo, hi = -m, m
        else:
            lo, hi = float(bulk.min()), float(bulk.max())
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
    with np.errstate(invalid="ignore"):
        n_out = int(((finite < lo) | (finite > hi)).sum())
    return ColourRange(kind=kind, lo=lo, hi=hi, true_lo=true_lo, true_hi=true_hi, n_outliers=n_out)
