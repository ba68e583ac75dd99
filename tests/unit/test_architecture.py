"""Architecture rules enforced by tests (as SAELens does with its linter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _imported_after(stmt: str) -> set[str]:
    code = f"import sys; {stmt}; print(','.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    return set(out.stdout.strip().split(","))


def test_records_and_analysis_modules_import_without_torch():
    mods = _imported_after("import core.config, core.capture.trajectory, core.capture.export, core.capture.store, core.jsonl, core.capture.templates")
    heavy = {"torch", "transformers", "nnsight", "umap", "trl", "streamlit"} & mods
    assert not heavy, f"imported heavy packages at import time: {heavy}"


def test_core_never_imports_streamlit():
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "core").rglob("*.py")
                 if any(line.lstrip().startswith(("import streamlit", "from streamlit"))
                        for line in p.read_text().splitlines())]
    assert offenders == []


def test_no_nnsight_blocks_in_pages():
    for page in (REPO / "app").rglob("*.py"):
        text = page.read_text()
        assert ".trace(" not in text and ".generate(" not in text, f"{page}: keep nnsight blocks in core/"


def test_ruff_banned_api_and_import_contracts():
    """streamlit/pickle banned in core (ruff TID251) and core -> app/streamlit forbidden (import-linter)."""
    bin_dir = Path(sys.executable).parent
    ruff = subprocess.run([str(bin_dir / "ruff"), "check", "--select", "TID251", "core"], capture_output=True,
                          text=True, cwd=REPO)
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    lint = subprocess.run([str(bin_dir / "lint-imports")], capture_output=True, text=True, cwd=REPO)
    assert lint.returncode == 0, lint.stdout[-2000:] + lint.stderr[-2000:]


def test_whole_codebase_passes_the_configured_ruff_rules():
    """All of pyproject's ruff rules (pyflakes, bugbear, isort, pyupgrade, banned APIs) over every package."""
    ruff = subprocess.run([str(Path(sys.executable).parent / "ruff"), "check", "core", "app", "tests", "benchmarks"],
                          capture_output=True, text=True, cwd=REPO)
    assert ruff.returncode == 0, ruff.stdout[-3000:] + ruff.stderr
