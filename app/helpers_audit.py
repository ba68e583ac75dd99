"""Checks and text of the Audit page (pure: no Streamlit calls; tested in tests/unit/app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


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
