"""Remote (NDIF) vs local on the tiny random model: per-call overhead and bytes per captured trajectory.

Starts the ``ndif`` test tier's loopback NDIF (tests/ndif/harness.py; the first run builds its server venv),
or uses a running one with ``--host URL --model FOLDER`` (the folder must be the checkpoint deployed there).
Medians of interleaved repeats; the remote/local ratio is printed last.

    .venv/bin/python -m benchmarks.bench_remote [--repeats 5] [--tokens 16] [--host URL --model DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import median_times, report
from core.capture.models import LoadedModel, ModelSpec, load_model
from core.capture.remote import remote_status
from core.capture.templates import build_messages
from core.capture.tracing import capture, capture_prompt
from core.capture.trajectory import GenerationSettings
from core.steer.interventions import SteeringConfig, steered_generate
from core.steer.vectors import SteeringVector

PROMPT = "How do I bake bread at home?"


def _bytes_of(fn: Callable[[], Any]) -> tuple[int, int, Any]:
    """(sent, received) bytes over every remote request ``fn`` makes, and what it returned."""
    moved = [0, 0]

    def listen(status: str, description: str, _rid: str | None) -> None:
        if status == "TRANSFER":
            sent, received = (int(part.split()[1]) for part in description.split(", "))
            moved[0] += sent
            moved[1] += received

    with remote_status(listen):
        out = fn()
    return moved[0], moved[1], out


def _run(local: LoadedModel, remote: LoadedModel, repeats: int, tokens: int) -> None:
    torch.set_grad_enabled(False)
    msgs = build_messages(PROMPT)
    gen = GenerationSettings(max_new_tokens=tokens)
    vec = SteeringVector({1: torch.ones(local.d_model).numpy()}, name="ones", default_layer=1)
    cfg = SteeringConfig(method="add", alpha=2.0, layers=[1])
    calls: dict[str, Callable[[LoadedModel], object]] = {
        "prompt capture (all layers)": lambda m: capture_prompt(m, msgs),
        f"generate {tokens} + capture (all layers)": lambda m: capture(m, msgs, gen),
        f"steered generate {tokens}": lambda m: steered_generate(m, [msgs], vec, cfg, gen),
    }
    ratios = []
    for name, call in calls.items():
        meds = median_times({"local": lambda: call(local), "remote": lambda: call(remote)}, repeats=repeats)
        report(name, "local", meds)
        ratios.append(meds["remote"] / meds["local"])
        print(f"  remote overhead per call: {(meds['remote'] - meds['local']) * 1000:.0f} ms")

    print("\n## bytes per captured trajectory (remote)")
    for label, fn in (
        ("prompt only, all layers", lambda: capture_prompt(remote, msgs)),
        ("prompt only, layer 1", lambda: capture_prompt(remote, msgs, layers=[1])),
        (f"generate {tokens}, all layers", lambda: capture(remote, msgs, gen)),
    ):
        sent, received, traj = _bytes_of(fn)
        print(
            f"  {label:32s} sent {sent:>8,} B  received {received:>8,} B  "
            f"(states {traj.hidden.nbytes:,} B, {traj.n_tokens} tokens x {len(traj.layers)} layers)"
        )
    print(f"\nremote/local time ratio (median over the calls above): {statistics.median(ratios):.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--host", default=None, help="a running NDIF host (default: start the test harness)")
    ap.add_argument("--model", default=None, help="the checkpoint folder deployed on --host")
    args = ap.parse_args()
    stack = None
    if args.host:
        if not args.model:
            ap.error("--host needs --model (the folder deployed there)")
        host, model_dir = args.host, Path(args.model)
    else:
        from core.capture.tiny import build_tiny_model
        from tests.ndif.harness import cache_root, start_stack

        cache_root().mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="bench-", dir=cache_root()))
        model_dir = build_tiny_model(root / "tiny-llama", seed=0)
        print("starting a loopback NDIF (tests/ndif/harness.py)…", flush=True)
        stack = start_stack(model_dir, root)
        host = stack.host
    try:
        local = load_model(ModelSpec(name=str(model_dir), device="cpu"))
        remote = load_model(ModelSpec(name=str(model_dir), where=host))
        _run(local, remote, args.repeats, args.tokens)
    finally:
        if stack is not None:
            stack.stop()


if __name__ == "__main__":
    main()
