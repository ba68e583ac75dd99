"""Trajectory capture: generate a completion and record the residual stream of every layer at every
prompt and generated token.

How one capture runs (all under ``torch.no_grad()`` and the model's lock):
1. ``generate`` with the KV cache; scoped forward hooks record the embedding output and every decoder
   layer's output (pre final-norm) at the prefill and at each decoding step, plus one cached step for
   the final token (optional interventions run as hooks registered first, so recorded states are the
   steered ones; an optional streamer shows live text);
2. prompt-only captures of a batch run the decoder stack once with the same hooks (``forward_states``);
   a single prompt, a remote model, steered prompt-only captures and any decoding loop whose recorded
   length does not add up use one nnsight ``trace`` over the text instead, saving ``embed.output`` and each
   ``layers[i].output``.
Batches prefill the prompt prefix every row shares once (``core.capture.shared_prefix``).
Both are checked against transformers' own forward (tests/unit/capture/test_tracing.py).
Only one batch of states is held in RAM at a time (``capture_batch`` yields trajectories).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from core import checks
from core.capture.batching import DEFAULT_TOKEN_BUDGET, length_batches, restore_order
from core.capture.context import Intervention, InterventionContext
from core.capture.models import LoadedModel
from core.capture.shared_prefix import (
    MIN_SHARED_PREFIX,
    cache_argument,
    common_prefix_length,
    expanded_cache,
    prefix_cache,
    repeatable,
    shared_prefix_batch,
)
from core.capture.traced_generate import generate_traced
from core.capture.trajectory import GenerationSettings, Message, Trajectory, find_spans
from core.errors import InputError, LimitError, NonFiniteError

Progress = Callable[[int, int], None]


# ---- validation --------------------------------------------------------------------------------
def resolve_layers(model: LoadedModel, layers: Iterable[int] | str | None) -> tuple[int, ...]:
    n = model.n_layers
    if layers is None or layers == "all":
        return tuple(range(n + 1))
    if isinstance(layers, str):
        try:
            layers = [int(x) for x in layers.split(",") if x.strip()]
        except ValueError as exc:
            raise InputError(
                f"Layers must be 'all' or comma-separated integers like '0,5,10', got {layers!r}."
            ) from exc
    out = sorted(set(int(x) for x in layers))
    bad = [x for x in out if x < 0 or x > n]
    if bad or not out:
        raise InputError(
            f"Layer index {bad or 'list'} invalid: this model has layers 0..{n} "
            f"(0 = embedding output, i = output of decoder layer i-1)."
        )
    return tuple(out)


def _check_chat(
    model: LoadedModel, messages: list[Message], settings: GenerationSettings | None
) -> list[int]:
    users = [m for m in messages if m.get("role") == "user"]
    if not users or not users[-1].get("content", "").strip():
        raise InputError("The prompt is empty: type a request for the model to answer.")
    ids = model.encode_chat(messages)
    budget = model.context_window
    extra = settings.max_new_tokens if settings else 0
    if settings is not None and settings.max_new_tokens < 1:
        raise InputError("max_new_tokens must be at least 1.")
    if len(ids) + extra > budget:
        text = " ".join(users[-1]["content"].split())
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise LimitError(
            f"The prompt {shown!r} is {len(ids)} tokens; with max_new_tokens={extra} that exceeds the "
            f"model's context window of {budget} tokens. Shorten the prompt by "
            f"{len(ids) + extra - budget} tokens or lower max_new_tokens."
        )
    return ids


# ---- interventions as scoped hooks ----------------------------------------------------------------
def non_finite_error(
    interventions: Sequence[Intervention] | None, layer: int, position: int | None = None
) -> NonFiniteError:
    """The error for steered states that became NaN / inf (names the layer and what was applied)."""
    what = "; ".join(d for f in interventions or () if (d := str(getattr(f, "description", "") or ""))) or (
        "the active intervention"
    )
    where = f"layer {layer}" + (f", from position {position}" if position is not None else "")
    return NonFiniteError(
        f"The steered hidden states became NaN or infinite at {where} ({what}), so the attempt was "
        "aborted instead of generating empty or garbage text. Lower |alpha|, or use a smaller / normalised "
        "steering vector."
    )


@contextmanager
def intervene(
    model: LoadedModel, interventions: Sequence[Intervention] | None, n_prompt: int
) -> Iterator[None]:
    """Apply interventions to the embedding / decoder-layer outputs while the block runs; always removed.

    A layer output an intervention changed is checked for NaN / inf (one reduction per edited layer and
    forward; untouched outputs are not checked): a non-finite state raises ``NonFiniteError`` and aborts the
    generation instead of letting it decode garbage or nothing."""
    if not interventions:
        yield
        return
    import torch

    state = {"next": 0, "offset": 0}
    handles = []

    def on_embed_pre(_module: Any, args: tuple) -> None:  # the embedding runs first in every forward
        seq = args[0].shape[-1] if args else 1
        state["offset"] = state["next"]
        state["next"] += seq

    def make_hook(layer_index: int) -> Callable:
        def hook(_module: Any, _inp: Any, output: Any) -> Any:
            hidden = output[0] if isinstance(output, tuple) else output
            ctx = InterventionContext(n_prompt=n_prompt, position_offset=state["offset"])
            before = hidden
            for f in interventions:
                hidden = f(layer_index, hidden, ctx)
            if hidden is not before and not bool(torch.isfinite(hidden).all()):
                raise non_finite_error(interventions, layer_index, ctx.position_offset)
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

        return hook

    handles.append(model.embed_module().register_forward_pre_hook(on_embed_pre))
    handles.append(model.embed_module().register_forward_hook(make_hook(0)))
    for i, module in enumerate(model.layer_modules()):
        handles.append(module.register_forward_hook(make_hook(i + 1)))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


# ---- the traced pass ------------------------------------------------------------------------------
def trace_hidden(
    model: LoadedModel,
    input_ids: Any,
    attention_mask: Any,
    layers: tuple[int, ...],
    interventions: Sequence[Intervention] | None = None,
    n_prompt: int | None = None,
) -> Any:
    """Residual stream at ``layers`` for a left-padded batch: tensor ``[len(layers), batch, seq, d_model]``.

    Interventions are applied inside the nnsight trace (each layer's output is replaced by the edited
    tensor before later layers run), so saved states are the steered states.
    """
    import torch

    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # as generate() computes them
    wanted = set(layers)
    ctx = InterventionContext(
        n_prompt=input_ids.shape[1] if n_prompt is None else n_prompt, position_offset=0
    )
    fns = list(interventions or [])
    embed = model.embed_envoy()
    envoys = model.layer_envoys()
    with model.lm.trace(
        input_ids, attention_mask=attention_mask, position_ids=position_ids, **model.runner.trace_kwargs()
    ):
        saved = list().save()  # made and saved inside the block: it is what comes back from a remote run
        h = embed.output
        if fns:
            for f in fns:
                h = f(0, h, ctx)
            embed.output = h
        if 0 in wanted:
            saved.append(h.save())
        for i, env in enumerate(envoys):  # plain loop: comprehensions do not see nnsight's proxies
            out = env.output
            is_tuple = isinstance(out, tuple)  # some families (GPT-2, NeoX) return (hidden, ...)
            h = out[0] if is_tuple else out
            if fns:
                for f in fns:
                    h = f(i + 1, h, ctx)
                env.output = (h, *out[1:]) if is_tuple else h
            if i + 1 in wanted:
                saved.append(h.save())
    out = torch.stack([s.detach() for s in saved])
    if fns and not bool(torch.isfinite(out).all()):  # checked after the trace: the nnsight block stays plain
        order = sorted(wanted)
        bad = [order[j] for j in range(len(order)) if not bool(torch.isfinite(out[j]).all())]
        raise non_finite_error(fns, bad[0] if bad else order[0])
    return out


def _left_pad(rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[b, width - len(r) :] = 1
    return ids, mask


def _trim_generated(gen: list[int], eos_ids: set[int], pad_id: int) -> list[int]:
    """Cut a generated row after its first EOS (kept) -- the rest is padding from batched generation."""
    out: list[int] = []
    for t in gen:
        out.append(t)
        if t in eos_ids:
            break
    return out


def _eos_ids(model: LoadedModel) -> set[int]:
    eos = model.hf_model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if model.tokenizer.eos_token_id is not None:
        ids.add(model.tokenizer.eos_token_id)
    return ids


@dataclass(frozen=True, kw_only=True)
class RecordedStates:
    """States recorded while a batch generated. ``prefix``: per layer ``[n_shared, d]``, the prompt prefix
    every row shares (computed once, batch 1; empty when there was none); ``rest``: per layer
    ``[batch, width + n_generated, d]``, each row's own prompt tokens right-aligned at ``width``, then its
    completion."""

    prefix: list[Any]
    rest: list[Any]
    width: int

    @property
    def n_shared(self) -> int:
        return int(self.prefix[0].shape[0]) if self.prefix else 0

    def row(self, b: int, n_prompt: int, n_gen: int) -> Any:
        """``[n_layers, n_prompt + n_gen, d]`` of row ``b`` (``n_prompt`` counts the shared prefix too)."""
        import torch

        n_own = n_prompt - self.n_shared
        parts = []
        for i, r in enumerate(self.rest):  # plain loop: one [T, d] slice per layer
            own = r[b, self.width - n_own : self.width + n_gen]
            parts.append(torch.cat([self.prefix[i], own]) if self.prefix else own)
        return torch.stack(parts)


def forward_states_plain(
    model: LoadedModel, rows: list[list[int]], layers: tuple[int, ...]
) -> RecordedStates:
    """``forward_states`` as one nnsight trace over the left-padded batch (remote models, no shared
    prefix)."""
    ids, mask = _left_pad(rows, model.tokenizer.pad_token_id)
    hidden = trace_hidden(model, ids.to(model.input_device), mask.to(model.input_device), layers)
    return RecordedStates(prefix=[], rest=list(hidden), width=int(ids.shape[1]))


def forward_states(model: LoadedModel, rows: list[list[int]], layers: tuple[int, ...]) -> RecordedStates:
    """States at ``layers`` of one forward over a batch of token rows, no generation (prompt-only and
    teacher-forced captures); ``.row(b, len(rows[b]), 0)`` is row ``b``'s ``[len(layers), n_tokens, d]``.

    A local model runs its decoder stack only (no LM head: its logits are never needed here) with forward
    hooks, the prefix every row shares prefilled once at batch 1 (``core.capture.shared_prefix``). A remote
    model, or rows with no shared prefix worth it, take one nnsight trace (``trace_hidden``)."""
    pad_id = model.tokenizer.pad_token_id
    base = getattr(model.hf_model, "base_model", None)
    cache_arg = cache_argument(base) if base is not None and not model.is_remote else None
    n_shared = common_prefix_length(rows) if len(rows) > 1 and cache_arg else 0
    if n_shared < MIN_SHARED_PREFIX:
        return forward_states_plain(model, rows, layers)
    enc = shared_prefix_batch(rows, n_shared, pad_id, model.input_device)
    mask = enc["attention_mask"]
    buffers: dict[int, list[Any]] = {layer: [] for layer in layers}
    modules = [model.embed_module(), *model.layer_modules()]
    handles = []
    for layer in layers:

        def rec(_m: Any, _i: Any, out: Any, layer: int = layer) -> None:
            buffers[layer].append((out[0] if isinstance(out, tuple) else out).detach())

        handles.append(modules[layer].register_forward_hook(rec))
    try:
        cache = prefix_cache(base, rows[0][:n_shared], model.input_device)  # recorders: [1, n_shared, d]
        if not repeatable(cache):  # a cache type that cannot be copied into a batch: the plain trace
            for h in handles:
                h.remove()
            return forward_states_plain(model, rows, layers)
        base(
            input_ids=enc["input_ids"][:, n_shared:],
            attention_mask=mask,
            position_ids=(mask.cumsum(-1) - 1).clamp(min=0)[:, n_shared:],  # as the plain left-padded batch
            use_cache=True,
            **{cache_arg: expanded_cache(cache, len(rows))},
        )
    finally:
        for h in handles:
            h.remove()
    return RecordedStates(
        prefix=[buffers[layer][0][0] for layer in layers],
        rest=[buffers[layer][1] for layer in layers],
        width=int(mask.shape[1]) - n_shared,
    )


def _generate_rows(
    model: LoadedModel,
    prompts: list[list[int]],
    settings: GenerationSettings,
    interventions: Sequence[Intervention] | None,
    streamer: Any = None,
    record: tuple[int, ...] | None = None,
) -> tuple[list[list[int]], RecordedStates | None]:
    """Generate for a batch. With ``record``, also return the residual stream of those layers for every
    position (``RecordedStates``), recorded while generating.

    Recording appends each forward's layer outputs (the prefill, then one position per decoding step) and
    runs one more cached step for the final token, whose states ``generate`` never computes. That costs
    ≈ one decoding step instead of a second pass over the whole text. Without interventions, the prompt
    prefix every row shares (the chat template's system prompt and header) is prefilled once at batch 1
    and its cache copied into the batch (``core.capture.shared_prefix``): the same states and tokens, a
    shorter prefill.
    """
    import torch

    if model.is_remote:  # no weights here to hook: the same interventions run inside one nnsight block
        ids, mask = _left_pad(prompts, model.tokenizer.pad_token_id)
        ids, mask = ids.to(model.input_device), mask.to(model.input_device)
        torch.manual_seed(settings.seed)
        seqs = generate_traced(
            model,
            ids,
            mask,
            generate_kwargs=settings.to_generate_kwargs(),
            seed=settings.seed,
            interventions=interventions,
        )
        eos = _eos_ids(model)
        gens = [_trim_generated(seqs[b, ids.shape[1] :].tolist(), eos, 0) for b in range(len(prompts))]
        return gens, None  # states, when asked for, come from one traced pass (_build_trajectories)
    cache_kw = cache_argument(model.hf_model)  # "cache" (transformers 5) / "past_key_values" / None
    shareable = len(prompts) > 1 and not interventions and cache_kw is not None
    n_shared = common_prefix_length(prompts) if shareable else 0
    n_shared = n_shared if n_shared >= MIN_SHARED_PREFIX else 0
    buffers: dict[int, list[Any]] = {layer: [] for layer in record or ()}
    handles = []
    # with interventions there is no shared prefix: the batch is plain left padding, max(len) wide
    width_plain = max(len(p) for p in prompts)
    with intervene(model, interventions, n_prompt=width_plain):  # registered first: recorders see edits
        modules = [model.embed_module(), *model.layer_modules()]
        for layer in buffers:

            def rec(_m: Any, _i: Any, out: Any, layer: int = layer) -> None:
                buffers[layer].append((out[0] if isinstance(out, tuple) else out).detach())

            handles.append(modules[layer].register_forward_hook(rec))
        try:
            extra: dict[str, Any] = {}
            if n_shared:  # recorders see this forward first: [1, n_shared, d] per layer
                cache = prefix_cache(model.hf_model, prompts[0][:n_shared], model.input_device)
                if repeatable(cache):
                    extra[str(cache_kw)] = expanded_cache(cache, len(prompts))
                else:  # a cache type that cannot be copied into a batch: plain left padding
                    n_shared = 0
                    for buf in buffers.values():
                        buf.clear()
            enc = shared_prefix_batch(prompts, n_shared, model.tokenizer.pad_token_id, model.input_device)
            ids, mask = enc["input_ids"], enc["attention_mask"]
            torch.manual_seed(settings.seed)
            out = model.hf_model.generate(
                input_ids=ids,
                attention_mask=mask,
                pad_token_id=model.tokenizer.pad_token_id,
                streamer=streamer,
                return_dict_in_generate=True,
                **extra,
                **settings.to_generate_kwargs(),
            )
            seqs = out.sequences
            if record and seqs.shape[1] > ids.shape[1]:
                full_mask = torch.cat([mask, torch.ones_like(seqs[:, ids.shape[1] :])], dim=1)
                pos = (full_mask.cumsum(-1) - 1).clamp(min=0)[:, -1:]
                model.hf_model(
                    input_ids=seqs[:, -1:],
                    attention_mask=full_mask,
                    position_ids=pos,
                    use_cache=True,
                    **{cache_kw or "past_key_values": out.past_key_values},
                )
        finally:
            for h in handles:
                h.remove()
    eos = _eos_ids(model)
    gens = [
        _trim_generated(seqs[b, ids.shape[1] :].tolist(), eos, model.tokenizer.pad_token_id)
        for b in range(len(prompts))
    ]
    if not record:
        return gens, None
    width = ids.shape[1] - n_shared
    prefix = [buffers[layer][0][0] for layer in record] if n_shared else []
    rest = [torch.cat(buffers[layer][1 if n_shared else 0 :], dim=1) for layer in record]
    if any(r.shape[1] != seqs.shape[1] - n_shared for r in rest):  # unusual decoding loop -> traced pass
        return gens, None
    return gens, RecordedStates(prefix=prefix, rest=rest, width=width)


def _build_trajectories(
    model: LoadedModel,
    chats: list[list[Message]],
    prompts: list[list[int]],
    gens: list[list[int]],
    settings: GenerationSettings,
    layers: tuple[int, ...],
    template: str,
    dtype: str,
    interventions: Sequence[Intervention] | None,
    steering_meta: dict | None,
    recorded: RecordedStates | None = None,
) -> list[Trajectory]:
    """Slice per-row states out of a batch. ``recorded`` = states recorded during generation; without it,
    one nnsight trace over prompt + completion computes them."""
    if recorded is None:
        full = [p + g for p, g in zip(prompts, gens, strict=True)]
        ids, mask = _left_pad(full, model.tokenizer.pad_token_id)
        ids, mask = ids.to(model.input_device), mask.to(model.input_device)
        n_prompt_padded = ids.shape[1] - min(len(g) for g in gens) if gens else ids.shape[1]
        hidden = trace_hidden(model, ids, mask, layers, interventions, n_prompt_padded)  # [L, B, T, D]
    np_dtype = np.float16 if dtype == "float16" else np.float32
    tok = model.tokenizer
    trajs = []
    for b, (chat, p, g) in enumerate(zip(chats, prompts, gens, strict=True)):
        n = len(p) + len(g)
        if recorded is None:
            states = hidden[:, b, ids.shape[1] - n :, :]
        else:
            states = recorded.row(b, len(p), len(g))
        states = states.float().cpu().numpy().astype(np_dtype, copy=False)
        token_ids = np.asarray(p + g, dtype=np.int64)
        tokens = [tok.decode([t]) for t in token_ids.tolist()]
        trajs.append(
            Trajectory(
                model_fingerprint=model.fingerprint,
                model_name=model.name,
                messages=chat,
                settings=settings,
                token_ids=token_ids,
                tokens=tokens,
                n_prompt_tokens=len(p),
                completion=tok.decode(g, skip_special_tokens=True),
                spans=find_spans(tokens, len(p)),
                hidden=np.ascontiguousarray(states),
                layers=layers,
                template=template,
                meta={"steering": steering_meta} if steering_meta else {},
            )
        )
    return trajs


# ---- public API -----------------------------------------------------------------------------------
def capture(
    model: LoadedModel,
    messages: list[Message],
    settings: GenerationSettings = GenerationSettings(),
    *,
    template: str = "plain",
    layers: Iterable[int] | str | None = None,
    dtype: str = "float32",
    streamer: Any = None,
    interventions: Sequence[Intervention] | None = None,
    steering_meta: dict | None = None,
) -> Trajectory:
    """Generate a completion for one chat and capture its full trajectory."""
    import torch

    lay = resolve_layers(model, layers)
    prompt = _check_chat(model, messages, settings)
    with model.lock, torch.no_grad():
        gens, rec = _generate_rows(model, [prompt], settings, interventions, streamer, record=lay)
        return _build_trajectories(
            model,
            [messages],
            [prompt],
            gens,
            settings,
            lay,
            template,
            dtype,
            interventions,
            steering_meta,
            recorded=rec,
        )[0]


def capture_prompt(
    model: LoadedModel,
    messages: list[Message],
    *,
    template: str = "plain",
    layers: Iterable[int] | str | None = None,
    dtype: str = "float32",
) -> Trajectory:
    """Capture the prompt only (no generation): the states the model has when it starts to answer."""
    import torch

    lay = resolve_layers(model, layers)
    prompt = _check_chat(model, messages, None)
    settings = GenerationSettings(max_new_tokens=0)
    with model.lock, torch.no_grad():
        return _build_trajectories(
            model, [messages], [prompt], [[]], settings, lay, template, dtype, None, None
        )[0]


def capture_batch(
    model: LoadedModel,
    chats: list[list[Message]],
    settings: GenerationSettings = GenerationSettings(),
    *,
    batch_size: int = 8,
    layers: Iterable[int] | str | None = None,
    template: str = "plain",
    dtype: str = "float32",
    progress: Progress | None = None,
    generate: bool = True,
    interventions: Sequence[Intervention] | None = None,
) -> Iterator[Trajectory]:
    """Capture many chats; yields trajectories in the order of ``chats``.

    Batches are formed by length (``capture_batch_indexed``); a trajectory is yielded as soon as every
    earlier one is, so RAM holds about one batch when lengths follow the input order, more when they do
    not (use ``capture_batch_indexed`` to consume them as they come)."""
    pending: dict[int, Trajectory] = {}
    nxt = 0
    for i, traj in capture_batch_indexed(
        model,
        chats,
        settings,
        batch_size=batch_size,
        layers=layers,
        template=template,
        dtype=dtype,
        progress=progress,
        generate=generate,
        interventions=interventions,
    ):
        pending[i] = traj
        while nxt in pending:
            yield pending.pop(nxt)
            nxt += 1


def capture_batch_indexed(
    model: LoadedModel,
    chats: list[list[Message]],
    settings: GenerationSettings = GenerationSettings(),
    *,
    batch_size: int = 8,
    layers: Iterable[int] | str | None = None,
    template: str = "plain",
    dtype: str = "float32",
    progress: Progress | None = None,
    generate: bool = True,
    interventions: Sequence[Intervention] | None = None,
) -> Iterator[tuple[int, Trajectory]]:
    """``(index into chats, trajectory)`` batch by batch, batches sorted by prompt length so little is padded
    (``core.capture.batching``): at most ``batch_size`` rows (and, prompt-only, at most the token budget)
    per batch. Only one batch of states is in RAM."""
    import torch

    checks.whole("batch_size", batch_size, low=1, high=4096)
    lay = resolve_layers(model, layers)
    prompts = [_check_chat(model, c, settings if generate else None) for c in chats]  # fail before any work
    # generation: sort only (decoding steps are cheap per row, so fewer rows per batch would not pay);
    # prompt-only forwards: also cap the tokens per batch
    budget = None if generate else DEFAULT_TOKEN_BUDGET
    groups = length_batches([len(p) for p in prompts], batch_size=batch_size, token_budget=budget)
    done = 0
    for group in groups:
        chunk = [chats[i] for i in group]
        ptoks = [prompts[i] for i in group]
        with model.lock, torch.no_grad():
            rec = None
            if generate:
                gens, rec = _generate_rows(model, ptoks, settings, interventions, record=lay)
                s = settings
            else:
                gens, s = [[] for _ in ptoks], GenerationSettings(max_new_tokens=0)
                rec = None if interventions else forward_states(model, ptoks, lay)
            batch = _build_trajectories(
                model, chunk, ptoks, gens, s, lay, template, dtype, interventions, None, recorded=rec
            )
        yield from zip(group, batch, strict=True)
        done += len(chunk)
        if progress:
            progress(done, len(chats))


def generate_texts(
    model: LoadedModel,
    chats: list[list[Message]],
    settings: GenerationSettings = GenerationSettings(),
    *,
    batch_size: int = 8,
    interventions: Sequence[Intervention] | None = None,
    progress: Progress | None = None,
) -> list[str]:
    """Batched generation without capture (audits, sweeps); returns the decoded completions in the order of
    ``chats`` (batches are formed by prompt length, ``core.capture.batching``)."""
    import torch

    checks.whole("batch_size", batch_size, low=1, high=4096)
    prompts = [_check_chat(model, c, settings) for c in chats]
    groups = length_batches([len(p) for p in prompts], batch_size=batch_size, token_budget=None)
    results: list[list[str]] = []
    done = 0
    for group in groups:
        with model.lock, torch.no_grad():
            gens, _ = _generate_rows(model, [prompts[i] for i in group], settings, interventions)
        results.append([model.tokenizer.decode(g, skip_special_tokens=True) for g in gens])
        done += len(group)
        if progress:
            progress(done, len(chats))
    return restore_order(groups, results)


def generate_batch(
    model: LoadedModel,
    chats: list[list[Message]],
    settings: GenerationSettings = GenerationSettings(),
    *,
    interventions: Sequence[Intervention] | None = None,
) -> list[str]:
    """One batched ``generate`` over exactly these rows, in this order (no re-sorting): for interventions
    that differ per row (a sweep's per-row alphas). The caller picks rows of similar length."""
    import torch

    prompts = [_check_chat(model, c, settings) for c in chats]
    with model.lock, torch.no_grad():
        gens, _ = _generate_rows(model, prompts, settings, interventions)
    return [model.tokenizer.decode(g, skip_special_tokens=True) for g in gens]
