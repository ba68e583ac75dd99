"""Capture the pooled states of labelled items with a model (the model-bound half of probe datasets).

* Items with a ``response`` are **teacher-forced**: prompt + given response go through one traced forward
  (``core.capture.tracing.forward_states``), so response-level labels (safe / unsafe / rethink traces) get the
  states of that very text.
* Items without a response are captured prompt-only, or -- with ``max_new_tokens > 0`` -- with the model's
  own greedy completion (``core.capture.tracing.capture_batch``).

Pooled features are cached as one safetensors file per (model, dataset content, positions, layers, template,
generation) under ``artefacts_dir()/features``, so re-training a probe never re-runs the model.
torch is only imported inside functions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file

from core.artefacts import write_tensor_file
from core.capture.batching import length_batches
from core.capture.models import LoadedModel
from core.capture.templates import build_messages
from core.capture.tracing import capture_batch_indexed, forward_states, resolve_layers
from core.capture.trajectory import GenerationSettings, Trajectory, find_spans
from core.config import artefacts_dir
from core.errors import InputError, StoreError
from core.labelled import LabelledItem
from core.probes.features import FeatureSet, dataset_hash, pool, split_items

Progress = Callable[[int, int], None]


def _forced_ids(
    model: LoadedModel, item: LabelledItem, template: str, system: str | None = None
) -> tuple[list[dict], list[int], int]:
    """(messages, token ids of prompt [+ response], n_prompt_tokens)."""
    messages = build_messages(item.prompt, template=template, system=system)
    prompt_ids = model.encode_chat(messages)
    if not item.response:
        return messages, prompt_ids, len(prompt_ids)
    full = model.encode_chat(
        messages + [{"role": "assistant", "content": item.response}], add_generation_prompt=False
    )
    if (
        full[: len(prompt_ids)] != prompt_ids
    ):  # template renders differently: append the response tokens instead
        full = prompt_ids + model.tokenizer(item.response, add_special_tokens=False)["input_ids"]
    return messages, full, len(prompt_ids)


def capture_forced(
    model: LoadedModel,
    items: Sequence[LabelledItem],
    *,
    layers: Sequence[int] | None = None,
    template: str = "plain",
    system: str | None = None,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> list[Trajectory]:
    """Trajectories of prompt + given response (or prompt only), in item order; one traced forward per batch
    (batches formed by length, ``core.capture.batching``), no generation."""
    out: list[Trajectory | None] = [None] * len(items)
    for i, traj in iter_forced(
        model,
        items,
        layers=layers,
        template=template,
        system=system,
        batch_size=batch_size,
        progress=progress,
    ):
        out[i] = traj
    return out  # type: ignore[return-value]  # every slot filled: the batches cover every item


def iter_forced(
    model: LoadedModel,
    items: Sequence[LabelledItem],
    *,
    layers: Sequence[int] | None = None,
    template: str = "plain",
    system: str | None = None,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> Iterator[tuple[int, Trajectory]]:
    """``(index into items, trajectory)`` batch by batch in length order: only one batch of states is alive
    when the consumer pools and drops them (``collect_features`` does)."""
    import torch

    lay = resolve_layers(model, layers)
    rows = [_forced_ids(model, it, template, system) for it in items]
    limit = model.context_window
    for it, (_, ids, _) in zip(items, rows, strict=True):
        if len(ids) > limit:
            raise InputError(
                f"Item {it.id} is {len(ids)} tokens, over the model's context window ({limit}); "
                "shorten it or drop it from the dataset."
            )
    tok = model.tokenizer
    done = 0
    # sorted by length with a token budget per forward: little padding (results go back in item order)
    for group in length_batches([len(r[1]) for r in rows], batch_size=batch_size):
        chunk = [rows[i] for i in group]
        with model.lock, torch.no_grad():
            recorded = forward_states(model, [r for _, r, _ in chunk], lay)
        for b, (i, (messages, r, n_prompt)) in enumerate(zip(group, chunk, strict=True)):
            states = recorded.row(b, len(r), 0).float().cpu().numpy()  # [L, n_tokens, d]
            tokens = [tok.decode([t]) for t in r]
            item = items[i]
            settings = GenerationSettings(max_new_tokens=0)
            yield (
                i,
                Trajectory(
                    model_fingerprint=model.fingerprint,
                    model_name=model.name,
                    messages=messages
                    + ([{"role": "assistant", "content": item.response}] if item.response else []),
                    settings=settings,
                    token_ids=np.asarray(r, dtype=np.int64),
                    tokens=tokens,
                    n_prompt_tokens=n_prompt,
                    completion=item.response or "",
                    spans=find_spans(tokens, n_prompt),
                    hidden=states,
                    layers=lay,
                    template=template,
                    meta={"teacher_forced": bool(item.response), "item_id": item.id},
                ),
            )
        done += len(group)
        if progress:
            progress(done, len(rows))


def _cache_path(key: dict[str, Any]) -> Path:
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return artefacts_dir() / "features" / f"{h}.safetensors"


def collect_features(
    model: LoadedModel,
    items: Sequence[LabelledItem],
    *,
    positions: str = "last_prompt",
    layers: Sequence[int] | None = None,
    template: str = "plain",
    system: str | None = None,
    dataset: str = "dataset",
    max_new_tokens: int = 0,
    batch_size: int = 8,
    progress: Progress | None = None,
    cache: bool = True,
) -> FeatureSet:
    """Pooled states ``[n, L, d]`` of ``items`` at ``positions``, split by the items' ``split`` field."""
    if not items:
        raise InputError(f"Dataset {dataset!r} has no labelled items to train on: label some items first.")
    lay = resolve_layers(model, layers)
    key = {
        "fp": model.fingerprint,
        "data": dataset_hash(items),
        "positions": positions,
        "layers": list(lay),
        "template": template,
        "system": system,
        "gen": max_new_tokens,
        "v": 1,
    }
    path = _cache_path(key)
    ordered = list(items)
    if cache and path.is_file():
        feats = load_file(str(path))["features"]
    else:
        feats = _capture_pooled(
            model, ordered, lay, positions, template, system, max_new_tokens, batch_size, progress
        )
        if cache:
            _save_atomic(path, feats, key)
    train, val = split_items(ordered)
    index = {id(it): i for i, it in enumerate(ordered)}
    tr = (
        feats[[index[id(it)] for it in train]]
        if train
        else np.zeros((0, len(lay), model.d_model), np.float32)
    )
    va = feats[[index[id(it)] for it in val]] if val else np.zeros((0, len(lay), model.d_model), np.float32)
    return FeatureSet(
        train=tr,
        train_items=train,
        val=va,
        val_items=val,
        layers=lay,
        positions=positions,
        dataset=dataset,
        dataset_hash=key["data"],
        model_fingerprint=model.fingerprint,
        model_name=model.name,
        template=template,
        system=system,
    )


def _capture_pooled(
    model: LoadedModel,
    items: list[LabelledItem],
    layers: tuple[int, ...],
    positions: str,
    template: str,
    system: str | None,
    max_new_tokens: int,
    batch_size: int,
    progress: Progress | None,
) -> np.ndarray:
    """Pooled states ``[n, L, d]`` in item order. Each batch's trajectories are pooled as they come and
    dropped, so RAM holds one batch of full states (not every item's ``[L, T, d]`` at once)."""
    if len({it.id for it in items}) != len(items):
        raise InputError("Item ids must be unique within a dataset; found duplicates.")
    forced = [i for i, it in enumerate(items) if it.response or max_new_tokens <= 0]
    gen = [i for i, it in enumerate(items) if not it.response and max_new_tokens > 0]
    total = len(items)
    feats = np.zeros((total, len(layers), model.d_model), np.float32)

    def tick(n_done: int, offset: int) -> None:
        if progress:
            progress(offset + n_done, total)

    for j, t in iter_forced(
        model,
        [items[i] for i in forced],
        layers=layers,
        template=template,
        system=system,
        batch_size=batch_size,
        progress=lambda a, _b: tick(a, 0),
    ):
        feats[forced[j]] = pool(t, positions, layers)
    if gen:
        chats = [build_messages(items[i].prompt, template=template, system=system) for i in gen]
        settings = GenerationSettings(max_new_tokens=max_new_tokens)
        for j, t in capture_batch_indexed(
            model,
            chats,
            settings,
            batch_size=batch_size,
            layers=layers,
            template=template,
            progress=lambda a, _b: tick(a, len(forced)),
        ):
            feats[gen[j]] = pool(t, positions, layers)
    return feats


def _save_atomic(path: Path, feats: np.ndarray, key: dict[str, Any]) -> None:
    try:
        write_tensor_file(
            path,
            {"features": np.asarray(feats, dtype=np.float32)},
            metadata={"reasonscope_features": json.dumps(key)},
        )
    except StoreError:
        pass  # a cache miss next time is fine; never fail training over it
