"""Run every user-facing action benchmark (issue 17), one after another, each in a fresh process, and write
the table: ``benchmarks/results.md`` and ``benchmarks/results.json`` (``{"NAME": {"median_s", "limit_s",
"ratio", "target"}}``). ``make bench`` runs this; ``--all`` also runs the older component benchmarks (printed
only).

    python -m benchmarks.run_all [--model PATH] [--out DIR] [--only NAME,NAME] [--all]
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import platform
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from core.config import configure_numba_cache

# (module, one-line description) of each user-facing long action
ACTIONS = [
    ("bench_probe_training", "Probe training on the sample data (capture + fit)"),
    ("bench_demo_load", "Home: load the 48 demo trajectories"),
    ("bench_audit", "Audit scorecard (generation + judging + report)"),
    ("bench_steering_sweep", "Steer: α sweep, 2 prompts × 3 α × 16 tokens"),
    ("bench_explore_map", "Explore: first 2-D map of 4 960 points (PCA at once)"),
    ("bench_craft_capture", "CRAFT phase 1: capture of the train traces"),
    ("bench_umap_fit", "Explore: background UMAP fit of 20 000 points"),
]
NO_MODEL = {"bench_explore_map", "bench_umap_fit"}  # synthetic points: no --model flag
COMPONENTS = ["bench_capture", "bench_explorer", "bench_monitor", "bench_jobs_latency"]
KEYS = ("median_s", "limit_s", "ratio", "target")


def write_table(results: dict[str, dict[str, Any]], out: Path, header: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({k: {f: v.get(f) for f in KEYS} for k, v in results.items()}, indent=2) + "\n"
    )
    desc = {importlib.import_module(f"benchmarks.{m}").NAME: d for m, d in ACTIONS}
    lines = [
        "# Benchmarks of the user-facing long actions",
        "",
        header,
        "",
        "Ratio = the action's median / the physical limit measured in the same run (plain transformers "
        "under `torch.inference_mode` on exactly the same tokens, best batch size; for the Explore map, "
        "scikit-learn's PCA on the same points). Regenerate with `make bench`; each benchmark also runs "
        "alone as `python -m benchmarks.bench_NAME` (see its `--help` for the workload flags).",
        "",
        "| action | benchmark | median (s) | limit (s) | ratio | target | status |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {desc.get(name, name)} | `{name}` | – | – | – | – | failed: {r['error']} |")
            continue
        target = r["target"]
        ok = r["ratio"] <= target if isinstance(target, int | float) else r["median_s"] <= 3.0
        shown = f"≤ {target}×" if isinstance(target, int | float) else str(target)
        lines.append(
            f"| {desc.get(name, name)} | `{name}` | {r['median_s']:.2f} | {r['limit_s']:.2f} | "
            f"{r['ratio']:.2f}× | {shown} | {'met' if ok else 'not met'} |"
        )
    (out / "results.md").write_text("\n".join(lines) + "\n")


def _bench_main(module: str, argv: list[str]) -> dict[str, Any]:
    configure_numba_cache()
    return importlib.import_module(f"benchmarks.{module}").main(argv)


def _run_alone(module: str, argv: list[str]) -> dict[str, Any]:
    """One benchmark in a fresh process, as ``python -m benchmarks.NAME`` runs it: what an earlier benchmark
    left behind (a second model in RAM, BLAS threads still spinning after a probe fit) must not slow the next
    one (measured: the demo load 1.28x after the probe benchmark in one process, 0.98x alone)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(_bench_main, module, argv).result()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="default", help="'default' or a local model folder")
    ap.add_argument("--out", default=str(Path(__file__).parent), help="folder for results.md / results.json")
    ap.add_argument("--only", default="", help="comma-separated benchmark names (e.g. demo_load,audit)")
    ap.add_argument("--all", action="store_true", help="also run the component benchmarks (printed only)")
    args = ap.parse_args(argv)
    configure_numba_cache()
    only = {x.strip().removeprefix("bench_") for x in args.only.split(",") if x.strip()}
    results: dict[str, dict[str, Any]] = {}
    previous = Path(args.out) / "results.json"
    if only and previous.is_file():  # a partial run updates its rows and keeps the others' last numbers
        results = {k: v for k, v in json.loads(previous.read_text()).items() if isinstance(v, dict)}
    t_all = time.perf_counter()
    for module, _ in ACTIONS:
        mod = importlib.import_module(f"benchmarks.{module}")
        if only and not only & {mod.NAME, module.removeprefix("bench_")}:
            continue
        print(f"\n==================== {module} ====================", flush=True)
        bench_argv = [] if module in NO_MODEL else ["--model", args.model]
        t0 = time.perf_counter()
        try:
            results[mod.NAME] = _run_alone(module, bench_argv)
        except Exception as exc:  # noqa: BLE001 - one failing benchmark must not lose the others' numbers
            traceback.print_exc()
            results[mod.NAME] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        print(f"({module} took {time.perf_counter() - t0:.0f} s in all)", flush=True)
    header = (
        f"Run on {time.strftime('%Y-%m-%d %H:%M')} · {platform.machine()} · {os.cpu_count()} CPU cores · "
        f"model `{args.model}` · load average at the end {os.getloadavg()[0]:.2f} · "
        f"{time.perf_counter() - t_all:.0f} s in all"
        + (f" (this run: {', '.join(sorted(only))}; other rows: the previous run)" if only else "")
    )
    write_table(results, Path(args.out), header)
    print(f"\nwrote {Path(args.out) / 'results.md'} and results.json")
    if args.all:
        for module in COMPONENTS:
            print(f"\n==================== {module} ====================", flush=True)
            sys.argv = [module]  # the component benchmarks parse sys.argv
            importlib.import_module(f"benchmarks.{module}").main()


if __name__ == "__main__":
    main()
