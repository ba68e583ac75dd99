"""Benchmark helpers: medians over repeats, interleaved so machine noise hits both sides alike."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def median_times(fns: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():  # interleaved: A B A B ...
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def report(title: str, base: str, meds: dict[str, float], limit: float | None = None) -> None:
    print(f"\n## {title}")
    for name, t in meds.items():
        ratio = t / meds[base]
        flag = "" if limit is None or name == base else ("  OK" if ratio <= limit else f"  OVER {limit}x")
        print(f"  {name:40s} median {t * 1000:9.1f} ms   ratio {ratio:5.2f}x{flag}")


# ---- one benchmark per user-facing long action (issue 17) ------------------------------------------------
# Each action benchmark prints the action's median and its ratio to the *physical limit* measured in the same
# run: plain transformers (torch.inference_mode) on exactly the same tokens at the best batch size. The ratio
# line is printed last; ``main`` returns the record that run_all writes to results.json / results.md.
LIMIT_BATCH_SIZES = (8, 16, 32)


def action_args(description: str, *, repeats: int = 3, model: bool = True) -> argparse.ArgumentParser:
    """The flags every action benchmark takes (each adds its own workload flags); ``model=False`` for the
    ones that need no model."""
    ap = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=repeats, help="timed runs of the action (median)")
    if model:
        ap.add_argument(
            "--model", default="default", help="'default' or a local model folder (e.g. a tiny one)"
        )
        ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
        ap.add_argument(
            "--limit-batch-sizes",
            default=",".join(map(str, LIMIT_BATCH_SIZES)),
            help="batch sizes tried for the raw limit (the fastest counts)",
        )
    return ap


def batch_sizes(spec: str) -> tuple[int, ...]:
    return tuple(int(x) for x in spec.split(",") if x.strip())


def setup_model(args: argparse.Namespace) -> Any:
    """Load the benchmark's model (grad off, threads as asked); prints what runs where."""
    import torch

    from core.capture.models import ModelSpec, load_model

    torch.set_grad_enabled(False)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(ModelSpec(name=args.model, device="cpu"))
    print(
        f"model {model.name} ({model.n_layers} layers, d {model.d_model}) · torch threads "
        f"{torch.get_num_threads()} · load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return model


def _sorted_chunks(rows: Sequence[Sequence[int]], batch_size: int) -> list[list[list[int]]]:
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    return [[list(rows[i]) for i in order[s : s + batch_size]] for s in range(0, len(order), batch_size)]


def _left_padded(model: Any, chunk: list[list[int]]) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in chunk)
    pad = model.tokenizer.pad_token_id
    ids = torch.full((len(chunk), width), pad, dtype=torch.long)
    mask = torch.zeros((len(chunk), width), dtype=torch.long)
    for b, r in enumerate(chunk):
        ids[b, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[b, width - len(r) :] = 1
    return ids, mask


def raw_forward_s(model: Any, rows: Sequence[Sequence[int]], batch_size: int) -> float:
    """Seconds of plain ``hf_model`` forwards over ``rows`` (token ids), length-sorted, left-padded."""
    import torch

    t0 = time.perf_counter()
    with torch.inference_mode():
        for chunk in _sorted_chunks(rows, batch_size):
            ids, mask = _left_padded(model, chunk)
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            model.hf_model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
    return time.perf_counter() - t0


def raw_generate_s(
    model: Any, rows: Sequence[Sequence[int]], batch_size: int, max_new_tokens: int, *, exact: bool = False
) -> float:
    """Seconds of plain greedy ``hf_model.generate`` over ``rows`` (prompt token ids), length-sorted.
    ``exact``: every row makes exactly ``max_new_tokens`` (pin the action side the same way)."""
    import torch

    t0 = time.perf_counter()
    with torch.inference_mode():
        for chunk in _sorted_chunks(rows, batch_size):
            ids, mask = _left_padded(model, chunk)
            model.hf_model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                min_new_tokens=max_new_tokens if exact else None,
                do_sample=False,
                pad_token_id=model.tokenizer.pad_token_id,
            )
    return time.perf_counter() - t0


def best_limit(run: Callable[[int], float], sizes: Sequence[int], n_rows: int) -> tuple[float, int]:
    """(seconds, batch size) of the fastest raw pass over the candidate batch sizes (sizes above the number
    of rows collapse to one). Call it after the action ran: the model is warm by then."""
    sizes = sorted({min(b, max(1, n_rows)) for b in sizes})
    times = {b: run(b) for b in sizes}
    for b, t in times.items():
        print(f"  raw limit at batch {b:>3}: {t:8.2f} s", flush=True)
    b = min(times, key=times.__getitem__)
    return times[b], b


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, list[float], object]:
    """(median seconds, every run's seconds, the last result) of ``repeats`` runs of ``fn``."""
    times, out = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def finish(name: str, median_s: float, limit_s: float, target: float | str, note: str = "") -> dict[str, Any]:
    """Print the closing lines (the ratio LAST) and return the results.json record."""
    ratio = median_s / limit_s if limit_s > 0 else float("nan")
    ok = ""
    if isinstance(target, int | float):
        ok = "  OK" if ratio <= target else f"  OVER the {target}x target"
    if note:
        print(note)
    print(f"{name}: median {median_s:.2f} s · physical limit {limit_s:.2f} s")
    print(f"{name} ratio {ratio:.2f}x (target {target}){ok}", flush=True)
    return {
        "median_s": round(median_s, 3),
        "limit_s": round(limit_s, 3),
        "ratio": round(ratio, 3),
        "target": target,
    }
