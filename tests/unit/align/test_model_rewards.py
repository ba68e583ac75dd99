"""Model-backed rewards on the tiny random Llama: CRAFT's latent reward (a forward pass of the policy) checked
against transformers' own hidden states, and AlphaAlign's helpfulness reward from a tiny random reward
model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.align import rewards as R
from core.errors import InputError


@pytest.fixture(scope="module")
def policy(tiny_model_dir: Path):
    from core.align.training import load_policy

    return load_policy(str(tiny_model_dir))


def _reference_pooled(model, tok, prompt, completion_ids, layer):
    """Independent reference: transformers' output_hidden_states (entries < n_layers are raw layer
    outputs)."""
    import torch

    pids = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
    pids = list(pids["input_ids"] if hasattr(pids, "keys") else pids)
    ids = torch.tensor([pids + list(completion_ids)])
    with torch.no_grad():
        hs = model(input_ids=ids, output_hidden_states=True).hidden_states
    return hs[layer][0, len(pids) :].mean(0).numpy()


def test_pooled_policy_states_match_transformers(policy) -> None:
    from core.align.latent import pooled_policy_states

    model, tok = policy
    prompts = [[{"role": "user", "content": "How do I bake bread?"}], [{"role": "user", "content": "Hi"}]]
    comps = [
        tok("Mix flour and water.", add_special_tokens=False)["input_ids"],
        tok("I cannot help with that request because it could cause harm.", add_special_tokens=False)[
            "input_ids"
        ],
    ]
    got = pooled_policy_states(model, tok, prompts, comps, layer=1, pool="completion")
    for i in range(2):
        np.testing.assert_allclose(
            got[i], _reference_pooled(model, tok, prompts[i], comps[i], 1), rtol=1e-4, atol=1e-5
        )
    with pytest.raises(InputError, match="does not exist"):
        pooled_policy_states(model, tok, prompts, comps, layer=99)


def test_pooled_policy_states_keep_order_across_length_sorted_batches(policy) -> None:
    """Batches are formed by length and the forward stops at the wanted layer; rows come back in order."""
    from core.align.latent import pooled_policy_states

    model, tok = policy
    words = ["one two three four five six seven eight", "yes", "a b c d", "fine thanks", "x " * 12]
    prompts = [[{"role": "user", "content": f"Question {i}?"}] for i in range(len(words))]
    comps = [tok(w, add_special_tokens=False)["input_ids"] for w in words]
    for layer in (0, 1):  # the reference's last entry is post final-norm, so it stops at layer 1
        got = pooled_policy_states(model, tok, prompts, comps, layer=layer, pool="completion", batch_size=2)
        for i in range(len(words)):
            ref = _reference_pooled(model, tok, prompts[i], comps[i], layer)
            np.testing.assert_allclose(got[i], ref, rtol=1e-4, atol=1e-5)


def test_pooled_policy_states_report_progress_and_stop_when_cancelled(policy) -> None:
    from core.align.latent import pooled_policy_states

    model, tok = policy
    prompts = [[{"role": "user", "content": f"Question {i}?"}] for i in range(5)]
    comps = [tok(f"Answer number {i}.", add_special_tokens=False)["input_ids"] for i in range(5)]
    ticks: list[tuple[int, int]] = []
    got = pooled_policy_states(
        model,
        tok,
        prompts,
        comps,
        layer=1,
        pool="completion",
        batch_size=2,
        progress=lambda a, b: ticks.append((a, b)),
    )
    assert got is not None and got.shape[0] == 5
    assert ticks == [(2, 5), (4, 5), (5, 5)]
    calls = []

    def stop_after_first_batch() -> bool:
        calls.append(1)
        return len(calls) > 1

    assert (
        pooled_policy_states(
            model, tok, prompts, comps, layer=1, batch_size=2, should_stop=stop_after_first_batch
        )
        is None
    )
    assert len(calls) == 2  # checked before every batch, stopped before the second


def _toy_head(d: int, layer: int):
    """A real contrastive head trained on separable synthetic states (phase 1 API of core.probes)."""
    from core.probes.contrastive import ContrastiveConfig, train_contrastive

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, d)) * 3
    X = np.concatenate([centers[c] + rng.normal(size=(10, d)) for c in range(3)]).astype(np.float32)
    labels = ["safe"] * 10 + ["unsafe"] * 10 + ["rethink"] * 10
    return train_contrastive(X, labels, config=ContrastiveConfig(epochs=3, hidden=16, dim=8), layer=layer)


def test_craft_reward_components_follow_the_formulas(policy) -> None:
    from core.align.latent import CraftReward, pooled_policy_states

    model, tok = policy
    head = _toy_head(model.config.hidden_size, layer=2)
    reward = CraftReward(head, tok, pool="reasoning").bind(model)
    prompts = [[{"role": "user", "content": "How do I make a bomb?"}]] * 2 + [
        [{"role": "user", "content": "Bread?"}]
    ]
    texts = [
        "<safety_reasoning>unsafe</safety_reasoning><answer>Sorry, I can't comply.</answer>",
        "Sure, here is how.",
        "<safety_reasoning>fine</safety_reasoning><answer>Mix flour.</answer>",
    ]
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    logged: dict[str, float] = {}
    got = reward(
        texts,
        prompts=prompts,
        completion_ids=ids,
        is_harmful=[True, True, False],
        log_metric=lambda k, v: logged.__setitem__(k, v),
    )
    h = pooled_policy_states(model, tok, prompts, ids, layer=2, pool="reasoning")
    cos = head.prototype_cosines(head.embed(h))
    p_head = head.p_safe(h)
    p_text = np.array([1.0, 0.0, 1.0])  # refusal / compliance / benign (graded judge levels)
    want = (
        0.5 * (cos[:, 0] - cos[:, 1] + 0.5 * cos[:, 2])
        + 0.4 * (2 * p_text - 1)
        + 0.2 * (1 - np.abs(p_head - p_text))
    )
    assert got == pytest.approx(want.tolist(), abs=1e-6)
    for key in ("craft/R_ls", "craft/R_txt", "craft/R_cons", "craft/cos_safe", "craft/p_safe_head"):
        assert key in logged
    assert logged["craft/R_txt"] == pytest.approx(np.mean(2 * p_text - 1))
    # the optional over-refusal penalty only touches benign refusals
    pen = CraftReward(head, tok, over_refusal_penalty=1.0).bind(model)
    benign_refusal = ["<safety_reasoning>x</safety_reasoning><answer>I'm sorry, no.</answer>"]
    bid = [tok(benign_refusal[0], add_special_tokens=False)["input_ids"]]
    a = CraftReward(head, tok).bind(model)(
        benign_refusal, prompts=prompts[2:], completion_ids=bid, is_harmful=[False]
    )
    b = pen(benign_refusal, prompts=prompts[2:], completion_ids=bid, is_harmful=[False])
    assert b[0] == pytest.approx(a[0] - 1.0)


def test_craft_reward_errors(policy) -> None:
    from core.align.latent import CraftReward

    model, tok = policy
    head = _toy_head(model.config.hidden_size, layer=1)
    unbound = CraftReward(head, tok)
    with pytest.raises(R.RewardError, match="bind"):
        unbound(["x"], prompts=[[{"role": "user", "content": "x"}]], completion_ids=[[5]], is_harmful=[True])
    bad_judge = CraftReward(head, tok, text_judge=lambda texts, harmful: [float("nan")] * len(texts)).bind(
        model
    )
    with pytest.raises(R.RewardError, match="nan"):
        bad_judge(
            ["x"], prompts=[[{"role": "user", "content": "x"}]], completion_ids=[[5]], is_harmful=[True]
        )


def _tiny_rm(folder: Path, tokenizer_dir: Path, vocab: int | None = None) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(1)
    cfg = LlamaConfig(
        vocab_size=vocab or len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_labels=1,
        pad_token_id=tok.pad_token_id,
    )
    LlamaForSequenceClassification(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_helpfulness_reward_with_a_tiny_reward_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    from core.align.helpful import HelpfulnessReward

    rm_dir = _tiny_rm(tmp_path / "rm", tiny_model_dir)
    reward = HelpfulnessReward.from_path(str(rm_dir))
    prompts = [[{"role": "user", "content": "Bread?"}]] * 3 + [[{"role": "user", "content": "Bomb?"}]] * 3
    texts = [
        "Mix flour and water.",
        "I'm sorry, I can't.",
        "Bake it at 220 C for 30 minutes.",
        "Sure, steps...",
        "No.",
        "Here.",
    ]
    harmful = [False] * 3 + [True] * 3
    got = reward(texts, prompts=prompts, is_harmful=harmful)
    raw = reward.scores(["Bread?"] * 3, texts[:3])
    norm = (raw - raw.mean()) / raw.std()
    want = [max(norm[0], 0.0), 0.0, max(norm[2], 0.0), 0.0, 0.0, 0.0]  # refusal and harmful items get 0
    assert got == pytest.approx(want, abs=1e-6)


def test_reward_model_with_a_foreign_tokenizer_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    from core.align.helpful import load_reward_model

    rm_dir = _tiny_rm(
        tmp_path / "rm_small", tiny_model_dir, vocab=100
    )  # embedding smaller than the tokenizer
    with pytest.raises(InputError, match="not the tokenizer this reward model was trained with"):
        load_reward_model(str(rm_dir))
    with pytest.raises(InputError, match="no config.json"):
        load_reward_model(str(tmp_path / "nowhere"))
