"""What the alignment runs' generation gains from prefilling the shared prompt prefix once.

``core.align.training.generate`` (audit, monitor, benign self-answers) prefills the prompt prefix every row
shares -- the system prompt and chat header -- once per call. This times it against the plain left-padded
path (the same function with the shared prefix switched off), interleaved, on validation prompts of the
corpus under the AlphaAlign template, base model (adapter disabled), and counts identical greedy answers.

    python -m benchmarks.generate_prefix_study [--n 64] [--max-new-tokens 64] [--batch-size 32] [--repeats 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from core.align import data as D
from core.align import training as T


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    T.set_threads(args.threads)
    items = D.split(D.prompt_items(D.load_rows("sample")), "validation")
    random.Random(0).shuffle(items)
    chats = [T.chat_for(it, "alphaalign") for it in items[: args.n]]
    model, tok = T.load_policy(T.resolve_source("default"))
    shared_min = T.MIN_SHARED_PREFIX
    times: dict[str, list[float]] = {"shared": [], "plain": []}
    answers: dict[str, list[list[str]]] = {}
    try:
        for _ in range(args.repeats):
            for label, minimum in (("shared", shared_min), ("plain", 10**9)):
                T.MIN_SHARED_PREFIX = minimum  # 10**9: no prefix is ever long enough -> plain left padding
                t0 = time.perf_counter()
                answers[label] = T.generate(
                    model, tok, chats, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size
                )
                times[label].append(time.perf_counter() - t0)
    finally:
        T.MIN_SHARED_PREFIX = shared_min
    same = sum(a == b for a, b in zip(answers["shared"], answers["plain"], strict=True))
    med = {k: statistics.median(v) for k, v in times.items()}
    rounded = {k: [round(t, 1) for t in v] for k, v in times.items()}
    print(f"runs: shared {rounded['shared']} s, plain {rounded['plain']} s")
    print(f"identical greedy answers: {same} of {len(chats)}")
    ratio = med["shared"] / med["plain"]
    print(f"shared prefix {med['shared']:.1f} s vs plain {med['plain']:.1f} s: ratio {ratio:.2f}")
    return {"shared_s": med["shared"], "plain_s": med["plain"], "identical": same, "n": len(chats)}


if __name__ == "__main__":
    main()
