"""Capture overhead on the default model vs raw transformers (one run, medians, ratios).

.venv/bin/python -m benchmarks.bench_capture [--repeats 5]
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import median_times, report
from core.capture.models import ModelSpec, load_model
from core.capture.templates import build_messages
from core.capture.tracing import _left_pad, capture_batch, trace_hidden
from core.capture.trajectory import GenerationSettings

PROMPTS = [
    "Explain how vaccines train the immune system.",
    "Write a haiku about autumn leaves.",
    "What are the main causes of inflation?",
    "How do I sort a list of dictionaries in Python by a key?",
    "Describe the water cycle for a ten-year-old.",
    "Give three tips for a job interview.",
    "Why is the sky blue?",
    "Summarise the plot of Romeo and Juliet in two sentences.",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    m = load_model(ModelSpec(name="default", device="cpu"))
    layers = tuple(range(m.n_layers + 1))

    for bs in (1, 16):
        chats = [build_messages(PROMPTS[i % len(PROMPTS)]) for i in range(bs)]
        ids, mask = _left_pad([m.encode_chat(c) for c in chats], m.tokenizer.pad_token_id)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        meds = median_times(
            {
                "raw forward output_hidden_states": lambda: m.hf_model(
                    input_ids=ids, attention_mask=mask, position_ids=pos, output_hidden_states=True
                ),
                "reasonscope prompt capture (all 31)": lambda: trace_hidden(m, ids, mask, layers),
                "reasonscope capture_batch(generate=False)": lambda: list(
                    capture_batch(m, chats, batch_size=bs, generate=False)
                ),
            },
            repeats=args.repeats,
        )
        report(
            f"prompt-only capture, batch {bs} (limit 1.10x)", "raw forward output_hidden_states", meds, 1.10
        )

    for bs in (1, 8):
        chats = [build_messages(PROMPTS[i % len(PROMPTS)]) for i in range(bs)]
        ids, mask = _left_pad([m.encode_chat(c) for c in chats], m.tokenizer.pad_token_id)
        settings = GenerationSettings(max_new_tokens=64)

        def raw() -> object:
            return m.hf_model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=64,
                min_new_tokens=64,
                do_sample=False,
                pad_token_id=m.tokenizer.pad_token_id,
            )

        def ours() -> object:
            # min_new_tokens pinned through the generation config so both sides make exactly 64 tokens
            m.hf_model.generation_config.min_new_tokens = 64
            try:
                return list(capture_batch(m, chats, settings, batch_size=bs))
            finally:
                m.hf_model.generation_config.min_new_tokens = None

        meds = median_times(
            {"raw generate 64 tok": raw, "reasonscope generate + capture all layers": ours},
            repeats=max(3, args.repeats // 2),
        )
        report(
            f"generation with all-layer capture, batch {bs} (limit 1.15x)", "raw generate 64 tok", meds, 1.15
        )


if __name__ == "__main__":
    main()
