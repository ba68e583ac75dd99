"""Verdict SFT over a cached frozen prefix: LoRA on the upper decoder layers only, the lower layers run once.

Why: on 2 CPU cores a LoRA SFT epoch over ~1 700 corpus prompts through the whole 30-layer model costs ~20
min. When only layers ``first_layer..L-1`` carry adapters, the lower layers compute the same activations at
every step, so we compute their output once per example (``[T, d_model]``, float32), keep it in RAM, and every
step runs only the upper layers, the final norm and the LM head -- on the target positions only. The loss is
*the same number* the plain model computes (a test checks it to 1e-4 against ``model(input_ids,
labels=...)``).

The targets are verdict-first: a refusal sentence for a harmful request, ``"Sure! "`` + the model's own answer
for a benign one. ``verdict_weight`` multiplies the loss of the first ``verdict_tokens`` target tokens, where
the decision to refuse or answer is made; the rest of the target keeps the answer fluent.

Architectures: decoder stacks whose layers take ``(hidden, attention_mask, position_embeddings,
position_ids)`` and a model with ``rotary_emb`` and ``norm`` (Llama, Qwen2/3, Mistral, Gemma-like). Others
fall back to the plain forward (``supports_prefix_cache`` says which), which is slower but computes the same
loss.

torch / transformers are imported inside functions: the module itself imports without them.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import InputError

Message = dict[str, str]


@dataclass(frozen=True, kw_only=True)
class PrefixSFTSettings:
    """How the verdict SFT trains. ``first_layer`` counts decoder layers from 0 (LoRA on
    ``first_layer..L-1``)."""

    first_layer: int
    epochs: float = 2.0
    lr: float = 1e-3
    batch_size: int = 16
    verdict_tokens: int = 4
    verdict_weight: float = 3.0
    warmup_frac: float = 0.06
    max_length: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.first_layer < 0:
            raise InputError(f"first_layer must be >= 0, got {self.first_layer}.")
        for name in ("epochs", "lr", "verdict_weight"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InputError(f"{name} must be a finite number > 0, got {v!r}.")
        if self.batch_size < 1 or self.verdict_tokens < 0 or self.max_length < 8:
            raise InputError(
                "batch_size must be >= 1, verdict_tokens >= 0 and max_length >= 8 "
                f"(got {self.batch_size}, {self.verdict_tokens}, {self.max_length})."
            )


@dataclass(frozen=True, kw_only=True)
class EncodedPair:
    """One (chat, target) pair as token ids; the target occupies ``ids[n_prompt:]``."""

    ids: tuple[int, ...]
    n_prompt: int
    verdict_start: int = 0  # target token where the verdict begins (its loss is weighted)


def encode_pairs(
    tokenizer: Any,
    pairs: Sequence[tuple[list[Message], str]],
    *,
    max_length: int = 256,
    verdict_offset: Callable[[str], int] | None = None,
) -> list[EncodedPair]:
    """Chat template with the generation prompt + target text + end-of-turn token, cut to ``max_length``
    (the prompt is cut from the left so the target always survives). ``verdict_offset(target)`` is the
    character where the target's verdict starts (default 0: the first token decides)."""
    eos = tokenizer.eos_token_id
    out: list[EncodedPair] = []
    for chat, target in pairs:
        prompt_ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
        if isinstance(prompt_ids, dict) or hasattr(prompt_ids, "input_ids"):
            prompt_ids = prompt_ids["input_ids"]
        tgt = tokenizer(target, add_special_tokens=False)["input_ids"] + ([eos] if eos is not None else [])
        tgt = tgt[: max_length - 4]
        prompt_ids = list(prompt_ids)[-(max_length - len(tgt)) :]
        off = max(0, min(len(target), verdict_offset(target))) if verdict_offset else 0
        start = _token_at(tokenizer, target, off) if off else 0
        out.append(
            EncodedPair(
                ids=tuple(prompt_ids) + tuple(tgt),
                n_prompt=len(prompt_ids),
                verdict_start=min(start, len(tgt) - 1),
            )
        )
    return out


def _token_at(tokenizer: Any, target: str, off: int) -> int:
    """Index of the target token that holds character ``off`` (the verdict word's first letter).

    Why not ``len(tokenize(target[:off]))``: a lead ending in a space ("The request is ") tokenizes with a
    lone trailing-space token, while the full target merges that space into the verdict token (" harmful"),
    so the count lands one token *after* the verdict -- on the ":" every target shares."""
    try:
        spans = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    except (NotImplementedError, TypeError, ValueError, KeyError):  # slow tokenizers have no offsets
        spans = None
    if spans:
        for i, (_, end) in enumerate(spans):
            if end > off:
                return i
        return max(0, len(spans) - 1)
    return len(tokenizer(target[:off].rstrip(), add_special_tokens=False)["input_ids"])


def _stack(model: Any) -> Any:
    """The decoder model (``.layers``, ``.norm``, ``.rotary_emb``) of a causal LM, wrapped by peft or not."""
    return model.get_decoder()


def _lm_head(model: Any) -> Any:
    return model.get_output_embeddings()


def supports_prefix_cache(model: Any) -> bool:
    s = _stack(model)
    return all(hasattr(s, a) for a in ("layers", "norm", "rotary_emb", "embed_tokens"))


def _batch(pairs: Sequence[EncodedPair], pad_id: int, device: Any) -> tuple[Any, Any]:
    """Right-padded ``input_ids`` [B, T] and ``attention_mask`` [B, T] (real tokens never see pads:
    causal)."""
    import torch

    T = max(len(p.ids) for p in pairs)
    ids = torch.full((len(pairs), T), pad_id, dtype=torch.long)
    att = torch.zeros((len(pairs), T), dtype=torch.long)
    for i, p in enumerate(pairs):
        ids[i, : len(p.ids)] = torch.tensor(p.ids)
        att[i, : len(p.ids)] = 1
    return ids.to(device), att.to(device)


def _mask_and_rope(stack: Any, hidden: Any, attention_mask: Any) -> tuple[Any, Any, Any]:
    import torch
    from transformers.masking_utils import create_causal_mask

    pos = torch.arange(hidden.shape[1], device=hidden.device).unsqueeze(0)
    mask = create_causal_mask(
        config=stack.config, inputs_embeds=hidden, attention_mask=attention_mask, cache=None, position_ids=pos
    )
    return mask, stack.rotary_emb(hidden, position_ids=pos), pos


def prefix_states(
    model: Any,
    pairs: Sequence[EncodedPair],
    first_layer: int,
    *,
    pad_id: int,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """The input of decoder layer ``first_layer`` for each pair (``[len(ids), d_model]`` float32, no grad)."""
    import torch

    stack = _stack(model)
    device = next(model.parameters()).device
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].ids))  # similar lengths pad less
    out: list[Any] = [None] * len(pairs)
    with torch.no_grad():
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            ids, att = _batch([pairs[i] for i in idx], pad_id, device)
            h = stack.embed_tokens(ids)
            mask, pe, pos = _mask_and_rope(stack, h, att)
            for layer in stack.layers[:first_layer]:
                h = layer(h, attention_mask=mask, position_embeddings=pe, position_ids=pos)
                h = h[0] if isinstance(h, tuple) else h
            for j, i in enumerate(idx):
                out[i] = h[j, : len(pairs[i].ids)].detach().float().cpu().clone()
            if progress is not None:
                progress(min(s + batch_size, len(order)), len(order))
    return out


def _target_weights(pairs: Sequence[EncodedPair], T: int, verdict_tokens: int, verdict_weight: float) -> Any:
    """``[B, T]`` weight of predicting token t+1 at position t: 0 outside targets, ``verdict_weight`` on the
    ``verdict_tokens`` target tokens from each pair's ``verdict_start``, 1 on the rest."""
    import torch

    w = torch.zeros((len(pairs), T))
    for i, p in enumerate(pairs):
        for k, t in enumerate(range(p.n_prompt, len(p.ids))):
            in_verdict = p.verdict_start <= k < p.verdict_start + verdict_tokens
            w[i, t - 1] = verdict_weight if in_verdict else 1.0
    return w


def _weighted_ce(logits: Any, labels: Any, weights: Any) -> Any:
    import torch.nn.functional as F

    ce = F.cross_entropy(logits.float(), labels, reduction="none")
    return (ce * weights).sum() / weights.sum().clamp_min(1e-8)


def suffix_loss(
    model: Any,
    states: Sequence[Any],
    pairs: Sequence[EncodedPair],
    first_layer: int,
    *,
    pad_id: int,
    verdict_tokens: int = 0,
    verdict_weight: float = 1.0,
) -> Any:
    """Weighted next-token loss on the targets, running only layers ``first_layer..`` from cached states."""
    import torch

    stack = _stack(model)
    device = next(model.parameters()).device
    T = max(len(p.ids) for p in pairs)
    h = torch.zeros((len(pairs), T, states[0].shape[-1]), device=device)
    for i, st in enumerate(states):
        h[i, : st.shape[0]] = st.to(device)
    ids, att = _batch(pairs, pad_id, device)
    mask, pe, pos = _mask_and_rope(stack, h, att)
    for layer in stack.layers[first_layer:]:
        h = layer(h, attention_mask=mask, position_embeddings=pe, position_ids=pos)
        h = h[0] if isinstance(h, tuple) else h
    w = _target_weights(pairs, T, verdict_tokens, verdict_weight).to(device)
    sel = w > 0  # only target positions reach the 49k-wide LM head
    logits = _lm_head(model)(stack.norm(h)[sel])  # [n_target_tokens, vocab]
    labels = torch.roll(ids, shifts=-1, dims=1)[sel]
    return _weighted_ce(logits, labels, w[sel])


def full_loss(
    model: Any,
    pairs: Sequence[EncodedPair],
    *,
    pad_id: int,
    verdict_tokens: int = 0,
    verdict_weight: float = 1.0,
) -> Any:
    """The same loss through the model's own forward pass (reference, and the fallback path)."""
    import torch

    device = next(model.parameters()).device
    ids, att = _batch(pairs, pad_id, device)
    logits = model(input_ids=ids, attention_mask=att).logits
    w = _target_weights(pairs, ids.shape[1], verdict_tokens, verdict_weight).to(device)
    sel = w > 0
    labels = torch.roll(ids, shifts=-1, dims=1)[sel]
    return _weighted_ce(logits[sel], labels, w[sel])


def train_prefix_sft(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[tuple[list[Message], str]],
    settings: PrefixSFTSettings,
    *,
    on_step: Callable[[int, int, dict[str, float]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_prefix_progress: Callable[[int, int], None] | None = None,
    verdict_offset: Callable[[str], int] | None = None,
) -> dict[str, Any]:
    """Train the (already LoRA-wrapped) ``model`` on ``pairs`` in the given order, batch by batch (the caller
    orders them, e.g. class-balanced pairs); returns ``{"steps", "losses", "prefix_s", "train_s", "cached"}``.
    Returns early when ``should_stop()`` turns true (``"cancelled": True``)."""
    import torch

    if not pairs:
        raise InputError("The verdict SFT got no training pairs: the train split has no usable items.")
    n_layers = len(_stack(model).layers)
    if not 0 <= settings.first_layer < n_layers:
        raise InputError(
            f"first_layer {settings.first_layer} is outside this model's 0..{n_layers - 1} decoder "
            "layers; choose one in that range (LoRA trains the layers from it upwards)."
        )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    enc = encode_pairs(tokenizer, pairs, max_length=settings.max_length, verdict_offset=verdict_offset)
    cached = supports_prefix_cache(model) and settings.first_layer > 0
    t0 = time.time()
    states = (
        prefix_states(
            model,
            enc,
            settings.first_layer,
            pad_id=pad_id,
            batch_size=max(8, settings.batch_size),
            progress=on_prefix_progress,
        )
        if cached
        else None
    )
    prefix_s = time.time() - t0
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InputError("No trainable parameters: attach the LoRA adapter before the verdict SFT.")
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    bs = settings.batch_size
    batches_per_epoch = math.ceil(len(enc) / bs)
    total = max(1, math.ceil(settings.epochs * batches_per_epoch))
    warm = max(1, int(settings.warmup_frac * total))

    def lr_at(step: int) -> float:  # linear warm-up, cosine decay to 10 %
        if step < warm:
            return settings.lr * (step + 1) / warm
        prog = (step - warm) / max(1, total - warm)
        return settings.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))

    rng = random.Random(settings.seed)
    batch_order = list(range(batches_per_epoch))
    model.train()
    losses: list[float] = []
    t1 = time.time()
    step = 0
    cancelled = False
    while step < total:
        # the order of items inside each batch is the caller's (balanced pairs); batches are shuffled per
        # epoch
        rng.shuffle(batch_order)
        for b in batch_order:
            if step >= total:
                break
            if should_stop is not None and should_stop():
                cancelled = True
                break
            idx = list(range(b * bs, min(len(enc), (b + 1) * bs)))
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            kw = {
                "pad_id": pad_id,
                "verdict_tokens": settings.verdict_tokens,
                "verdict_weight": settings.verdict_weight,
            }
            if cached:
                loss = suffix_loss(
                    model, [states[i] for i in idx], [enc[i] for i in idx], settings.first_layer, **kw
                )
            else:
                loss = full_loss(model, [enc[i] for i in idx], **kw)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gn = torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            losses.append(float(loss.detach()))
            if on_step is not None:
                on_step(
                    step,
                    total,
                    {"loss": losses[-1], "grad_norm": float(gn), "learning_rate": lr_at(step - 1)},
                )
        if cancelled:
            break
    model.eval()
    return {
        "steps": step,
        "total_steps": total,
        "losses": losses,
        "prefix_s": round(prefix_s, 1),
        "train_s": round(time.time() - t1, 1),
        "cached": cached,
        "cancelled": cancelled,
    }
