"""The last-prompt-token states of the audit's representation diff equal transformers' own forward
(``output_hidden_states``, one prompt at a time, no padding), in the caller's order, whatever the batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.align.evaluate import prompt_states

CHATS = [
    [{"role": "user", "content": text}]
    for text in ("hi", "a much longer request with many more words than the others in it", "medium one here")
]


def test_prompt_states_match_the_plain_forward_in_order(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.pad_token = tok.pad_token or tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    got = prompt_states(model, tok, CHATS, batch_size=2)  # rows 0 and 2 batch together after sorting
    n_layers = model.config.num_hidden_layers
    assert got.shape == (3, n_layers + 1, model.config.hidden_size)
    for i, chat in enumerate(CHATS):
        ids = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_tensors="pt")
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        with torch.no_grad():
            hs = model(input_ids=ids, output_hidden_states=True).hidden_states
        # hidden_states: embeddings, then each layer's output (the last one after the final norm)
        for layer in range(n_layers):
            np.testing.assert_allclose(got[i, layer], hs[layer][0, -1].numpy(), rtol=1e-4, atol=1e-4)


def test_prompt_states_with_a_shared_system_prompt_match_each_prompt_alone(tiny_model_dir: Path) -> None:
    """A system prompt every chat shares is run once and its cache copied into the batch: each row's states
    must still be the plain forward of that chat alone."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.capture.shared_prefix import MIN_SHARED_PREFIX, common_prefix_length

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.pad_token = tok.pad_token or tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    system = {"role": "system", "content": "You are a careful assistant who reasons about safety first."}
    chats = [[system, *chat] for chat in CHATS]
    rows = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats]
    assert (
        common_prefix_length([tok(r, add_special_tokens=False)["input_ids"] for r in rows])
        >= MIN_SHARED_PREFIX
    )
    got = prompt_states(model, tok, chats, batch_size=3)
    for i, chat in enumerate(chats):
        ids = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_tensors="pt")
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        with torch.no_grad():
            hs = model(input_ids=ids, output_hidden_states=True).hidden_states
        for layer in range(model.config.num_hidden_layers):
            np.testing.assert_allclose(got[i, layer], hs[layer][0, -1].numpy(), rtol=1e-4, atol=1e-4)
