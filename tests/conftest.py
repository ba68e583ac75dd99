"""Cross-tier fixtures: a seeded world, a private REASONSCOPE_HOME (plain, or for real job workers), a tiny
random model (fast tier), the real default model (integration) and a throw-away PostgreSQL server
(``postgres_url``, tier ``postgres``; started by tests/services.py on first use).

Tier-specific shared fixtures live in tests/unit/conftest.py and tests/app/conftest.py.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.services import TIER_SKIP_MARK, PostgresCluster, ServiceUnavailable, tier_skip

REPO = Path(__file__).resolve().parents[1]
PG_ENV = "REASONSCOPE_TEST_PG"  # a developer's own server: used as is, no cluster is started


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """pytest reports a skip raised by a fixture at each test's own location, so a tier whose server could
    not start would fill ``-ra`` with one identical line per test; pointing them all at the harness folds
    them into one ``SKIPPED [N] tests/services.py: <tier> tier not started: <why>`` line."""
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        reason = str(report.longrepr[2])
        if TIER_SKIP_MARK in reason:
            report.longrepr = (str(REPO / "tests" / "services.py"), None, reason)
    return report


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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL database for the ``postgres`` tier: ``$REASONSCOPE_TEST_PG`` when set,
    else a throw-away cluster (Unix socket only) started once per session and stopped at its end, pass or
    fail. Where none can be started every test using it skips with the one reason (``-ra`` shows it)."""
    override = os.environ.get(PG_ENV)
    if override:
        yield override
        return
    try:
        cluster = PostgresCluster.start()
    except ServiceUnavailable as exc:
        tier_skip("PostgreSQL", exc)
    try:
        yield cluster.url
    finally:
        cluster.stop()
