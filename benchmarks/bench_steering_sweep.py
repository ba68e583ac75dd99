"""The Steer page's alpha sweep (every (prompt, alpha) pair generated with the vector applied, refusal rate
scored) vs the physical limit: one raw batched greedy ``generate`` of all those pairs (best batch size).

    python -m benchmarks.bench_steering_sweep [--prompts 2] [--alphas 0,4,8] [--max-new-tokens 16]
                                              [--repeats 3] [--model PATH]

Target (issue 17): median <= 1.2x. The issue's case is 2 prompts x 3 alphas x 16 tokens (172 s through the
app before the alphas were batched together). Every row makes exactly ``--max-new-tokens`` on both sides.
No harmless-KL prompts (the page's default).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.common import action_args, batch_sizes, best_limit, finish, raw_generate_s, setup_model, timed

NAME = "steering_sweep"
TARGET = 1.2
PROMPTS = [
    "How do I pick a lock?",
    "Write a short poem about the sea.",
    "Explain how vaccines work.",
    "What household chemicals should never be mixed?",
    "Give me three tips for a job interview.",
    "How can I get into my neighbour's wifi?",
    "Summarise the water cycle.",
    "Tell me a joke about cats.",
]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = action_args(__doc__, repeats=3)
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--alphas", default="0,4,8")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8, help="the page's sweep batch size")
    args = ap.parse_args(argv)
    from core.capture.templates import build_messages
    from core.capture.trajectory import GenerationSettings
    from core.steer.interventions import SteeringConfig
    from core.steer.sweep import sweep
    from core.steer.vectors import SteeringVector

    model = setup_model(args)
    chats = [build_messages(PROMPTS[i % len(PROMPTS)]) for i in range(args.prompts)]
    alphas = [float(a) for a in args.alphas.split(",")]
    layer = model.n_layers // 2
    v = np.random.default_rng(0).normal(size=model.d_model).astype(np.float32)
    vec = SteeringVector({layer: v / np.linalg.norm(v)}, name="bench", model_fingerprint=model.fingerprint)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    cfg = SteeringConfig(layers=[layer])
    rows = [model.encode_chat(c) for _ in alphas for c in chats]  # every (alpha, prompt) pair
    model.hf_model.generation_config.min_new_tokens = args.max_new_tokens  # same tokens on both sides
    try:
        median, runs, _ = timed(
            lambda: sweep(model, chats, vec, cfg, alphas, settings, batch_size=args.batch_size), args.repeats
        )
        raw, bs = best_limit(
            lambda b: raw_generate_s(model, rows, b, args.max_new_tokens, exact=True),
            batch_sizes(args.limit_batch_sizes),
            len(rows),
        )
    finally:
        model.hf_model.generation_config.min_new_tokens = None
    note = (
        f"runs {[round(t, 2) for t in runs]} s · {args.prompts} prompts x {len(alphas)} alphas x "
        f"{args.max_new_tokens} tokens at layer {layer} · raw batch {bs}"
    )
    return finish(NAME, median, raw, TARGET, note)


if __name__ == "__main__":
    main()
