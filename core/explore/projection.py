"""Projection manager (after LIT's): fit UMAP/PCA once per key, cache on disk, transform new points.

Arrays in, arrays out; no streamlit, no torch, and ``umap`` is imported only inside a UMAP fit (its
numba start-up costs ~13 s per process).

* **Key**: a stable hash of (trajectory keys, layers, pooling, view, method, params) -- ``fit_key``.
* **Cache**: ``artefacts_dir()/projections/<key>.safetensors`` (embedding, reference points, PCA
  components) + ``<key>.json`` (params; written last, so a half-written fit is never read).
* **Reducers**: fitted UMAP objects cannot be persisted (no pickle), so they live in an in-memory LRU.
  PCA transforms are exact from disk (mean + components).
* **Cold start** (UMAP embedding on disk, no reducer in this process): ``transform`` refits UMAP on the
  stored reference points with the stored seed; a seeded fit is deterministic, so when the refit
  reproduces the cached embedding (checked) the real ``umap.transform`` is used from then on. When the
  refit is unavailable (umap missing, ``cold="knn"``) or does not reproduce the map, new points are
  placed at the inverse-distance-weighted mean of the cached embedding of their ``n_neighbors`` nearest
  reference points -- UMAP's own initialisation for transformed points, without its final optimisation.
* **Lock**: one process-wide lock around every fit/transform (umap is not thread-safe).
* **Stages** (``on_stage``, see ``core.explore.fit_stages``): the first UMAP fit of a process compiles the
  kernels on a tiny warm-up fit (its own stage), then the kNN graph, then the layout (epochs observed on
  umap's tqdm bar). Each fit's stage seconds are stored with it and estimate later fits' durations.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from safetensors.numpy import load_file
from threadpoolctl import threadpool_limits

from core.config import artefacts_dir, ensure_writable
from core.errors import InputError
from core.explore.fit_stages import COMPILE, KNN, LAYOUT, SpeedBook, StageCallback, StageReporter
from core.explore.projection_utils import knn_transform, validate_points
from core.fsio import atomic_save_tensors, atomic_write_bytes

__all__ = [
    "Fit",
    "ProjectionConfig",
    "ProjectionManager",
    "default_manager",
    "fit_key",
    "knn_transform",
    "validate_points",
]

Progress = Callable[[int, int], None]
PROGRESS_TOTAL = 100  # progress(done, PROGRESS_TOTAL): percent-like steps
PCA_INIT_ABOVE = 5000  # UMAP's spectral start fails on large real activation sets (measured-facts.md)
_LOCK = threading.Lock()  # umap is not thread-safe: one fit/transform at a time per process
_WARM: set[tuple[bool, str]] = set()  # (approximate kNN?, metric) whose kernels this process compiled
APPROX_KNN_FROM = 4096  # umap computes exact pairwise distances below this many points, NN-descent above


class ProjectionConfig(BaseModel):
    """User-facing projection parameters (the defaults are sane for 10^2..10^4 points)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    method: Literal["umap", "pca"] = "umap"
    n_components: int = Field(2, ge=2, le=3)
    n_neighbors: int = Field(15, ge=2, le=200, description="UMAP: local neighbourhood size")
    min_dist: float = Field(0.1, ge=0.0, le=1.0, description="UMAP: how tightly points pack")
    metric: Literal["euclidean", "cosine"] = "euclidean"
    init: Literal["auto", "spectral", "pca", "random"] = "auto"
    seed: int = 0
    max_points: int = Field(60_000, ge=10, description="UMAP refuses larger sets (use PCA or fewer points)")

    def init_for(self, n: int) -> str:
        if self.init != "auto":
            return self.init
        return "pca" if n > PCA_INIT_ABOVE else "spectral"


def fit_key(
    traj_keys: Sequence[str],
    *,
    layers: Sequence[int],
    pooling: str,
    config: ProjectionConfig,
    view: str = "points",
    extra: dict[str, Any] | None = None,
) -> str:
    """Stable content key of a fit (order of ``traj_keys`` matters: rows follow it)."""
    payload = json.dumps(
        {
            "trajs": list(traj_keys),
            "layers": [int(x) for x in layers],
            "pooling": pooling,
            "view": view,
            "config": config.model_dump(),
            "extra": extra or {},
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass(kw_only=True)
class Fit:
    key: str
    config: ProjectionConfig
    embedding: np.ndarray  # [n_points, n_components] float32
    reference: np.ndarray | None  # [n_points, d] the fitted points (UMAP: for cold-start transforms)
    fingerprint: str | None
    seconds: float
    init_used: str
    meta: dict[str, Any] = field(default_factory=dict)
    pca_mean: np.ndarray | None = None  # [d]
    pca_components: np.ndarray | None = None  # [n_components, d]
    created_at: float = field(default_factory=time.time)
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # caller's arrays (e.g. normalisation stats)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # UMAP: compile / knn / layout, measured

    @property
    def n_points(self) -> int:
        return int(self.embedding.shape[0])


class _PCA:
    """Exact PCA transform from stored mean/components (what sklearn's PCA.transform does, whiten=False)."""

    def __init__(self, mean: np.ndarray, components: np.ndarray) -> None:
        self.mean, self.components = mean, components

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) @ self.components.T).astype(np.float32)


class _TqdmToProgress:
    """File-like sink for umap's tqdm epoch bar (bar_format "{n}/{total}") -> progress(done, total) and the
    layout stage's epochs."""

    def __init__(self, progress: Progress | None, start: int, stages: StageReporter | None = None) -> None:
        self.progress, self.start, self.stages = progress, start, stages

    def write(self, s: str) -> int:
        m = re.search(r"(\d+)/(\d+)", s)
        if m and int(m.group(2)) > 0:
            done, total = int(m.group(1)), int(m.group(2))
            if self.progress is not None:
                self.progress(
                    self.start + int(done / total * (PROGRESS_TOTAL - 5 - self.start)), PROGRESS_TOTAL
                )
            if self.stages is not None:
                self.stages.step(done, total)
        return len(s)

    def flush(self) -> None:
        pass


class ProjectionManager:
    """Fits keyed by ``fit_key``; disk cache + in-memory reducers; thread-safe."""

    def __init__(
        self,
        root: Path | str | None = None,
        *,
        memory_fits: int = 4,
        disk_fits: int = 48,
        blas_threads: int | None = 1,
    ) -> None:
        """``blas_threads``: BLAS threads during fits (None = library default). One thread, because on a
        shared CPU multithreaded BLAS oversubscribes: sklearn PCA of 20 000 × 576 took 10.2 s with 2
        OpenBLAS threads vs 0.34 s with 1 on this project's 2-core machine under load."""
        self.root = Path(root) if root is not None else artefacts_dir() / "projections"
        self.memory_fits, self.disk_fits, self.blas_threads = memory_fits, disk_fits, blas_threads
        self._mem: OrderedDict[str, tuple[Fit, Any]] = OrderedDict()  # key -> (fit, reducer)
        self._mem_lock = threading.Lock()
        self.speeds = SpeedBook()  # measured stage seconds: expected durations of later fits
        self._seeded = False

    lock = _LOCK  # exposed for tests and for callers that drive umap directly

    # ---- cache --------------------------------------------------------------------------------
    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.safetensors", self.root / f"{key}.json"

    def _remember(self, fit: Fit, reducer: Any) -> None:
        with self._mem_lock:
            self._mem[fit.key] = (fit, reducer)
            self._mem.move_to_end(fit.key)
            while len(self._mem) > self.memory_fits:
                self._mem.popitem(last=False)

    def _reducer(self, key: str) -> Any:
        with self._mem_lock:
            hit = self._mem.get(key)
            return hit[1] if hit else None

    def get(self, key: str) -> Fit | None:
        """A cached fit (memory, then disk) or None."""
        with self._mem_lock:
            if key in self._mem:
                self._mem.move_to_end(key)
                return self._mem[key][0]
        arr_path, json_path = self._paths(key)
        if not (json_path.is_file() and arr_path.is_file()):
            return None
        try:
            params = json.loads(json_path.read_text())
            arrays = load_file(arr_path)
        except (OSError, ValueError):
            return None  # unreadable cache entry: treat as a miss, the next fit overwrites it
        try:
            os.utime(json_path)  # LRU order for pruning
        except OSError:
            pass
        fit = Fit(
            key=key,
            config=ProjectionConfig(**params["config"]),
            embedding=arrays["embedding"],
            reference=arrays.get("reference"),
            fingerprint=params.get("fingerprint"),
            seconds=params["seconds"],
            init_used=params["init_used"],
            meta=params.get("meta", {}),
            pca_mean=arrays.get("pca_mean"),
            pca_components=arrays.get("pca_components"),
            created_at=params.get("created_at", 0.0),
            extras={k[6:]: v for k, v in arrays.items() if k.startswith("extra.")},
            stage_seconds=dict(params.get("stage_seconds") or {}),  # absent in fits cached before stages
        )
        # UMAP: no reducer in this process yet (see the cold-start note at the top)
        self._remember(
            fit, _PCA(fit.pca_mean, fit.pca_components) if fit.pca_components is not None else None
        )
        return fit

    def _save(self, fit: Fit) -> None:
        ensure_writable(self.root)
        arr_path, json_path = self._paths(fit.key)
        arrays = {"embedding": np.ascontiguousarray(fit.embedding)}
        for name in ("reference", "pca_mean", "pca_components"):
            if getattr(fit, name) is not None:
                arrays[name] = np.ascontiguousarray(getattr(fit, name), dtype=np.float32)
        for name, arr in fit.extras.items():
            arrays[f"extra.{name}"] = np.ascontiguousarray(arr)
        atomic_save_tensors(arr_path, arrays, what="cache the projection")
        params = {
            "config": fit.config.model_dump(),
            "fingerprint": fit.fingerprint,
            "seconds": fit.seconds,
            "init_used": fit.init_used,
            "meta": fit.meta,
            "created_at": fit.created_at,
            "n_points": fit.n_points,
            "stage_seconds": fit.stage_seconds,
        }
        # the JSON is the commit marker
        atomic_write_bytes(json_path, json.dumps(params).encode(), what="cache the projection")
        self._prune()

    def _prune(self) -> None:
        entries = sorted(self.root.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in entries[: max(0, len(entries) - self.disk_fits)]:
            old.unlink(missing_ok=True)
            old.with_suffix(".safetensors").unlink(missing_ok=True)

    def _seed_speeds(self) -> None:
        """Stage seconds of the fits in the disk cache (once per manager): estimates survive restarts."""
        if self._seeded:
            return
        self._seeded = True
        rows = []
        for p in sorted(self.root.glob("*.json"), key=lambda q: q.stat().st_mtime)[-self.disk_fits :]:
            try:
                params = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            if params.get("stage_seconds") and params.get("n_points"):
                rows.append((params["stage_seconds"], int(params["n_points"])))
        self.speeds.seed(rows)

    # ---- fit ----------------------------------------------------------------------------------
    def fit(
        self,
        x: np.ndarray,
        *,
        key: str,
        config: ProjectionConfig,
        fingerprints: Sequence[str] | None = None,
        row_names: Sequence[str] | None = None,
        meta: dict[str, Any] | None = None,
        progress: Progress | None = None,
        extras: dict[str, np.ndarray] | None = None,
        on_stage: StageCallback | None = None,
    ) -> Fit:
        """Fit (or return the cached fit for ``key``). ``x``: ``[n_points, d]``; ``extras`` are arrays
        stored with the fit (e.g. the normalisation the caller applied, to apply it again to new points).
        ``on_stage`` receives the UMAP stages (``core.explore.fit_stages.FitStage``) as they happen."""
        cached = self.get(key)
        if cached is not None:
            if progress:
                progress(PROGRESS_TOTAL, PROGRESS_TOTAL)
            return cached
        x = validate_points(x, config, fingerprints=fingerprints, row_names=row_names)
        fp = fingerprints[0] if fingerprints is not None and len(fingerprints) else None
        if progress:
            progress(2, PROGRESS_TOTAL)
        t0 = time.perf_counter()
        # only umap needs the lock (not thread-safe): a PCA map is never queued behind a running UMAP fit,
        # which is what lets the page show PCA at once while UMAP fits in the background
        umap_fit = config.method == "umap"
        with self.lock if umap_fit else nullcontext(), self._blas() if umap_fit else nullcontext():
            cached = self.get(key)  # another thread may have fitted the same key while we waited
            if cached is not None:
                return cached
            stage_seconds: dict[str, float] = {}
            if config.method == "pca":
                emb, reducer, init = *self._fit_pca(x, config), "svd"
            else:
                emb, reducer, init, stage_seconds = self._fit_umap(x, config, progress, on_stage)
        fit = Fit(
            key=key,
            config=config,
            embedding=emb,
            reference=x if config.method == "umap" else None,
            fingerprint=fp,
            seconds=time.perf_counter() - t0,
            init_used=init,
            meta=meta or {},
            extras=dict(extras or {}),
            stage_seconds=stage_seconds,
        )
        if config.method == "pca":
            fit.pca_mean, fit.pca_components = reducer.mean, reducer.components
        try:
            self._save(fit)
        except OSError:  # read-only or full disk: the map still works, it is just not cached across restarts
            pass
        self._remember(fit, reducer)
        if progress:
            progress(PROGRESS_TOTAL, PROGRESS_TOTAL)
        return fit

    def fit_shared(
        self,
        x_layers: np.ndarray,
        *,
        key: str,
        config: ProjectionConfig,
        fingerprints: Sequence[str] | None = None,
        row_names: Sequence[str] | None = None,
        meta: dict[str, Any] | None = None,
        progress: Progress | None = None,
        extras: dict[str, np.ndarray] | None = None,
        on_stage: StageCallback | None = None,
    ) -> tuple[Fit, np.ndarray]:
        """One fit on every layer's points (``x_layers [n_layers, n, d]``), returned sliced per layer
        ``[n_layers, n, n_components]`` -- the same map for every frame of a layer animation."""
        nl, n, d = x_layers.shape
        names = list(row_names) * nl if row_names is not None else None
        fps = list(fingerprints) * nl if fingerprints is not None else None
        fit = self.fit(
            x_layers.reshape(nl * n, d),
            key=key,
            config=config,
            fingerprints=fps,
            row_names=names,
            meta=meta,
            progress=progress,
            extras=extras,
            on_stage=on_stage,
        )
        return fit, fit.embedding.reshape(nl, n, -1)

    def _blas(self) -> Any:
        if self.blas_threads is None:
            return nullcontext()
        return threadpool_limits(limits=self.blas_threads, user_api="blas")

    @staticmethod
    def _fit_pca(x: np.ndarray, config: ProjectionConfig) -> tuple[np.ndarray, _PCA]:
        from sklearn.decomposition import PCA

        k = min(config.n_components, x.shape[1])
        pca = PCA(n_components=k, random_state=config.seed).fit(x)
        reducer = _PCA(pca.mean_.astype(np.float32), pca.components_.astype(np.float32))
        emb = reducer.transform(x)
        if k < config.n_components:  # d < n_components: pad so callers always get n_components columns
            emb = np.pad(emb, ((0, 0), (0, config.n_components - k)))
        return emb, reducer

    @staticmethod
    def _umap(
        config: ProjectionConfig, n: int, progress: Progress | None, stages: StageReporter | None = None
    ) -> Any:
        cls = _staged_umap_class()
        tqdm_kwds: dict[str, Any] = {"disable": True}
        if progress is not None or stages is not None:
            tqdm_kwds = {
                "disable": False,
                "file": _TqdmToProgress(progress, 30, stages),
                "bar_format": "{n}/{total}",
                "mininterval": 0.2,
            }
        reducer = cls(
            n_components=config.n_components,
            n_neighbors=config.n_neighbors,
            min_dist=config.min_dist,
            metric=config.metric,
            init=config.init_for(n),
            random_state=config.seed,
            tqdm_kwds=tqdm_kwds,
        )
        if stages is not None:
            reducer.on_layout = lambda: stages.start(LAYOUT)
        return reducer

    def _fit_umap(
        self,
        x: np.ndarray,
        config: ProjectionConfig,
        progress: Progress | None,
        on_stage: StageCallback | None = None,
    ) -> tuple[np.ndarray, Any, str, dict[str, float]]:
        """Embedding, reducer, init used, and the measured seconds of each stage."""
        self._seed_speeds()
        n = x.shape[0]
        warm_key = (n >= APPROX_KNN_FROM, config.metric)
        stages = StageReporter(
            on_stage, ([] if warm_key in _WARM else [COMPILE]) + [KNN, LAYOUT], n, self.speeds
        )
        if warm_key not in _WARM:
            stages.start(COMPILE)
            _warm_up(config, approximate=warm_key[0])
            _WARM.add(warm_key)
        reducer = self._umap(config, n, progress, stages)
        if progress:
            progress(5, PROGRESS_TOTAL)
        stages.start(KNN)
        with (
            warnings.catch_warnings()
        ):  # "n_jobs overridden by random_state": seeded runs are single-threaded
            warnings.filterwarnings("ignore", message=".*n_jobs.*")
            emb = reducer.fit_transform(x).astype(np.float32)
        reducer.on_layout = None
        return emb, reducer, config.init_for(n), stages.record()

    # ---- transform ----------------------------------------------------------------------------
    def transform(
        self,
        fit: Fit,
        x_new: np.ndarray,
        *,
        fingerprint: str | None = None,
        cold: Literal["refit", "knn"] = "refit",
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Coordinates of new points in ``fit``'s map, ``[n_new, n_components]``."""
        return self.transform_with_mode(fit, x_new, fingerprint=fingerprint, cold=cold, progress=progress)[0]

    def transform_with_mode(
        self,
        fit: Fit,
        x_new: np.ndarray,
        *,
        fingerprint: str | None = None,
        cold: Literal["refit", "knn"] = "refit",
        progress: Progress | None = None,
    ) -> tuple[np.ndarray, str]:
        """Like ``transform``; also says how: "pca", "umap", "umap-refit" (cold start) or "knn"."""
        d = (
            fit.reference.shape[1]
            if fit.reference is not None
            else (fit.pca_components.shape[1] if fit.pca_components is not None else None)
        )
        x_new = validate_points(x_new, None, d=d)
        if fingerprint is not None and fit.fingerprint is not None and fingerprint != fit.fingerprint:
            raise InputError(
                f"This map was fitted on model {fit.fingerprint[:12]} but the new trajectory comes "
                f"from model {fingerprint[:12]}: switch the active model or pick another map."
            )
        reducer = self._reducer(fit.key)
        mode = "pca" if fit.config.method == "pca" else "umap"
        if reducer is None and fit.pca_components is not None:
            reducer = _PCA(fit.pca_mean, fit.pca_components)
        if reducer is None:
            if fit.reference is None:
                raise InputError("This cached map has no reference points to place new ones; fit it again.")
            reducer = self._refit(fit, progress) if cold == "refit" else None
            if reducer is None:
                return knn_transform(
                    fit.reference, fit.embedding, x_new, fit.config.n_neighbors, fit.config.metric
                ), "knn"
            mode = "umap-refit"
        with self.lock if mode != "pca" else nullcontext():  # PCA is plain numpy: no lock needed
            with self._blas():
                out = reducer.transform(x_new)
        out = np.asarray(out, dtype=np.float32)
        if out.shape[1] < fit.config.n_components:
            out = np.pad(out, ((0, 0), (0, fit.config.n_components - out.shape[1])))
        return out, mode

    def _refit(self, fit: Fit, progress: Progress | None) -> Any:
        """Deterministic refit on the stored reference; None if umap is missing or the map differs."""
        try:
            with self.lock, self._blas():
                emb, reducer, _, _ = self._fit_umap(fit.reference, fit.config, progress)
        except InputError:
            return None
        scale = float(np.ptp(fit.embedding)) or 1.0
        if emb.shape != fit.embedding.shape or float(np.abs(emb - fit.embedding).max()) > 1e-3 * scale:
            return None
        self._remember(fit, reducer)
        return reducer


_UMAP_CLASS: Any = None


def _staged_umap_class() -> Any:
    """``umap.UMAP`` whose ``on_layout()`` hook runs when the kNN graph is built and the layout starts
    (umap documents ``_fit_embed_data`` as the method subclasses replace). The numbers are umap's own."""
    global _UMAP_CLASS
    if _UMAP_CLASS is None:
        try:
            import umap
        except ImportError as exc:
            raise InputError("UMAP is not installed here (pip install umap-learn); use PCA.") from exc

        _enable_kernel_cache()

        class StagedUMAP(umap.UMAP):  # type: ignore[misc]
            on_layout: Callable[[], None] | None = None

            def _fit_embed_data(self, X: Any, n_epochs: Any, init: Any, random_state: Any, **kw: Any) -> Any:
                if self.on_layout is not None:
                    self.on_layout()
                return super()._fit_embed_data(X, n_epochs, init, random_state, **kw)

        _UMAP_CLASS = StagedUMAP
    return _UMAP_CLASS


# umap-learn compiles most kernels without ``cache=True`` (pynndescent caches its own); these modules' numba
# dispatchers get numba's on-disk cache switched on when NUMBA_CACHE_DIR is set (``configure_numba_cache``)
_KERNEL_MODULES = (
    "umap.umap_",
    "umap.layouts",
    "umap.utils",
    "umap.distances",
    "umap.spectral",
    "umap.sparse",
)


def _enable_kernel_cache() -> int:
    """Switch on numba's on-disk cache for umap's kernels (the dispatchers' own ``enable_caching``, what
    ``cache=True`` does), so a new process loads compiled kernels instead of compiling them again (≈13 s).
    Only when the entry point set ``NUMBA_CACHE_DIR``: otherwise numba would write next to site-packages.
    Returns how many dispatchers were switched."""
    if not os.environ.get("NUMBA_CACHE_DIR"):
        return 0
    seen: set[int] = set()
    for name in _KERNEL_MODULES:
        module = sys.modules.get(name)
        for obj in vars(module).values() if module is not None else ():
            # a numba Dispatcher (duck-typed: numba is only ever imported by umap) still without a cache
            is_dispatcher = hasattr(obj, "enable_caching") and hasattr(obj, "py_func")
            uncached = is_dispatcher and type(getattr(obj, "_cache", None)).__name__ == "NullCache"
            if uncached and id(obj) not in seen:
                seen.add(id(obj))
                obj.enable_caching()
    return len(seen)


def _warm_up(config: ProjectionConfig, *, approximate: bool) -> None:
    """A tiny seeded fit that makes numba compile the kernels the real fit will use (~8 s once per process
    here), so compilation is its own stage instead of hiding inside the kNN graph and the layout."""
    cls = _staged_umap_class()
    pts = np.random.default_rng(0).normal(size=(48, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        cls(
            n_components=config.n_components,
            n_neighbors=5,
            metric=config.metric,
            n_epochs=5,
            init="random",
            random_state=0,
            force_approximation_algorithm=approximate,
        ).fit_transform(pts)


_MANAGERS: dict[Path, ProjectionManager] = {}
_MANAGERS_LOCK = threading.Lock()


def default_manager() -> ProjectionManager:
    """One manager per cache folder per process (so fitted UMAP reducers survive app reruns)."""
    root = artefacts_dir() / "projections"
    with _MANAGERS_LOCK:
        if root not in _MANAGERS:
            _MANAGERS[root] = ProjectionManager(root)
        return _MANAGERS[root]
