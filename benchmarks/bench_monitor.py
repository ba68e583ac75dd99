"""Live-monitor overhead on the default model: generation with per-token probe scoring vs generation with
capture (the Trace page's normal run) and vs raw ``generate``. Medians of interleaved repeats, ratios in the
same run. Every variant makes exactly 64 greedy tokens (min_new_tokens pinned).

    .venv/bin/python -m benchmarks.bench_monitor [--repeats 5] [--tokens 64]
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.common import median_times, report
from core.capture.models import ModelSpec, load_model
from core.capture.templates import build_messages
from core.capture.tracing import capture
from core.capture.trajectory import GenerationSettings
from core.probes.linear import Probe
from core.steer.monitor import monitor_capture, monitor_generate

PROMPT = "Explain step by step how vaccines train the immune system."


def in_worker(fn: Callable[[], object]) -> Callable[[], object]:
    """Run ``fn`` in a fresh thread. The monitor generates in a worker thread, and on a busy machine torch's
    intra-op threading behaves very differently in the main thread (measured: 2-thread generation in the main
    thread 4-8x slower than in a worker under load), so every variant runs in the same kind of thread."""

    def run() -> object:
        box: dict[str, object] = {}
        t = threading.Thread(target=lambda: box.setdefault("r", fn()))
        t.start()
        t.join()
        return box.get("r")

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    if args.threads:
        torch.set_num_threads(args.threads)
    m = load_model(ModelSpec(name="default", device="cpu"))
    rng = np.random.default_rng(0)
    d = m.d_model
    probe = Probe(
        "logistic",
        m.n_layers // 2,
        {
            "coef": rng.normal(size=d) * 0.05,
            "intercept": np.zeros(1),
            "mean": np.zeros(d),
            "scale": np.ones(d),
        },
    )
    msgs = build_messages(PROMPT)
    settings = GenerationSettings(max_new_tokens=args.tokens)
    ids = torch.tensor([m.encode_chat(msgs)])
    m.hf_model.generation_config.min_new_tokens = args.tokens  # same length on every side
    counts: dict[str, int] = {}

    def raw() -> object:
        return m.hf_model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=args.tokens,
            do_sample=False,
            pad_token_id=m.tokenizer.pad_token_id,
        )

    def cap() -> object:
        return capture(m, msgs, settings)

    def mon() -> object:
        items = list(monitor_generate(m, msgs, probe, settings, threshold=2.0))
        counts["monitor"] = sum(1 for t in items[:-1] if t.generated)
        return items

    def mon_cap() -> object:
        items = list(monitor_capture(m, msgs, probe, settings, threshold=2.0))
        counts["monitor+capture"] = sum(1 for t in items[:-1] if t.generated)
        return items

    try:
        meds = median_times(
            {
                "capture all layers (baseline)": in_worker(cap),
                "raw generate": in_worker(raw),
                "monitor: per-token probe scores": in_worker(mon),
                "monitor + capture all layers": in_worker(mon_cap),
            },
            repeats=args.repeats,
        )
    finally:
        m.hf_model.generation_config.min_new_tokens = None
    print(
        f"tokens scored per run: {counts}  (probe at layer {probe.layer}, batch 1, {args.tokens} new tokens, "
        f"torch threads {torch.get_num_threads()})"
    )
    report(
        "per-token monitoring vs generation with capture (limit 1.15x)",
        "capture all layers (baseline)",
        meds,
        1.15,
    )
    report("the same against raw generate", "raw generate", meds)


if __name__ == "__main__":
    main()
