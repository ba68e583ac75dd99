"""Which trajectories a click on an Explore map selected (decoding plotly's selection points; pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def selected_keys(points: Iterable[Mapping[str, Any]], keys: Sequence[str]) -> list[str]:
    """Trajectory keys of the clicked points, in click order.

    Layer-path maps carry the key itself as ``customdata``; token-path maps carry the trajectory's index into
    ``keys`` (``-1`` in the gaps between paths). Plotly may wrap ``customdata`` in a one-element list. Points
    without a usable key (gaps, the projected new prompt, out-of-range indices) are dropped.
    """
    out = []
    for pt in points:
        k = pt.get("customdata")
        k = k[0] if isinstance(k, list) else k
        if isinstance(k, int | float) and 0 <= k < len(keys):
            k = keys[int(k)]
        if isinstance(k, str) and k:
            out.append(k)
    return out
