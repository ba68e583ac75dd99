"""Explorer speed: figure redraws once a fit exists, and a 20 000 × 576 UMAP fit through ProjectionManager
vs plain umap-learn on the same data (medians, ratios in the same run).

    .venv/bin/python -m benchmarks.bench_explorer [--repeats 5] [--umap-repeats 3] [--skip-umap]

Redraw = build the go.Figure + serialise it to JSON (what st.plotly_chart sends); budget 0.3 s for
200 trajectories × 96 tokens. Numba compilation is warmed up before any UMAP is timed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import plotly.io as pio

from app import charts
from benchmarks.common import median_times, report

N_TRAJ, N_TOK, N_LAYERS, D = 200, 96, 31, 576


def _redraw_cases() -> dict[str, object]:
    rng = np.random.default_rng(0)
    keys = [f"{i:032x}" for i in range(N_TRAJ)]
    labels = [("safe", "unsafe", "rethink", None)[i % 4] for i in range(N_TRAJ)]
    hover = [f"prompt {i} about <something>\n→ completion {i}" for i in range(N_TRAJ)]
    lp2 = np.cumsum(rng.normal(size=(N_TRAJ, N_LAYERS, 2)), axis=1).astype(np.float32)
    lp3 = np.cumsum(rng.normal(size=(N_TRAJ, N_LAYERS, 3)), axis=1).astype(np.float32)
    n_pts = N_TRAJ * N_TOK
    frames = 8
    tp = rng.normal(size=(frames, n_pts, 2)).astype(np.float32)
    traj_index = np.repeat(np.arange(N_TRAJ), N_TOK)
    tokens = [f" tok{j}" for j in range(N_TOK)]
    point_text = [charts.token_context(tokens, j) for _ in range(N_TRAJ) for j in range(N_TOK)]
    scores = rng.random((N_LAYERS, N_TOK)).astype(np.float32)
    spans = [("prompt", 0, 40), ("completion", 40, 96), ("reasoning", 42, 70), ("answer", 72, 95)]
    layers = list(range(N_LAYERS))
    sel = list(range(0, N_LAYERS, 4))[:frames]

    def ser(fig):  # st.plotly_chart serialises the figure to JSON
        return pio.to_json(fig, validate=False)

    return {
        "layer paths 2-D, colour=label": lambda: ser(
            charts.layer_path_figure(lp2, layers, keys, labels=labels, hover=hover)
        ),
        "layer paths 2-D, colour=layer": lambda: ser(
            charts.layer_path_figure(lp2, layers, keys, labels=labels, hover=hover, color_by="layer")
        ),
        "layer paths 3-D, colour=score": lambda: ser(
            charts.layer_path_figure(
                lp3, layers, keys, hover=hover, color_by="score", scores=rng.random(N_TRAJ)
            )
        ),
        "token paths at one layer (19 200 pts)": lambda: ser(
            charts.token_path_figure(
                tp[:1], [sel[0]], traj_index, keys, point_text, labels=labels, animate=False
            )
        ),
        f"token paths, {frames}-frame animation": lambda: ser(
            charts.token_path_figure(tp, sel, traj_index, keys, point_text, labels=labels, animate=True)
        ),
        "heatmap 31 × 96 + coloured tokens": lambda: (
            ser(charts.token_layer_heatmap(scores, tokens, layers, spans)),
            charts.token_html(tokens, scores[10], spans=spans),
        ),
    }


def bench_redraws(repeats: int) -> None:
    cases = _redraw_cases()
    meds = median_times(cases, repeats=repeats, warmup=1)
    print(f"\n## Redraw (figure build + JSON), {N_TRAJ} trajectories × {N_TOK} tokens, medians of {repeats}")
    for name, t in meds.items():
        print(f"  {name:42s} median {t * 1000:8.1f} ms   {'OK' if t <= 0.3 else 'OVER'} (budget 300 ms)")


def _data(n: int = 20_000, d: int = D, seed: int = 0) -> np.ndarray:
    """Activation-like data: 8 clusters on a 40-dim subspace + isotropic noise, with a large common offset."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(40, d))
    centres = rng.normal(scale=4.0, size=(8, 40))
    z = centres[rng.integers(0, 8, n)] + rng.normal(size=(n, 40))
    return (z @ basis + rng.normal(scale=0.5, size=(n, d)) + 10.0).astype(np.float32)


def bench_umap(repeats: int) -> None:
    import umap

    from core.explore.projection import ProjectionConfig, ProjectionManager

    x = _data()
    t0 = time.perf_counter()
    umap.UMAP(random_state=0).fit_transform(x[:300])  # numba compile, paid once per process
    print(f"\n## UMAP 20 000 × {D} (numba warm-up {time.perf_counter() - t0:.1f} s, not counted)")
    cfg = ProjectionConfig(method="umap", seed=0)  # init auto -> "pca" above 5 000 points
    tmp = tempfile.mkdtemp(prefix="rs-bench-proj-")
    pm = ProjectionManager(tmp)
    counter = iter(range(10**6))
    ticks: list[int] = []

    def manager() -> None:  # a new key each time: a real fit, with progress, saved to disk
        pm.fit(x, key=f"bench{next(counter)}", config=cfg, progress=lambda a, b: ticks.append(a))

    def plain_1blas() -> None:  # the same call under the BLAS limit the manager applies (fairness check)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            umap.UMAP(random_state=0, init="pca").fit_transform(x)

    fns = {
        "plain UMAP(random_state=0, init='pca')": lambda: umap.UMAP(random_state=0, init="pca").fit_transform(
            x
        ),
        "ProjectionManager (umap, seed 0, pca init)": manager,
        "plain, same params, BLAS 1 thread": plain_1blas,
        "plain umap.UMAP().fit_transform (defaults)": lambda: umap.UMAP().fit_transform(x),
    }
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    meds = {k: statistics.median(v) for k, v in times.items()}
    same, ours, same_1, defaults = fns
    report(
        "UMAP fit 20 000 × 576, same data and parameters (budget 1.1×)",
        same,
        {same: meds[same], ours: meds[ours]},
        limit=1.1,
    )
    for other in (same_1, defaults):
        print(
            f"  {other:42s} median {meds[other] * 1000:9.1f} ms   manager / this = "
            f"{meds[ours] / meds[other]:.2f}x"
        )
    print(f"  progress callbacks per manager fit: {len(ticks) // repeats}")
    fit = pm.get("bench0")
    new = _data(n=1000, seed=1)
    for label in ("first call", "second call"):
        t = time.perf_counter()
        pm.transform(fit, new)
        print(f"  transform 1 000 new points ({label}): {time.perf_counter() - t:.2f} s")
    from sklearn.decomposition import PCA

    pca = ProjectionConfig(method="pca")
    meds = median_times(
        {
            "plain sklearn PCA(2).fit_transform": lambda: PCA(2, random_state=0).fit_transform(x),
            "ProjectionManager (pca)": lambda: pm.fit(x, key=f"pca{next(counter)}", config=pca),
        },
        repeats=3,
        warmup=0,
    )
    report("PCA 20 000 × 576 (the instant option)", "plain sklearn PCA(2).fit_transform", meds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--umap-repeats", type=int, default=3)
    ap.add_argument("--skip-umap", action="store_true")
    args = ap.parse_args()
    bench_redraws(args.repeats)
    if not args.skip_umap:
        bench_umap(args.umap_repeats)


if __name__ == "__main__":
    main()
