"""numba's on-disk kernel cache under REASONSCOPE_HOME: set by entry points, never at import time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.config import configure_numba_cache, numba_cache_dir

ROOT = Path(__file__).resolve().parents[3]


def test_configure_sets_the_folder_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REASONSCOPE_HOME", str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    got = configure_numba_cache()
    assert got == numba_cache_dir() == tmp_path / "numba-cache"
    assert got.is_dir() and os.environ["NUMBA_CACHE_DIR"] == str(got)


def test_a_user_setting_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REASONSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert configure_numba_cache() == tmp_path / "mine"
    assert not (tmp_path / "home").exists()


def test_importing_library_modules_does_not_set_it(tmp_path: Path) -> None:
    code = "import os, core.config, core.explore.projection; print(os.environ.get('NUMBA_CACHE_DIR'))"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["REASONSCOPE_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"


@pytest.mark.slow
def test_umap_kernels_land_in_the_cache(tmp_path: Path) -> None:
    """A fit in a process that configured the cache writes umap's compiled kernels (index files) there."""
    code = textwrap.dedent(
        """
        import numpy as np
        from core.config import configure_numba_cache
        configure_numba_cache()
        from core.explore.projection import ProjectionConfig, ProjectionManager
        x = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
        ProjectionManager("PROJ").fit(x, key="k", config=ProjectionConfig(method="umap", n_neighbors=5))
        """
    ).replace("PROJ", str(tmp_path / "proj"))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | {
        "REASONSCOPE_HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    cached = [p.name for p in (tmp_path / "numba-cache").rglob("*.nbi")]
    assert any(name.startswith("layouts.") for name in cached), cached  # umap's own layout kernel
    assert any(name.startswith("umap_.") for name in cached), cached
