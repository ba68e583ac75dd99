"""Explore's first 2-D map on screen: open the stored trajectories, pool every layer, fit the quick map (PCA:
what the page shows at once while UMAP fits in the background), build the figure and serialise it (what
``st.plotly_chart`` sends), vs the physical limit: scikit-learn's PCA(2) on the same pooled points.

    python -m benchmarks.bench_explore_map [--trajectories 160] [--tokens 64] [--repeats 5] [--umap]

Target (issue 17): <= 3 s on screen for <= 5 000 points (160 trajectories x 31 layers = 4 960), absolute;
the ratio says how much of it is more than the projection itself. Synthetic trajectories of the default
model's shape (31 layers x d 576, no model needed); ``--umap`` also times the background UMAP fit.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import numpy as np

from benchmarks.common import action_args, finish, timed

NAME = "explore_first_map"
TARGET_S = 3.0


def _fill(store: Any, n: int, n_tokens: int, n_layers: int, d: int) -> None:
    from core.capture.trajectory import GenerationSettings, Trajectory, find_spans

    rng = np.random.default_rng(0)
    basis = rng.normal(size=(8, d)).astype(np.float32)
    for i in range(n):
        tokens = [f" t{j}" for j in range(n_tokens)]
        n_prompt = n_tokens // 2
        drift = np.cumsum(rng.normal(size=(n_layers, 1, 8)), axis=0) @ basis  # [L, 1, d] per-layer offset
        hidden = (drift + rng.normal(size=(n_layers, n_tokens, d))).astype(np.float32)
        traj = Trajectory(
            model_fingerprint="bench-fp",
            model_name="bench",
            messages=[{"role": "user", "content": f"prompt {i}"}],
            settings=GenerationSettings(seed=i),
            token_ids=np.arange(n_tokens, dtype=np.int64),
            tokens=tokens,
            n_prompt_tokens=n_prompt,
            completion="".join(tokens[n_prompt:]),
            spans=find_spans(tokens, n_prompt),
            hidden=hidden,
            layers=tuple(range(n_layers)),
        )
        store.put(traj, dataset="bench", label=("safe", "unsafe", "rethink")[i % 3])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = action_args(__doc__, repeats=5, model=False)
    ap.add_argument("--trajectories", type=int, default=160)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--layers", type=int, default=31, help="captured layers (the default model: 31)")
    ap.add_argument("--d", type=int, default=576, help="hidden size (the default model: 576)")
    ap.add_argument("--umap", action="store_true", help="also time the background UMAP fit")
    args = ap.parse_args(argv)
    import plotly.io as pio
    from sklearn.decomposition import PCA

    from app import charts
    from core.capture.store import ActivationStore
    from core.explore.pooling import stack_pooled
    from core.explore.projection import ProjectionConfig, ProjectionManager
    from core.explore.trajectory_sets import fit_layer_paths, load_set

    tmp = tempfile.mkdtemp(prefix="rs-bench-explore-")
    store = ActivationStore(f"{tmp}/store")
    _fill(store, args.trajectories, args.tokens, args.layers, args.d)
    counter = iter(range(10**6))
    pooling = "completion"

    def first_map() -> object:  # a new projection folder each time: nothing cached
        metas = store.query(dataset="bench", limit=100_000)
        ts = load_set(store, metas)
        pm = ProjectionManager(f"{tmp}/proj{next(counter)}")
        lp = fit_layer_paths(pm, ts, pooling, ProjectionConfig(method="pca"))
        fig = charts.layer_path_figure(lp.coords, lp.layers, ts.keys, labels=ts.labels, hover=ts.hover())
        return pio.to_json(fig, validate=False)

    first_map()  # warm-up: imports, first-call costs
    median, runs, _ = timed(first_map, args.repeats)
    ts = load_set(store, store.query(dataset="bench", limit=100_000))
    x = stack_pooled(ts.trajs, pooling, tuple(range(args.layers))).flat()[0]
    limit, _, _ = timed(lambda: PCA(2, random_state=0).fit_transform(x), args.repeats)
    note = (
        f"runs {[round(t, 2) for t in runs]} s · {x.shape[0]} points x {x.shape[1]} · "
        f"{'OK' if median <= TARGET_S else 'OVER'} the {TARGET_S:g} s on-screen target"
    )
    if args.umap:
        t0 = time.perf_counter()
        fit_layer_paths(ProjectionManager(f"{tmp}/umap"), ts, pooling, ProjectionConfig(method="umap"))
        note += f" · background UMAP fit {time.perf_counter() - t0:.1f} s (numba cache: NUMBA_CACHE_DIR)"
    return finish(NAME, median, limit, f"<= {TARGET_S:g} s on screen", note)


if __name__ == "__main__":
    from core.config import configure_numba_cache

    configure_numba_cache()
    main()
