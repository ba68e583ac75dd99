"""Hover text, messages and projected-prompt entries of the Explore page (pure: no Streamlit calls; tested in
tests/unit/app). Projected prompts are kept per fit as dicts ``{name, coords, mode[, text]}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from app import charts
from core.explore.fit_stages import stages_summary

DIFF_MEANS_CHOICE = "(difference of means of this selection)"  # the Explore axis picker's non-probe choice
BEST_LAYER = None  # the axis-layer choice meaning "the layer that separates best on held-out trajectories"


def missing_message(missing: Sequence[str]) -> str:
    """The warning for selected trajectories whose files were deleted from the store."""
    return (
        f"{len(missing)} selected trajectories were deleted from the store and are left out "
        f"({', '.join(k[:12] for k in missing[:3])}{'…' if len(missing) > 3 else ''}). "
        "Run `reasonscope store repair` to tidy the index."
    )


def token_point_text(ts: Any, tp: Any) -> list[str]:
    """Hover text of every point of a token-path map: the trajectory's header and the token in context."""
    heads = np.asarray([charts.esc_lines(h) for h in ts.hover(40)], dtype=object)
    return [
        f"{h}<br>#{int(j)}: {charts.token_context(ts.trajs[i].tokens, int(j))}"
        for h, i, j in zip(heads[tp.traj_index], tp.traj_index, tp.token_index, strict=False)
    ]


def layer_entry(prompt: str, coords: np.ndarray, mode: str) -> dict[str, Any]:
    """A new prompt projected onto a layer-path map."""
    return {"name": prompt[:60], "coords": coords, "mode": mode}


def token_entry(
    prompt: str, coords: np.ndarray, token_index: Sequence[int], tokens: Sequence[str], mode: str
) -> dict[str, Any]:
    """A new prompt projected onto a token-path map (with the hover text of its tokens)."""
    return {
        "name": prompt[:60],
        "coords": coords,
        "mode": mode,
        "text": [f"NEW #{int(j)}: {charts.token_context(tokens, int(j))}" for j in token_index],
    }


def layer_overlay(entries: Sequence[dict[str, Any]]) -> tuple[np.ndarray | None, list[str]]:
    """``layer_path_figure``'s ``new_coords`` / ``new_names``: every projected prompt."""
    return (np.stack([n["coords"] for n in entries]) if entries else None), [n["name"] for n in entries]


def token_overlay(
    entries: Sequence[dict[str, Any]], frames: slice
) -> tuple[np.ndarray | None, Sequence[str]]:
    """``token_path_figure``'s ``new_coords`` / ``new_text``: the latest projected prompt, at the drawn
    frames."""
    if not entries:
        return None, ()
    return entries[-1]["coords"][frames], entries[-1]["text"]


def projected_caption(entries: Sequence[dict[str, Any]]) -> str:
    return "★ projected new prompt(s): " + "; ".join(
        f"“{n['name']}” (placed by {n['mode']})" for n in entries
    )


def axis_labels(saved: Sequence[Any]) -> dict[str, str]:
    """The Explore axis picker: ``{choice: label}``, this model's saved probe sets best first (the default),
    then the difference of means of the selection."""
    out = {}
    for sa in saved:
        auc = f"{sa.axis.auroc:.2f}" if sa.axis.auroc is not None else "—"
        out[sa.name] = f"saved probe '{sa.name}' · layer {sa.axis.layer} · held-out AUROC {auc}"
    out[DIFF_MEANS_CHOICE] = "difference of means of this selection (per layer, cross-validated)"
    return out


def axis_layer_label(layer: int | None) -> str:
    return "best held-out layer" if layer is BEST_LAYER else str(layer)


def probe_layer_options(
    probe_layers: Sequence[int], map_layers: Sequence[int], best: int
) -> tuple[list[int], int]:
    """Layers a saved probe can colour on this map (it has a probe there and the map drew it), and the index
    pre-selected (its best layer when available)."""
    options = [x for x in probe_layers if x in set(map_layers)]
    return options, options.index(best) if best in options else max(len(options) - 1, 0)


def fit_caption(fit: Any, n_trajs: int, method: str) -> str:
    """``3 trajectories · 90 points · UMAP fitted in 9.1 s (compiling kernels 8.0 s · kNN graph 0.3 s ·
    layout 0.8 s; init spectral; cached, key …)``: where the time went, measured."""
    stages = stages_summary(fit.stage_seconds)
    return (
        f"{n_trajs} trajectories · {fit.n_points} points · {method} fitted in {fit.seconds:.1f} s "
        f"({stages + '; ' if stages else ''}init {fit.init_used}; cached, key `{fit.key[:12]}`)"
    )
