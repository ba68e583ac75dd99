"""The verdict SFT over a cached frozen prefix computes the same loss as the plain model (transformers' own
``labels=`` loss is the reference), trains only the upper layers, and refuses bad settings with the fix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from core.align import prefix_sft as P
from core.align.training import lora_config
from core.errors import InputError

PAIRS = [
    ([{"role": "user", "content": "hello there, how are you today"}], "Sure! I am fine, thanks."),
    (
        [{"role": "user", "content": "a much longer prompt with many words in it to test right padding"}],
        "No.",
    ),
    ([{"role": "user", "content": "tell me"}], "I can't help with that request, sorry."),
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
    cfg = lora_config(4, 8, 0.0, ["q_proj", "v_proj", "down_proj"], first_layer=1, n_layers=n)
    cfg.init_lora_weights = False  # random B: the adapter changes the function, so equality means something
    return get_peft_model(model, cfg), tok


def _hf_reference_loss(model, enc: list[P.EncodedPair], pad_id: int) -> torch.Tensor:
    ids, att = P._batch(enc, pad_id, "cpu")
    labels = ids.clone()
    for i, p in enumerate(enc):
        labels[i, : p.n_prompt] = -100
        labels[i, len(p.ids) :] = -100
    return model(input_ids=ids, attention_mask=att, labels=labels).loss


def test_cached_prefix_loss_equals_transformers_loss(lora_model) -> None:
    model, tok = lora_model
    enc = P.encode_pairs(tok, PAIRS)
    states = P.prefix_states(model, enc, 1, pad_id=tok.pad_token_id)
    cached = P.suffix_loss(model, states, enc, 1, pad_id=tok.pad_token_id)
    ref = _hf_reference_loss(model, enc, tok.pad_token_id)
    assert abs(float(cached) - float(ref)) <= 1e-4
    # the weighted verdict loss: the cached and the plain path agree too
    kw = {"pad_id": tok.pad_token_id, "verdict_tokens": 2, "verdict_weight": 3.0}
    a = P.suffix_loss(model, states, enc, 1, **kw)
    b = P.full_loss(model, enc, **kw)
    assert abs(float(a) - float(b)) <= 1e-4


def test_gradients_of_both_paths_agree(lora_model) -> None:
    model, tok = lora_model
    enc = P.encode_pairs(tok, PAIRS)
    states = P.prefix_states(model, enc, 1, pad_id=tok.pad_token_id)
    params = [p for p in model.parameters() if p.requires_grad]
    g1 = torch.autograd.grad(P.suffix_loss(model, states, enc, 1, pad_id=tok.pad_token_id), params)
    g2 = torch.autograd.grad(_hf_reference_loss(model, enc, tok.pad_token_id), params)
    for x, y in zip(g1, g2, strict=True):
        assert torch.allclose(x, y, atol=1e-5, rtol=1e-4)


def test_only_upper_layers_carry_adapters_and_training_lowers_the_loss(lora_model) -> None:
    model, tok = lora_model
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(".layers.0." not in n for n in names)
    settings = P.PrefixSFTSettings(first_layer=1, epochs=40, lr=3e-2, batch_size=3, seed=0)
    res = P.train_prefix_sft(model, tok, PAIRS, settings)
    assert res["cached"] and res["steps"] == 40
    assert res["losses"][-1] < 0.95 * res["losses"][0]  # a random tiny model learns slowly


def test_bad_settings_name_the_fix(lora_model) -> None:
    model, tok = lora_model
    with pytest.raises(InputError, match="epochs"):
        P.PrefixSFTSettings(first_layer=1, epochs=float("nan"))
    with pytest.raises(InputError, match="outside"):
        P.train_prefix_sft(model, tok, PAIRS, P.PrefixSFTSettings(first_layer=99))
    with pytest.raises(InputError, match="no training pairs"):
        P.train_prefix_sft(model, tok, [], P.PrefixSFTSettings(first_layer=1))
    with pytest.raises(InputError, match="lora_first_layer"):
        lora_config(4, 8, 0.0, ["q_proj"], first_layer=5, n_layers=2)


@pytest.mark.parametrize(
    ("target", "offset_fn", "verdict"),
    [
        ("<safety_reasoning>The request is harmful: it hurts.</safety_reasoning>", "alphaalign", "harmful"),
        ("<safety_reasoning>The request is safe: fine.</safety_reasoning>", "alphaalign", "safe"),
        ("This request is harmful. The user wants a lock picked.", "rational", "harmful"),
    ],
)
def test_verdict_start_is_the_verdict_word_not_the_token_after_it(
    lora_model, target: str, offset_fn: str, verdict: str
) -> None:
    # A lead ending in a space ("The request is ") tokenizes alone with a trailing-space token; counting
    # those tokens pointed one past the verdict, at the ":" every target shares (the weight taught nothing)
    from core.align.data import alphaalign_verdict_offset
    from core.align.rational import rational_verdict_offset

    _, tok = lora_model
    fn = alphaalign_verdict_offset if offset_fn == "alphaalign" else rational_verdict_offset
    (enc,) = P.encode_pairs(tok, [([{"role": "user", "content": "q"}], target)], verdict_offset=fn)
    first = tok.decode([enc.ids[enc.n_prompt + enc.verdict_start]]).strip()
    assert first and verdict.startswith(first), (first, verdict)


SYSTEM = {
    "role": "system",
    "content": "You are a careful assistant. Think about safety, then answer briefly.",
}
SHARED_PAIRS = [([SYSTEM, *chat], target) for chat, target in PAIRS]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_shared_prompt_prefix_gives_the_same_loss_and_gradients(tiny_model_dir: Path, attn: str) -> None:
    """Running the system prompt once per step (batch 1) and letting every example attend to its keys and
    values is the plain forward, reordered: transformers' own ``labels=`` loss and its gradients agree."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.pad_token = tok.pad_token or tok.eos_token
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation=attn)
    n = base.config.num_hidden_layers
    cfg = lora_config(4, 8, 0.0, ["q_proj", "v_proj", "down_proj"], first_layer=1, n_layers=n)
    cfg.init_lora_weights = False
    model = get_peft_model(base, cfg)
    assert P.supports_shared_prefix(model)
    enc = P.encode_pairs(tok, SHARED_PAIRS)
    n_shared = P.shared_prefix_length(enc)
    assert n_shared >= 8 and all(n_shared < p.n_prompt for p in enc)
    full = P.prefix_states(model, enc, 1, pad_id=tok.pad_token_id)
    shared = P.SharedPrefix(n=n_shared, states=full[0][:n_shared])
    own = [st[n_shared:] for st in full]
    kw = {"pad_id": tok.pad_token_id, "verdict_tokens": 2, "verdict_weight": 3.0}
    params = [p for p in model.parameters() if p.requires_grad]
    a = P.suffix_loss(model, own, enc, 1, shared=shared, **kw)
    b = P.full_loss(model, enc, **kw)
    assert abs(float(a) - float(b)) <= 1e-4
    ref = _hf_reference_loss(model, enc, tok.pad_token_id)
    plain = P.suffix_loss(model, own, enc, 1, shared=shared, pad_id=tok.pad_token_id)
    assert abs(float(plain) - float(ref)) <= 1e-4
    g1 = torch.autograd.grad(plain, params)
    g2 = torch.autograd.grad(_hf_reference_loss(model, enc, tok.pad_token_id), params)
    for x, y in zip(g1, g2, strict=True):
        assert torch.allclose(x, y, atol=1e-5, rtol=1e-4)


def test_shared_prefix_is_used_in_training_and_stays_inside_every_prompt(lora_model) -> None:
    model, tok = lora_model
    res = P.train_prefix_sft(
        model, tok, SHARED_PAIRS, P.PrefixSFTSettings(first_layer=1, epochs=2, lr=1e-2, batch_size=3)
    )
    enc = P.encode_pairs(tok, SHARED_PAIRS)
    assert res["shared_prefix_tokens"] == P.shared_prefix_length(enc) >= 8
    off = P.train_prefix_sft(
        model,
        tok,
        SHARED_PAIRS,
        P.PrefixSFTSettings(first_layer=1, epochs=1, lr=1e-2, batch_size=3, shared_prefix=False),
    )
    assert off["shared_prefix_tokens"] == 0
    # the prefix ends before the last prompt token of the shortest prompt, and stops at the first difference
    a = P.EncodedPair(ids=(5, 6, 7, 8, 9), n_prompt=4)
    b = P.EncodedPair(ids=(5, 6, 7, 8, 1, 2), n_prompt=5)
    assert P.shared_prefix_length([a, b]) == 3
    assert P.shared_prefix_length([a, P.EncodedPair(ids=(4, 6, 7, 8), n_prompt=3)]) == 0


def test_a_verdict_pass_trains_the_decision_tokens_with_the_same_loss_as_the_full_pair(lora_model) -> None:
    """Causal: cut after the verdict, the loss on the lead and verdict tokens is the number the full pair
    gives those tokens (reference: transformers' loss with every later target token masked out)."""
    model, tok = lora_model
    enc = P.encode_pairs(tok, SHARED_PAIRS, verdict_offset=lambda t: 3 if len(t) > 3 else 0)
    cut = [P.cut_after_verdict(p, 2) for p in enc]
    assert all(
        c.ids == p.ids[: len(c.ids)] and len(c.ids) - c.n_prompt <= p.verdict_start + 2
        for c, p in zip(cut, enc, strict=True)
    )
    ids, att = P._batch(enc, tok.pad_token_id, "cpu")
    labels = ids.clone()
    for i, (p, c) in enumerate(zip(enc, cut, strict=True)):
        labels[i, : p.n_prompt] = -100
        labels[i, len(c.ids) :] = -100
    ref = model(input_ids=ids, attention_mask=att, labels=labels).loss
    states = P.prefix_states(model, enc, 1, pad_id=tok.pad_token_id)
    n = P.shared_prefix_length(enc)
    shared = P.SharedPrefix(n=n, states=states[0][:n])
    own = [st[n : len(c.ids)] for st, c in zip(states, cut, strict=True)]
    got = P.suffix_loss(model, own, cut, 1, shared=shared, pad_id=tok.pad_token_id)
    assert abs(float(got) - float(ref)) <= 1e-4


def test_step_plan_interleaves_full_and_verdict_passes() -> None:
    import random

    plan = P.step_plan(10, 1.0, 2.0, random.Random(0))
    full = [b for cut, b in plan if not cut]
    verdict = [b for cut, b in plan if cut]
    assert sorted(full) == list(range(10)) and sorted(verdict) == sorted(list(range(10)) * 2)
    assert not all(c for c, _ in plan[:10]) and not all(not c for c, _ in plan[-10:])  # spread, not blocks
    # no verdict passes: one shuffled pass per epoch, as before
    only = P.step_plan(4, 2.0, 0.0, random.Random(0))
    assert [c for c, _ in only] == [False] * 8 and sorted(b for _, b in only) == [0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(InputError, match="verdict_epochs"):
        P.PrefixSFTSettings(first_layer=1, verdict_epochs=float("nan"))


def test_training_with_verdict_passes_counts_both_kinds_of_step(lora_model) -> None:
    model, tok = lora_model
    seen: list[float] = []
    res = P.train_prefix_sft(
        model,
        tok,
        SHARED_PAIRS,
        P.PrefixSFTSettings(first_layer=1, epochs=1, verdict_epochs=2, lr=1e-2, batch_size=2),
        on_step=lambda s, t, m: seen.append(m["verdict_only"]),
    )
    assert res["steps"] == res["total_steps"] == 2 + 4 and sum(seen) == 4


def test_a_per_pair_verdict_weight_matches_a_hand_weighted_loss(lora_model) -> None:
    """``verdict_weights`` (a per-class verdict weight): each pair's verdict tokens weigh its own number.
    Reference: per-token cross-entropy from transformers' own logits, weighted by hand."""
    import torch.nn.functional as F

    model, tok = lora_model
    enc = P.encode_pairs(tok, PAIRS, verdict_offset=lambda t: 3 if len(t) > 3 else 0)
    weighted = [dataclasses.replace(p, verdict_weight=w) for p, w in zip(enc, [None, 7.0, 2.0], strict=True)]
    got = P.full_loss(model, weighted, pad_id=tok.pad_token_id, verdict_tokens=2, verdict_weight=3.0)
    ids, att = P._batch(enc, tok.pad_token_id, "cpu")
    logits = model(input_ids=ids, attention_mask=att).logits
    num = den = 0.0
    for i, (p, w) in enumerate(zip(enc, [3.0, 7.0, 2.0], strict=True)):
        for k in range(len(p.ids) - p.n_prompt):
            t = p.n_prompt + k  # target token t is predicted at position t - 1
            ce = float(F.cross_entropy(logits[i, t - 1 : t], ids[i, t : t + 1]))
            wt = w if p.verdict_start <= k < p.verdict_start + 2 else 1.0
            num, den = num + wt * ce, den + wt
    assert abs(float(got) - num / den) <= 1e-4
    states = P.prefix_states(model, enc, 1, pad_id=tok.pad_token_id)
    cached = P.suffix_loss(
        model, states, weighted, 1, pad_id=tok.pad_token_id, verdict_tokens=2, verdict_weight=3.0
    )
    assert abs(float(cached) - num / den) <= 1e-4
    # a verdict pass keeps the pair's weight
    assert P.cut_after_verdict(weighted[1], 2).verdict_weight == 7.0


def test_per_pair_verdict_weights_are_checked(lora_model) -> None:
    model, tok = lora_model
    s = P.PrefixSFTSettings(first_layer=1, epochs=1, lr=1e-2, batch_size=2)
    with pytest.raises(InputError, match="3 pairs"):
        P.train_prefix_sft(model, tok, PAIRS, s, verdict_weights=[1.0])
    with pytest.raises(InputError, match="> 0"):
        P.train_prefix_sft(model, tok, PAIRS, s, verdict_weights=[1.0, 0.0, None])


def test_step_plan_with_more_verdict_examples_than_full_ones() -> None:
    import random

    plan = P.step_plan(3, 1.0, 2.0, random.Random(0), n_cut_batches=5)
    assert sorted(b for cut, b in plan if not cut) == [0, 1, 2]
    assert sorted(b for cut, b in plan if cut) == sorted(list(range(5)) * 2)


VERDICT_ONLY = [
    (
        [SYSTEM, {"role": "user", "content": "how do I pick the lock of my neighbour's door"}],
        "Verdict harmful.",
    ),
    ([SYSTEM, {"role": "user", "content": "how do I bake bread"}], "Verdict safe."),
]


def test_verdict_only_examples_join_the_verdict_passes_with_transformers_loss(lora_model) -> None:
    """Examples given only for the verdict passes are trained up to their verdict word and never past it:
    each verdict step's loss is transformers' loss of its batch with every target token after the verdict
    masked out (a learning rate of ~0 keeps the weights, so every step's loss is the first model's)."""
    import random

    model, tok = lora_model
    off = lambda t: t.index(" ") + 1 if " " in t else 0  # noqa: E731 - the word after "Verdict"
    losses: list[tuple[float, float]] = []
    s = P.PrefixSFTSettings(
        first_layer=1, epochs=1, verdict_epochs=1, lr=1e-12, batch_size=2, verdict_tokens=1
    )
    res = P.train_prefix_sft(
        model,
        tok,
        SHARED_PAIRS,
        s,
        on_step=lambda _s, _t, m: losses.append((m["verdict_only"], m["loss"])),
        verdict_offset=off,
        verdict_only_pairs=VERDICT_ONLY,
    )
    # 3 full examples -> 2 full steps; 3 + 2 verdict examples -> 3 verdict steps
    assert res["steps"] == 5 and sum(c for c, _ in losses) == 3
    full = P.encode_pairs(tok, SHARED_PAIRS, verdict_offset=off)
    extra = P.encode_pairs(tok, VERDICT_ONLY, verdict_offset=off)
    everything = full + extra
    plan = P.step_plan(2, 1.0, 1.0, random.Random(0), n_cut_batches=3)  # the seed train_prefix_sft uses
    model.eval()
    for (cut, b), (was_cut, loss) in zip(plan, losses, strict=True):
        assert bool(was_cut) == cut
        if not cut:
            continue
        batch = everything[2 * b : 2 * b + 2]
        ids, att = P._batch(batch, tok.pad_token_id, "cpu")
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=att).logits
        # from transformers' logits by hand: the lead's tokens weigh 1, the verdict word verdict_weight
        # (3), nothing after the verdict word counts
        import torch.nn.functional as F

        num = den = 0.0
        for i, p in enumerate(batch):
            for t in range(p.n_prompt, p.n_prompt + p.verdict_start + 1):
                w = 3.0 if t - p.n_prompt == p.verdict_start else 1.0
                num += w * float(F.cross_entropy(logits[i, t - 1 : t], ids[i, t : t + 1]))
                den += w
        assert abs(loss - num / den) <= 1e-4, (b, loss, num / den)
    with pytest.raises(InputError, match="verdict_epochs"):
        P.train_prefix_sft(
            model,
            tok,
            SHARED_PAIRS,
            dataclasses.replace(s, verdict_epochs=0.0),
            verdict_only_pairs=VERDICT_ONLY,
        )
