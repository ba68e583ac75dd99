"""Home's "Load demo trajectories": generate + capture every layer + store, for the demo prompts, vs the
physical limit: raw batched greedy ``generate`` of the same prompts (best batch size).

    python -m benchmarks.bench_demo_load [--n 48] [--max-new-tokens 24] [--batch-size B] [--repeats 3]
                                         [--model PATH]

Target (issue 17): median <= 1.2x raw generate. Every row makes exactly ``--max-new-tokens`` on both sides
(min_new_tokens pinned), so both sides produce the same number of tokens. Also prints the bytes written to
the store per trajectory and the generated tokens/s of both sides.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import action_args, batch_sizes, best_limit, finish, raw_generate_s, setup_model, timed

NAME = "demo_load"
TARGET = 1.2


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = action_args(__doc__, repeats=3)
    ap.add_argument("--n", type=int, default=48, help="demo prompts (the Home page loads 48)")
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--batch-size", type=int, default=None, help="capture batch (default: Home's DEMO_BATCH)")
    args = ap.parse_args(argv)
    from app.home_widgets import DEMO_BATCH
    from core.capture.store import ActivationStore
    from core.capture.templates import build_messages
    from core.samples.demo import demo_items, seed_demo_store

    batch = args.batch_size or DEMO_BATCH
    model = setup_model(args)
    rows = [model.encode_chat(build_messages(it["prompt"])) for it in demo_items(args.n)]
    written: list[int] = []

    def action() -> object:
        with tempfile.TemporaryDirectory(prefix="rs-bench-demo-") as tmp:
            keys = seed_demo_store(
                model,
                ActivationStore(tmp),
                n=args.n,
                max_new_tokens=args.max_new_tokens,
                batch_size=batch,
            )
            written.append(sum(p.stat().st_size for p in (Path(tmp) / "objects").rglob("*.safetensors")))
        return keys

    model.hf_model.generation_config.min_new_tokens = args.max_new_tokens  # same token count on both sides
    try:
        median, runs, keys = timed(action, args.repeats)
        raw, bs = best_limit(
            lambda b: raw_generate_s(model, rows, b, args.max_new_tokens, exact=True),
            batch_sizes(args.limit_batch_sizes),
            len(rows),
        )
    finally:
        model.hf_model.generation_config.min_new_tokens = None
    n_gen = len(rows) * args.max_new_tokens
    note = (
        f"runs {[round(t, 1) for t in runs]} s · {len(keys)} trajectories at batch {batch} · "
        f"{written[-1] / len(keys) / 1e6:.2f} MB written per trajectory · action "
        f"{n_gen / median:.1f} generated tok/s · raw {n_gen / raw:.1f} tok/s at batch {bs}"
    )
    return finish(NAME, median, raw, TARGET, note)


if __name__ == "__main__":
    main()
