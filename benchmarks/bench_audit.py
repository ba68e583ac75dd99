"""The Audit page's scorecard (refusal, over-refusal, jailbreak, utility suites: generation, judging,
statistics, JSONL and HTML) vs the physical limit: raw batched greedy ``generate`` of the same distinct
prompts (length-sorted, best batch size), in the same run.

    python -m benchmarks.bench_audit [--limit N] [--max-new-tokens 64] [--batch-size 8] [--repeats 1]
                                     [--model PATH] [--check-texts] [--cli]

Target (issue 17): median <= 1.15x. ``--limit`` (items per kind) shrinks the workload to fit the 5-minute
budget; ``--check-texts`` compares the responses with raw generate at the audit's batch size; ``--cli`` also
times ``reasonscope eval`` end to end in a fresh process (the "scorecard in <= 10 min" check).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import action_args, batch_sizes, best_limit, finish, raw_generate_s, setup_model, timed

NAME = "audit"
TARGET = 1.15
SUITES = ["refusal", "over_refusal", "jailbreak", "utility"]


def raw_generate(model, chats, batch_size: int, max_new_tokens: int) -> tuple[float, int, list[str]]:
    """Seconds, generated tokens (up to and including EOS) and texts of plain batched ``generate``."""
    import torch

    from core.capture.tracing import _eos_ids, _left_pad, _trim_generated

    tok = model.tokenizer
    prompts = [model.encode_chat(c) for c in chats]
    eos = _eos_ids(model)
    n_tok, texts = 0, []
    t0 = time.perf_counter()
    with torch.no_grad():
        for s in range(0, len(prompts), batch_size):
            ids, mask = _left_pad(prompts[s : s + batch_size], tok.pad_token_id)
            torch.manual_seed(0)
            out = model.hf_model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
            )
            for row in out[:, ids.shape[1] :].tolist():
                g = _trim_generated(row, eos, tok.pad_token_id)
                n_tok += len(g)
                texts.append(tok.decode(g, skip_special_tokens=True))
    return time.perf_counter() - t0, n_tok, texts


def main(argv: list[str] | None = None) -> dict:
    ap = action_args(__doc__, repeats=1)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16, help="the audit's default batch size")
    ap.add_argument("--split", default="validation")
    ap.add_argument(
        "--limit",
        type=int,
        default=24,
        help="at most N items per item kind (the audit's --limit; 0 = all ~950 prompts: ~45 min in all)",
    )
    ap.add_argument("--check-texts", action="store_true", help="also compare responses with raw generate")
    ap.add_argument("--cli", action="store_true", help="also time `reasonscope eval` end to end")
    ap.set_defaults(limit_batch_sizes="8,16")  # each raw pass is a full scorecard's generation
    args = ap.parse_args(argv)

    from core.capture.models import ModelSpec
    from core.capture.templates import build_messages
    from core.evals.items import load_items, load_utility
    from core.evals.report import save_audit
    from core.evals.runner import _plan, run_audit
    from core.evals.suites import AuditOptions, Subject

    opts = AuditOptions(
        max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, limit=args.limit or None
    )
    model = setup_model(args)
    items, _ = load_items("sample")
    utility, _ = load_utility()
    needs, _ = _plan(SUITES, items, utility, args.split, opts)
    unique = list(dict.fromkeys(n.prompt for n in needs))
    chats = {p: build_messages(p) for p in unique}
    order = sorted(unique, key=lambda p: len(model.encode_chat(chats[p])))  # the audit's batching order
    print(
        f"{len(needs)} attempts, {len(unique)} distinct prompts, batch {args.batch_size}, "
        f"{args.max_new_tokens} new tokens",
        flush=True,
    )
    spec = ModelSpec(name=args.model, device="cpu")
    result: dict = {}

    def action() -> object:
        result["audit"] = run_audit(
            [Subject(spec)], SUITES, split=args.split, options=opts, loader=lambda _spec: model
        )
        with tempfile.TemporaryDirectory() as tmp:
            save_audit(result["audit"], Path(tmp) / "audit")
        return result["audit"]

    median, runs, _ = timed(action, args.repeats)
    audit = result["audit"]
    rows = [model.encode_chat(chats[p]) for p in order]
    raw, bs = best_limit(
        lambda b: raw_generate_s(model, rows, b, args.max_new_tokens),
        batch_sizes(args.limit_batch_sizes),
        len(rows),
    )
    gen_s = audit.meta["subjects"][0]["generation_seconds"]
    print(f"audit generation {gen_s:7.1f} s -> ratio {gen_s / raw:.2f}x of raw generate at batch {bs}")
    if args.check_texts:
        _, _, raw_texts = raw_generate(model, [chats[p] for p in order], args.batch_size, args.max_new_tokens)
        audited = {r.prompt: r.response for r in audit.records}
        pairs = [(audited[p], t) for p, t in zip(order, raw_texts, strict=True) if p in audited]
        same = sum(a == t for a, t in pairs)
        print(f"identical responses audit vs raw: {same}/{len(pairs)} (prompts with a per-attempt record)")
    for row in audit.summaries:
        print(f"  {row.title:32s} {row.rate.fmt()}")
    if args.cli:
        _time_cli(args)
    note = f"runs {[round(t, 1) for t in runs]} s (generate + judge + stats + JSONL + HTML)"
    return finish(NAME, median, raw, TARGET, note)


def _time_cli(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(sys.executable).parent / "reasonscope"
        cmd = [str(exe), "eval", "--subject", args.model, "--suite", ",".join(SUITES), "--split", args.split]
        cmd += ["--max-new-tokens", str(args.max_new_tokens), "--batch-size", str(args.batch_size)]
        cmd += ["--device", "cpu", "--out", tmp] + (["--threads", str(args.threads)] if args.threads else [])
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        cli_s = time.perf_counter() - t0
    print(
        f"CLI end to end (fresh process, imports + model load + audit + report): {cli_s:.1f} s "
        f"({'OK' if cli_s <= 600 else 'OVER'} the 10 min budget), exit {proc.returncode}"
    )


if __name__ == "__main__":
    main()
