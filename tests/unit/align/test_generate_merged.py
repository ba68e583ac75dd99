"""``training.generate`` folds the LoRA adapter into the weights while it generates (``merged_lora``) and
sorts prompts by length: the reference is the same model computing unmerged (peft's own forward) one prompt
at a time, and the base weights must come back bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.align.training import (
    MIN_SHARED_PREFIX,
    common_prefix_length,
    generate,
    lora_config,
    lora_layers,
    merged_lora,
)

CHATS = [
    [{"role": "user", "content": "a much longer prompt with many words in it so that it needs left padding"}],
    [{"role": "user", "content": "hi"}],
    [{"role": "user", "content": "tell me about the weather today please"}],
]


@pytest.fixture()
def lora_model(tiny_model_dir: Path):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.pad_token = tok.pad_token or tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    n = model.config.num_hidden_layers
    cfg = lora_config(4, 8, 0.0, ["q_proj", "v_proj", "down_proj"], first_layer=0, n_layers=n)
    cfg.init_lora_weights = False  # random B: the adapter changes the function, so equality means something
    return get_peft_model(model, cfg), tok


def _base_weights(model) -> list[torch.Tensor]:
    return [m.get_base_layer().weight.detach().clone() for m in lora_layers(model)]


def test_merged_forward_equals_peft_forward_and_weights_come_back_exactly(lora_model) -> None:
    model, _tok = lora_model
    model.eval()
    ids = torch.randint(0, model.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(input_ids=ids).logits
        with model.disable_adapter():
            base = model(input_ids=ids).logits
    assert (ref - base).abs().max() > 1e-3  # the adapter matters
    before = _base_weights(model)
    with merged_lora(model) as merged, torch.no_grad():
        assert merged
        got = model(input_ids=ids).logits
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    for a, b in zip(before, _base_weights(model), strict=True):
        assert torch.equal(a, b)
    with torch.no_grad():  # and the adapter is live again, unmerged
        torch.testing.assert_close(model(input_ids=ids).logits, ref, rtol=0, atol=0)


def test_disabled_adapter_is_not_merged(lora_model) -> None:
    model, _tok = lora_model
    with model.disable_adapter(), merged_lora(model) as merged:
        assert not merged
        assert not any(m.merged for m in lora_layers(model))


def test_plain_model_is_left_alone(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    with merged_lora(model) as merged:
        assert not merged


def _one_at_a_time(model, tok, chats, max_new_tokens: int) -> list[list[str]]:
    """The reference: peft's own (unmerged) generate, batch 1, no padding, no shared prefix."""
    out = []
    model.eval()
    for chat in chats:
        text = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        enc = tok(text, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            ids = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
            )
        out.append([tok.decode(ids[0, enc["input_ids"].shape[1] :], skip_special_tokens=True).strip()])
    return out


def test_generate_sorted_and_merged_matches_one_prompt_at_a_time(lora_model) -> None:
    model, tok = lora_model
    got = generate(model, tok, CHATS, max_new_tokens=6, batch_size=2)
    assert got == _one_at_a_time(model, tok, CHATS, 6)
    with model.disable_adapter():  # the base model answers differently: the adapter was on above
        assert generate(model, tok, CHATS, max_new_tokens=6, batch_size=2) != got


def test_generate_stopped_early_returns_the_answered_prefix(lora_model) -> None:
    model, tok = lora_model
    chats = [CHATS[1], CHATS[2], CHATS[0]]  # shortest first: the first batch of 2 is the given order's prefix
    calls = iter([False, True])
    out = generate(model, tok, chats, max_new_tokens=3, batch_size=2, should_stop=lambda: next(calls))
    assert out == generate(model, tok, chats[:2], max_new_tokens=3, batch_size=2)


def test_common_prefix_leaves_every_row_a_token_of_its_own() -> None:
    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 3, 9, 9], [1, 2, 3, 4]]) == 3
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2  # identical rows: the last token stays new
    assert common_prefix_length([[5, 1], [6, 1]]) == 0
    assert common_prefix_length([]) == 0


def test_shared_prefix_is_used_and_changes_nothing(lora_model) -> None:
    model, tok = lora_model
    system = {"role": "system", "content": "You are a careful assistant who thinks about safety first."}
    chats = [[system, *c] for c in CHATS]
    texts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats]
    rows = tok(texts, add_special_tokens=False)["input_ids"]
    assert common_prefix_length(rows) >= MIN_SHARED_PREFIX  # the shared path really runs below
    got = generate(model, tok, chats, max_new_tokens=6, batch_size=3)
    assert got == _one_at_a_time(model, tok, chats, 6)
