"""Labels, defaults and small parsers of the Trace page (pure: no Streamlit calls; tested in
tests/unit/app)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.paths import check_key

SCORE_NAMES = {
    "norm": "Norm of the state",
    "centroid_cosine": "Cosine to a reference set's centroid",
    "direction": "Position on the safe → unsafe axis",
}
SCORE_LABELS = {
    "norm": "norm",
    "centroid_cosine": "cosine to centroid",
    "direction": "safe → unsafe axis (−1 = safe mean, +1 = unsafe mean)",
}
STORE_AXIS_CHOICE = "(difference of means of stored trajectories)"  # Trace's non-probe axis choice
ALL_STORED = "(all stored)"  # the reference-set choice meaning every stored trajectory


def completion_text(traj: Any) -> str:
    """The completion as shown: its text, or what it is when there is nothing readable."""
    if traj.completion.strip():
        return traj.completion
    return (
        "*(only whitespace or special tokens)*" if traj.n_tokens > traj.n_prompt_tokens else "*(prompt only)*"
    )


def key_from_query(value: Any) -> str | None:
    """The store key named by the URL's ``?key=`` (None when absent); ``UnsafePathError`` (an InputError
    saying what a key looks like) for anything but a content hash, so no URL reaches the filesystem raw."""
    if value is None or value == "":
        return None
    return check_key(value, "The trajectory key in the URL (?key=)")


def default_layer(layers: Sequence[int]) -> int:
    """The layer shown first: two thirds of the way up (where safety directions tend to be clearest)."""
    return layers[len(layers) * 2 // 3]


def reference_dataset(choice: str) -> str | None:
    """The store dataset a reference-set choice means (None = every stored trajectory)."""
    return None if choice == ALL_STORED else choice


def parse_tags(text: str) -> tuple[str, ...]:
    """``"a, b ,, c"`` -> ``("a", "b", "c")``."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


def option_index(options: Sequence[Any], value: Any) -> int:
    """Index of ``value`` among ``options`` (0 when it is not there)."""
    return list(options).index(value) if value in options else 0


def trace_axis_labels(saved: Sequence[Any]) -> dict[str, str]:
    """The Trace axis picker: ``{choice: label}``, this model's saved probe sets best first (the default),
    then the difference of means of the stored labelled trajectories."""
    out = {}
    for sa in saved:
        auc = f"{sa.axis.auroc:.2f}" if sa.axis.auroc is not None else "—"
        out[sa.name] = f"saved probe '{sa.name}' (P(unsafe)) · best layer {sa.axis.layer} · AUROC {auc}"
    out[STORE_AXIS_CHOICE] = "difference of means of the stored safe / unsafe trajectories"
    return out
