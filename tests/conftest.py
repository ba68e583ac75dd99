"""Cross-tier fixtures: a seeded world, a private REASONSCOPE_HOME (plain, or for real job workers), a tiny
random model (fast tier) and the real default model (integration).

Tier-specific shared fixtures live in tests/unit/conftest.py and tests/app/conftest.py.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:
        pass


@pytest.fixture(autouse=True)
def _private_warm_start_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alignment runs share finished warm starts through a cache; tests must not reuse each other's (or a
    user's)."""
    monkeypatch.setenv("REASONSCOPE_WARMSTARTS", str(tmp_path_factory.mktemp("warmstarts")))


@pytest.fixture()
def rs_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private REASONSCOPE_HOME (store, DB, runs) that still reuses the shared default-model cache."""
    home = tmp_path / "rshome"
    home.mkdir()
    real_models = Path(os.environ.get("REASONSCOPE_HOME", Path.home() / ".cache" / "reasonscope")) / "models"
    (home / "models").symlink_to(real_models, target_is_directory=True) if real_models.exists() else None
    monkeypatch.setenv("REASONSCOPE_HOME", str(home))
    monkeypatch.delenv("REASONSCOPE_STORE", raising=False)
    monkeypatch.delenv("REASONSCOPE_DB", raising=False)
    return home


@pytest.fixture()
def jobs_home(rs_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``rs_home`` for tests with real job workers: a fast heartbeat, and no worker left running
    afterwards."""
    from core.jobs import JobStatus, JobStore

    monkeypatch.setenv("REASONSCOPE_JOB_HEARTBEAT", "0.5")
    yield rs_home
    for rec in JobStore().list(status=[JobStatus.RUNNING]):
        if rec.pid:
            try:
                os.kill(rec.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with a random 2-layer Llama (d_model 64) and an offline-trained BPE tokenizer."""
    from core.capture.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama", seed=0)


@pytest.fixture(scope="session")
def silent_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model broken on purpose: every answer is empty (a subject an audit must fail)."""
    from core.capture.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("silent") / "silent-llama", seed=0, silent=True)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path):
    from core.capture.models import ModelSpec, load_model

    return load_model(ModelSpec(name=str(tiny_model_dir), device="cpu"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """Repository root; AppTest needs absolute script paths: ``str(repo_root / "app/app_pages/x.py")``."""
    return REPO
