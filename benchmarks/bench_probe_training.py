"""Probe training end to end (capture + fit) on the sample data, as the Probes page runs it, vs the physical
limit: a raw batched forward of exactly the same tokens (best batch size) + the same fit.

    python -m benchmarks.bench_probe_training [--items 600] [--repeats 1] [--model PATH]

Target (issue 17): median <= 1.3x (raw forward + fit). The feature cache is off, so every run captures.
Prints the validation AUROC at the best layer too (issue 17: unchanged within +-0.005).
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import action_args, batch_sizes, best_limit, finish, raw_forward_s, setup_model, timed

NAME = "probe_training"
TARGET = 1.3


def _subset(items: list[Any], n: int | None) -> list[Any]:
    """Every k-th item (keeps both labels and both splits in proportion)."""
    if not n or n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = action_args(__doc__, repeats=1)
    ap.add_argument(
        "--items",
        type=int,
        default=600,
        help="use this many of the picked items, every k-th (0 = all 2 595 corpus items: ~22 min in all)",
    )
    ap.add_argument("--batch-size", type=int, default=8, help="the page's capture batch size")
    args = ap.parse_args(argv)
    from core.probes.collect import _forced_ids
    from core.probes.features import load_items
    from core.probes.workflow import ProbeRequest, features_for, pick_items, train_from_features

    model = setup_model(args)
    name, all_items = load_items()
    req = ProbeRequest()  # the page's defaults: logistic, post-instruction, every layer
    items = _subset(pick_items(all_items, req), args.items)
    print(f"{len(items)} items ({name}), {req.method} probe, positions {req.positions}", flush=True)
    fit_times: list[float] = []
    result: dict[str, Any] = {}

    def action() -> object:
        import time

        fs = features_for(model, items, name, req, batch_size=args.batch_size, cache=False)
        t0 = time.perf_counter()
        ps = train_from_features(fs, req)
        fit_times.append(time.perf_counter() - t0)
        result["ps"] = ps
        return ps

    median, runs, _ = timed(action, args.repeats)
    rows = [_forced_ids(model, it, req.template, req.system)[1] for it in items]
    n_tok = sum(len(r) for r in rows)
    raw, bs = best_limit(
        lambda b: raw_forward_s(model, rows, b), batch_sizes(args.limit_batch_sizes), len(rows)
    )
    fit = sorted(fit_times)[len(fit_times) // 2]
    ps = result["ps"]
    best = ps.metrics[ps.best_layer]
    auroc = (best.heldout or {}).get("auroc", float("nan"))
    note = (
        f"runs {[round(t, 1) for t in runs]} s · {n_tok} tokens · raw forward {raw:.2f} s at batch {bs} "
        f"({n_tok / raw:.0f} tok/s) + fit {fit:.2f} s · best layer {ps.best_layer}, validation AUROC "
        f"{auroc:.4f}"
    )
    return finish(NAME, median, raw + fit, TARGET, note) | {"auroc": round(float(auroc), 4)}


if __name__ == "__main__":
    main()
