"""Verdict SFT over a cached frozen prefix: LoRA on the upper decoder layers only, the lower layers run once.

Why: on 2 CPU cores a LoRA SFT epoch over ~1 700 corpus prompts through the whole 30-layer model costs ~20
min. When only layers ``first_layer..L-1`` carry adapters, the lower layers compute the same activations at
every step, so we compute their output once per example (``[T, d_model]``, float32), keep it in RAM, and every
step runs only the upper layers, the final norm and the LM head -- on the target positions only. The loss is
*the same number* the plain model computes (a test checks it to 1e-4 against ``model(input_ids,
labels=...)``).

Every prompt also starts with the same tokens (the system prompt and the chat header, ~75 of the ~140
tokens of an AlphaAlign example): with ``shared_prefix`` on, each step runs those tokens through the upper
layers *once* (batch 1, with grad) and lets every example's own tokens attend to that one set of keys and
values -- the same loss and gradients (tested against the plain forward), less work per step.

``verdict_epochs`` adds passes over each example cut right after its verdict word (prompt + lead +
decision): the refuse-or-answer choice trained again at a fraction of a full pass's cost.

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

import dataclasses
import inspect
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
    verdict_epochs: float = 0.0  # extra passes over each example cut right after its verdict tokens
    lr: float = 1e-3
    batch_size: int = 16
    verdict_tokens: int = 4
    verdict_weight: float = 3.0
    warmup_frac: float = 0.06
    max_length: int = 256
    seed: int = 0
    shared_prefix: bool = (
        True  # run the tokens every prompt starts with once per step (exact; see module doc)
    )

    def __post_init__(self) -> None:
        if self.first_layer < 0:
            raise InputError(f"first_layer must be >= 0, got {self.first_layer}.")
        if not (math.isfinite(self.verdict_epochs) and self.verdict_epochs >= 0):
            raise InputError(f"verdict_epochs must be a finite number >= 0, got {self.verdict_epochs!r}.")
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
    verdict_weight: float | None = None  # this pair's verdict weight (None: the settings' verdict_weight)


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


@dataclass(frozen=True, kw_only=True)
class SharedPrefix:
    """The tokens every pair starts with: how many, and their input to decoder layer ``first_layer``."""

    n: int
    states: Any  # [n, d_model] float32, no grad


def shared_prefix_length(pairs: Sequence[EncodedPair]) -> int:
    """Length of the token prefix all ``pairs`` share, kept inside every prompt (the last prompt token
    predicts the first target token, so it must stay with each pair's own tokens)."""
    if not pairs:
        return 0
    first = pairs[0].ids
    n = min(p.n_prompt for p in pairs) - 1
    for p in pairs[1:]:
        k = 0
        while k < n and p.ids[k] == first[k]:
            k += 1
        n = k
    return max(0, n)


def supports_shared_prefix(model: Any) -> bool:
    """The shared-prefix path passes its own key/value store and a 4-D mask: eager or SDPA attention, and
    decoder layers that take a ``cache`` (transformers 5) or ``past_key_values`` argument."""
    if not supports_prefix_cache(model):
        return False
    stack = _stack(model)
    if getattr(stack.config, "_attn_implementation", None) not in ("sdpa", "eager"):
        return False
    params = inspect.signature(stack.layers[0].forward).parameters
    return "cache" in params or "past_key_values" in params


class _PrefixKV:
    """Duck-typed cache for one step: the first ``update`` per layer (the shared prefix, batch 1) is recorded
    as is; later ones (the batch) get the prefix's keys/values in front, expanded over the batch. The
    tensors keep their graph, so gradients from every example reach the prefix pass."""

    def __init__(self) -> None:
        self.kv: dict[int, tuple[Any, Any]] = {}
        self.extending = False

    def update(self, k: Any, v: Any, layer_idx: int, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        import torch

        if not self.extending:
            self.kv[layer_idx] = (k, v)  # [1, kv_heads, P, head_dim]
            return k, v
        pk, pv = self.kv[layer_idx]
        b = k.shape[0]
        return (
            torch.cat([pk.expand(b, -1, -1, -1), k], dim=2),
            torch.cat([pv.expand(b, -1, -1, -1), v], dim=2),
        )


def _cache_kwarg(layer: Any) -> str:
    return "cache" if "cache" in inspect.signature(layer.forward).parameters else "past_key_values"


def _suffix_mask(stack: Any, att: Any, n_prefix: int) -> Any:
    """``[B, 1, S, P+S]`` mask of the examples' own tokens (queries) over prefix + own tokens (keys): the
    whole prefix, then causal over real tokens. Boolean for SDPA, additive float for eager."""
    import torch

    b, s = att.shape
    q = torch.arange(s, device=att.device)[:, None] + n_prefix
    k = torch.arange(n_prefix + s, device=att.device)[None, :]
    real = torch.cat([torch.ones((b, n_prefix), dtype=torch.bool, device=att.device), att.bool()], dim=1)
    allowed = (k <= q)[None, None] & real[:, None, None, :]
    if getattr(stack.config, "_attn_implementation", "sdpa") == "eager":
        return torch.zeros(allowed.shape, device=att.device).masked_fill(
            ~allowed, torch.finfo(torch.float32).min
        )
    return allowed


def _upper_layers_with_prefix(stack: Any, h: Any, att: Any, first_layer: int, shared: SharedPrefix) -> Any:
    """Layers ``first_layer..`` over the batch's own tokens ``h`` [B, S, d] after the shared prefix, which
    runs once (batch 1) with grad."""
    import torch

    device = h.device
    P = shared.n
    layers = stack.layers[first_layer:]
    kw_name = _cache_kwarg(layers[0])
    kv = _PrefixKV()
    hp = shared.states.to(device).unsqueeze(0)  # [1, P, d]
    mask_p, pe_p, pos_p = _mask_and_rope(stack, hp, torch.ones((1, P), dtype=torch.long, device=device))
    for layer in layers:
        hp = layer(hp, attention_mask=mask_p, position_embeddings=pe_p, position_ids=pos_p, **{kw_name: kv})
        hp = hp[0] if isinstance(hp, tuple) else hp
    kv.extending = True
    pos = torch.arange(P, P + h.shape[1], device=device).unsqueeze(0)
    pe = stack.rotary_emb(h, position_ids=pos)
    mask = _suffix_mask(stack, att, P)
    for layer in layers:
        h = layer(h, attention_mask=mask, position_embeddings=pe, position_ids=pos, **{kw_name: kv})
        h = h[0] if isinstance(h, tuple) else h
    return h


def _target_weights(pairs: Sequence[EncodedPair], T: int, verdict_tokens: int, verdict_weight: float) -> Any:
    """``[B, T]`` weight of predicting token t+1 at position t: 0 outside targets, ``verdict_weight`` (or the
    pair's own) on the ``verdict_tokens`` target tokens from each pair's ``verdict_start``, 1 on the rest."""
    import torch

    w = torch.zeros((len(pairs), T))
    for i, p in enumerate(pairs):
        for k, t in enumerate(range(p.n_prompt, len(p.ids))):
            in_verdict = p.verdict_start <= k < p.verdict_start + verdict_tokens
            vw = verdict_weight if p.verdict_weight is None else p.verdict_weight
            w[i, t - 1] = vw if in_verdict else 1.0
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
    shared: SharedPrefix | None = None,
) -> Any:
    """Weighted next-token loss on the targets, running only layers ``first_layer..`` from cached states.

    ``states[i]`` is pair i's input to layer ``first_layer`` over all its tokens, or -- with ``shared`` --
    over its tokens after the shared prefix (``ids[shared.n:]``)."""
    import torch

    stack = _stack(model)
    device = next(model.parameters()).device
    P = shared.n if shared is not None else 0
    T = max(len(p.ids) for p in pairs)
    h = torch.zeros((len(pairs), T - P, states[0].shape[-1]), device=device)
    for i, st in enumerate(states):
        h[i, : st.shape[0]] = st.to(device)
    ids, att = _batch(pairs, pad_id, device)
    if shared is not None:
        h = _upper_layers_with_prefix(stack, h, att[:, P:], first_layer, shared)
    else:
        mask, pe, pos = _mask_and_rope(stack, h, att)
        for layer in stack.layers[first_layer:]:
            h = layer(h, attention_mask=mask, position_embeddings=pe, position_ids=pos)
            h = h[0] if isinstance(h, tuple) else h
    w = _target_weights(pairs, T, verdict_tokens, verdict_weight).to(device)[:, P:]
    sel = w > 0  # only target positions reach the 49k-wide LM head
    logits = _lm_head(model)(stack.norm(h)[sel])  # [n_target_tokens, vocab]
    labels = torch.roll(ids, shifts=-1, dims=1)[:, P:][sel]
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


def cut_after_verdict(pair: EncodedPair, verdict_tokens: int) -> EncodedPair:
    """The pair up to and including its verdict tokens: the prompt, the target's lead and the decision --
    a verdict pass trains the refuse-or-answer choice without the rest of the answer (causal: the loss on
    those tokens is the same number as in the full pair)."""
    end = pair.n_prompt + pair.verdict_start + max(1, verdict_tokens)
    return dataclasses.replace(pair, ids=pair.ids[: min(len(pair.ids), end)])


def step_plan(
    n_batches: int,
    epochs: float,
    verdict_epochs: float,
    rng: random.Random,
    n_cut_batches: int | None = None,
) -> list[tuple[bool, int]]:
    """``(cut, batch)`` per step: ``ceil(epochs * n_batches)`` full steps and ``ceil(verdict_epochs *
    n_cut_batches)`` verdict-only steps (``n_cut_batches`` defaults to ``n_batches``: the same examples, cut),
    each kind a run of per-pass shuffles, the two interleaved evenly (so the decision and the full answers are
    learned side by side, under the same learning-rate schedule)."""
    n_cut = n_batches if n_cut_batches is None else n_cut_batches

    def passes(n_steps: int, n: int) -> list[int]:
        order, out = list(range(n)), []
        while len(out) < n_steps:
            rng.shuffle(order)
            out.extend(order)
        return out[:n_steps]

    full = passes(math.ceil(epochs * n_batches), n_batches) if epochs > 0 else []
    cut = passes(math.ceil(verdict_epochs * n_cut), n_cut) if verdict_epochs > 0 and n_cut > 0 else []
    keyed = [((i + 0.5) / len(full), 0, (False, b)) for i, b in enumerate(full)]
    keyed += [((i + 0.5) / len(cut), 1, (True, b)) for i, b in enumerate(cut)]
    return [step for _, _, step in sorted(keyed)]


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
    verdict_weights: Sequence[float | None] | None = None,
    verdict_only_pairs: Sequence[tuple[list[Message], str]] = (),
) -> dict[str, Any]:
    """Train the (already LoRA-wrapped) ``model`` on ``pairs`` in the given order, batch by batch (the caller
    orders them, e.g. class-balanced pairs); returns ``{"steps", "losses", "prefix_s", "train_s", "cached",
    "shared_prefix_tokens"}``.
    ``verdict_weights[i]`` overrides ``settings.verdict_weight`` for pair i (a per-class verdict weight:
    e.g. benign verdicts weighted more to move the decision toward answering).
    ``verdict_only_pairs``: more examples for the verdict-only passes only (prompt + a target that begins
    with its verdict; cut after the verdict like the others, so nothing after it is ever trained) -- the
    decision learned from prompts that have no full target (Rational: train prompts without a rationale).
    They follow ``pairs`` in the verdict passes' batches, in the given order.
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
    if verdict_only_pairs and not settings.verdict_epochs:
        raise InputError(
            "Verdict-only examples were given but verdict_epochs is 0: set verdict_epochs > 0 to train them."
        )
    enc = encode_pairs(tokenizer, pairs, max_length=settings.max_length, verdict_offset=verdict_offset)
    n_full = len(enc)
    extra = encode_pairs(
        tokenizer, verdict_only_pairs, max_length=settings.max_length, verdict_offset=verdict_offset
    )
    if verdict_weights is not None:
        if len(verdict_weights) != len(enc):
            raise InputError(f"verdict_weights has {len(verdict_weights)} entries for {len(enc)} pairs.")
        bad = [w for w in verdict_weights if w is not None and not (math.isfinite(w) and w > 0)]
        if bad:
            raise InputError(f"verdict weights must be finite numbers > 0, got {bad[0]!r}.")
        enc = [dataclasses.replace(p, verdict_weight=w) for p, w in zip(enc, verdict_weights, strict=True)]
    enc = enc + extra  # ``enc[:n_full]`` the full examples, the rest verdict-only
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
    shared: SharedPrefix | None = None
    if states is not None and settings.shared_prefix and supports_shared_prefix(model):
        n_shared = shared_prefix_length(enc)
        if n_shared >= 4:  # shorter prefixes save less than the extra batch-1 pass costs
            shared = SharedPrefix(n=n_shared, states=states[0][:n_shared].clone())
            states = [st[n_shared:].clone() for st in states]
    prefix_s = time.time() - t0
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InputError("No trainable parameters: attach the LoRA adapter before the verdict SFT.")
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    bs = settings.batch_size
    batches_per_epoch = math.ceil(n_full / bs)
    # the order of items inside each batch is the caller's (balanced pairs); batches are shuffled per pass
    plan = step_plan(
        batches_per_epoch,
        settings.epochs,
        settings.verdict_epochs,
        random.Random(settings.seed),
        n_cut_batches=math.ceil(len(enc) / bs),
    )
    total = max(1, len(plan))
    warm = max(1, int(settings.warmup_frac * total))
    cut_enc = [cut_after_verdict(p, settings.verdict_tokens) for p in enc] if settings.verdict_epochs else []

    def lr_at(step: int) -> float:  # linear warm-up, cosine decay to 10 %
        if step < warm:
            return settings.lr * (step + 1) / warm
        prog = (step - warm) / max(1, total - warm)
        return settings.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))

    model.train()
    losses: list[float] = []
    t1 = time.time()
    step = 0
    cancelled = False
    n_shared = shared.n if shared is not None else 0
    kw = {
        "pad_id": pad_id,
        "verdict_tokens": settings.verdict_tokens,
        "verdict_weight": settings.verdict_weight,
    }
    for cut, b in plan:
        if should_stop is not None and should_stop():
            cancelled = True
            break
        idx = list(range(b * bs, min(len(enc) if cut else n_full, (b + 1) * bs)))
        batch = [(cut_enc if cut else enc)[i] for i in idx]
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        if states is not None:
            # a cut pair's states are the first tokens of its full pair's (causal: identical)
            own = [states[i][: len(p.ids) - n_shared] for i, p in zip(idx, batch, strict=True)]
            loss = suffix_loss(model, own, batch, settings.first_layer, shared=shared, **kw)
        else:
            loss = full_loss(model, batch, **kw)
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
                {
                    "loss": losses[-1],
                    "grad_norm": float(gn),
                    "learning_rate": lr_at(step - 1),
                    "verdict_only": float(cut),
                },
            )
    model.eval()
    return {
        "steps": step,
        "total_steps": total,
        "losses": losses,
        "prefix_s": round(prefix_s, 1),
        "train_s": round(time.time() - t1, 1),
        "cached": cached,
        "shared_prefix_tokens": shared.n if shared is not None else 0,
        "cancelled": cancelled,
    }
