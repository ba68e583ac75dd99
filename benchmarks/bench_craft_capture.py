"""CRAFT phase 1's capture: the train split's labelled response traces teacher-forced through the policy and
pooled at the head's layer (``core.align.latent.pooled_policy_states``, what ``craft.build_head`` runs),
vs the physical limit: a raw batched forward of exactly the same tokens (best batch size).

    python -m benchmarks.bench_craft_capture [--items 160] [--repeats 1] [--layer -1] [--model PATH]

The capture stops each forward at the head's layer (nothing above it, no LM head), so it can beat a full
forward: a ratio below 1 is expected. Target: <= 1.0x.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from benchmarks.common import action_args, batch_sizes, best_limit, finish, raw_forward_s, setup_model, timed

NAME = "craft_phase1_capture"
TARGET = 1.0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = action_args(__doc__, repeats=1)
    ap.add_argument("--items", type=int, default=160, help="use the first N traces (0 = all 420)")
    ap.add_argument(
        "--layer", type=int, default=-1, help="head layer (-1 = 2/3 of the depth, CRAFT's default)"
    )
    ap.add_argument("--pool", default="reasoning", choices=["reasoning", "completion", "mean_all"])
    ap.set_defaults(limit_batch_sizes="8,16")
    args = ap.parse_args(argv)
    from core.align.craft import _traces
    from core.align.data import load_rows
    from core.align.latent import pooled_policy_states, prompt_token_ids

    model = setup_model(args)
    tok = model.tokenizer
    st = SimpleNamespace(rows=load_rows(None), cfg=SimpleNamespace(template="plain"), tokenizer=tok)
    chats, ids, labels = _traces(st)
    if args.items:
        chats, ids, labels = chats[: args.items], ids[: args.items], labels[: args.items]
    layer = args.layer if args.layer >= 0 else max(1, round(2 * model.n_layers / 3))
    policy = model.hf_model

    def action() -> object:
        return pooled_policy_states(policy, tok, chats, ids, layer=layer, pool=args.pool)

    median, runs, x = timed(action, args.repeats)
    rows = [prompt_token_ids(tok, c) + list(i) for c, i in zip(chats, ids, strict=True)]
    raw, bs = best_limit(
        lambda b: raw_forward_s(model, rows, b), batch_sizes(args.limit_batch_sizes), len(rows)
    )
    note = (
        f"runs {[round(t, 2) for t in runs]} s · {len(rows)} traces, {sum(map(len, rows))} tokens, layer "
        f"{layer} ({args.pool} pooling) -> {x.shape} · raw full forward at batch {bs}"
    )
    return finish(NAME, median, raw, TARGET, note)


if __name__ == "__main__":
    main()
