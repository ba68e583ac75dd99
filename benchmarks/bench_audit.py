"""Audit throughput on the default model: a full scorecard (>= 150 attempts) vs raw batched HF ``generate``.

    .venv/bin/python -m benchmarks.bench_audit [--max-new-tokens 64] [--batch-size 8] [--cli]

Runs, in one process: raw ``hf_model.generate`` over exactly the prompts and batches the audit generates
(same chat template, same length-sorted order, same left padding, greedy), then ``run_audit`` + ``save_audit``
(generation, judging, statistics, JSONL and HTML), then the raw pass again; the ratio uses the mean of the two
raw passes. ``--cli`` also times ``reasonscope eval`` end to end in a fresh process (imports and model load
included) -- the "scorecard in <= 10 min on 2 CPU cores" check. Target: audit / raw <= 1.2.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--split", default="validation")
    ap.add_argument("--cli", action="store_true", help="also time `reasonscope eval` end to end")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()

    import torch

    from core.capture.models import ModelSpec, load_model
    from core.capture.templates import build_messages
    from core.evals.items import load_items, load_utility
    from core.evals.report import save_audit
    from core.evals.runner import _plan, run_audit
    from core.evals.suites import AuditOptions, Subject

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"load average before: {os.getloadavg()}  (2 cores shared with other engineers: numbers are noisy)")
    opts = AuditOptions(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    model = load_model(ModelSpec(name="default", device="cpu"))
    items, _ = load_items("sample")
    utility, _ = load_utility()
    needs, _ = _plan(SUITES, items, utility, args.split, opts)
    unique = list(dict.fromkeys(n.prompt for n in needs))
    chats = {p: build_messages(p) for p in unique}
    order = sorted(unique, key=lambda p: len(model.encode_chat(chats[p])))  # the audit's batching order
    print(
        f"{len(needs)} attempts, {len(unique)} distinct prompts, batch {args.batch_size}, "
        f"{args.max_new_tokens} new tokens"
    )

    raw1, n_tok, raw_texts = raw_generate(
        model, [chats[p] for p in order], args.batch_size, args.max_new_tokens
    )
    t0 = time.perf_counter()
    result = run_audit(
        [Subject(ModelSpec(name="default", device="cpu"))],
        SUITES,
        split=args.split,
        options=opts,
        loader=lambda spec: model,
    )
    with tempfile.TemporaryDirectory() as tmp:
        save_audit(result, Path(tmp) / "audit")
    audit_s = time.perf_counter() - t0
    raw2, _, _ = raw_generate(model, [chats[p] for p in order], args.batch_size, args.max_new_tokens)
    raw = (raw1 + raw2) / 2
    gen_s = result.meta["subjects"][0]["generation_seconds"]
    audited = {r.prompt: r.response for r in result.records}
    same = sum(audited[p] == t for p, t in zip(order, raw_texts, strict=True))
    print(f"\nraw generate      {raw1:7.1f} s / {raw2:7.1f} s  -> {n_tok / raw:6.1f} tok/s ({n_tok} tokens)")
    print(
        f"audit generation  {gen_s:7.1f} s            -> {n_tok / gen_s:6.1f} tok/s   ratio "
        f"{gen_s / raw:.2f}x"
    )
    print(
        f"audit total       {audit_s:7.1f} s (generate + judge + stats + JSONL + HTML) -> "
        f"{n_tok / audit_s:6.1f} tok/s   ratio {audit_s / raw:.2f}x  "
        f"{'OK' if audit_s / raw <= 1.2 else 'OVER 1.2x'}"
    )
    print(f"identical responses audit vs raw: {same}/{len(order)}")
    for row in result.summaries:
        print(f"  {row.title:32s} {row.rate.fmt()}")
    if args.cli:
        with tempfile.TemporaryDirectory() as tmp:
            exe = Path(sys.executable).parent / "reasonscope"
            t0 = time.perf_counter()
            proc = subprocess.run(
                [
                    str(exe),
                    "eval",
                    "--subject",
                    "default",
                    "--suite",
                    ",".join(SUITES),
                    "--split",
                    args.split,
                    "--max-new-tokens",
                    str(args.max_new_tokens),
                    "--batch-size",
                    str(args.batch_size),
                    "--device",
                    "cpu",
                    "--out",
                    tmp,
                ]
                + (["--threads", str(args.threads)] if args.threads else []),
                capture_output=True,
                text=True,
            )
            cli_s = time.perf_counter() - t0
        print(
            f"\nCLI end to end (fresh process, imports + model load + audit + report): {cli_s:.1f} s "
            f"({'OK' if cli_s <= 600 else 'OVER'} the 10 min budget), exit {proc.returncode}"
        )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
