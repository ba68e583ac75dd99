"""Provenance of a result: the versions of the packages that shape its numbers, Python, platform, git commit.

Plain standard library, so any layer can stamp what it writes (audits in ``core.evals``, alignment runs).
"""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = (
    "reasonscope",
    "torch",
    "transformers",
    "nnsight",
    "peft",
    "numpy",
    "scipy",
    "scikit-learn",
    "safetensors",
    "plotly",
    "pydantic",
)
REPO = Path(__file__).resolve().parents[1]


def package_versions() -> dict[str, str | None]:
    """Versions of the packages that shape an audit's numbers, plus Python, platform and git commit."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    out["platform"] = platform.platform()
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5)
        out["git_commit"] = r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = None
    return out
