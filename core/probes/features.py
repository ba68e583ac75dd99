"""Probe datasets: labelled items (from the labelling database or a JSONL file) and their pooled states.

No torch here: items are ``core.labelled.LabelledItem`` records and features are numpy arrays
``[n_items, n_layers, d_model]``.
Capturing the states with a model lives in ``core.probes.collect``.

Positions (where in a trajectory a probe reads the residual stream):

* ``last_prompt``       the last prompt token -- the state the model answers from;
* ``post_instruction``  mean over the chat-template tokens after the user's text (``<|im_end|>``,
  ``<|im_start|>assistant`` ...) -- Arditi et al.'s post-instruction positions;
* ``completion``        mean over the response / generated tokens;
* ``reasoning``         mean over the ``<safety_reasoning>``/``<think>`` span (falls back to completion);
* ``mean_all``          mean over every token (CRAFT phase 1 pools the whole rollout this way).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.capture.store import ActivationStore
from core.capture.trajectory import Trajectory
from core.data import open_db
from core.data.repo import list_items
from core.errors import InputError
from core.explore.pooling import POOLINGS, pool_layers
from core.jsonl import read_jsonl
from core.labelled import LabelledItem, harm_class
from core.samples.corpus import CORPUS_FILE, NAMED_DATASETS, named_dataset_path
from core.samples.files import sample_data_dir
from core.samples.traces import read_traces

POSITIONS: tuple[str, ...] = ("last_prompt", "post_instruction", "completion", "reasoning", "mean_all")
POSITION_HELP = {
    "last_prompt": "state at the last prompt token (what the model knows when it starts to answer)",
    "post_instruction": "mean over the chat-template tokens after the user's text (Arditi et al.)",
    "completion": "mean over the response tokens (needs items with a response, or generated text)",
    "reasoning": "mean over the <safety_reasoning>/<think> span; the completion if there is none",
    "mean_all": "mean over every prompt and response token (CRAFT phase 1)",
}
LABELS3: tuple[str, ...] = ("safe", "unsafe", "rethink")
LABEL_ALIASES = {
    "harmful": "unsafe",
    "benign": "safe",
    "safe": "safe",
    "unsafe": "unsafe",
    "rethink": "rethink",
}
SAMPLE_FILE = sample_data_dir() / CORPUS_FILE  # the default: the training corpus (core.samples.corpus)


def items_from_rows(rows: Iterable[dict[str, Any]]) -> list[LabelledItem]:
    """Rows in the file schema (``{"id","prompt","response"?,"label","split",...}``) -> items."""
    out = []
    for n, r in enumerate(rows, start=1):
        prompt = str(r.get("prompt") or "").strip()
        if not prompt:
            raise InputError(f"Item {n} (id={r.get('id', '?')}) has no prompt.")
        label = r.get("label")
        label = LABEL_ALIASES.get(str(label).lower(), label) if label is not None else None
        if label is not None and label not in LABELS3:
            raise InputError(
                f"Item {r.get('id', n)} has label {r.get('label')!r}; use one of {list(LABELS3)} (or "
                "harmful / benign) or null."
            )
        out.append(LabelledItem.from_row({**r, "label": label}, number=n))
    return out


def load_items(
    *, file: str | Path | None = None, dataset: str | None = None, db_url: str | None = None
) -> tuple[str, list[LabelledItem]]:
    """(dataset name, items) from the labelling database (``dataset``) or a JSONL file (default: the project's
    sample data)."""
    if dataset:
        db = open_db(db_url)
        try:
            rows = [r.to_row() for r in list_items(db, dataset)]
        finally:
            db.close()
        return dataset, items_from_rows(rows)
    path = named_dataset_path(str(file)) or Path(file) if file else SAMPLE_FILE
    if not path.is_file():
        raise InputError(
            f"No dataset file at {path}: pass a JSONL file of labelled items, or import one on the "
            "Label page and pick it by name."
        )
    if path.parent == sample_data_dir() and path.name in NAMED_DATASETS.values():
        # a bundled dataset + the templated reasoning traces (CRAFT's head needs many)
        name = "sample_data" if path.name == CORPUS_FILE else path.stem
        return name, items_from_rows(read_jsonl(path) + read_traces())
    return path.stem, items_from_rows(read_jsonl(path))


def binary_items(items: Sequence[LabelledItem]) -> list[LabelledItem]:
    """Prompt-only items with a harmful / benign class (labels ``unsafe``/``harmful``, ``safe``/``benign``, or
    the kind when unlabelled) relabelled ``unsafe`` / ``safe``: what a harmful-vs-benign probe is scored
    on."""
    out = []
    for it in items:
        cls = harm_class(it.label, it.kind)
        if cls is None or it.response:
            continue
        out.append(replace(it, label="unsafe" if cls else "safe"))
    return out


def select(
    items: Sequence[LabelledItem],
    *,
    labels: Iterable[str] = ("safe", "unsafe"),
    kinds: Iterable[str] | None = None,
    responses: bool | None = None,
) -> list[LabelledItem]:
    """Filter items by label, kind and whether they carry a response (None = either)."""
    labels, kinds = set(labels), set(kinds) if kinds is not None else None
    return [
        it
        for it in items
        if it.label in labels
        and (kinds is None or it.kind in kinds)
        and (responses is None or bool(it.response) == responses)
    ]


def split_items(items: Sequence[LabelledItem]) -> tuple[list[LabelledItem], list[LabelledItem]]:
    """(train, validation) by the items' ``split`` field (anything but "validation"/"val"/"test" trains)."""
    return [it for it in items if not it.held_out], [it for it in items if it.held_out]


def dataset_hash(items: Sequence[LabelledItem]) -> str:
    """Content hash of what a probe learns from (ids, texts, labels, splits), order-independent."""
    rows = sorted(json.dumps([it.id, it.prompt, it.response, it.label, it.split]) for it in items)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


# ---- pooling ---------------------------------------------------------------------------------------------
def post_instruction_range(traj: Trajectory) -> tuple[int, int]:
    """Token range ``[start, n_prompt)`` of the template tokens after the last user message's text.

    Found on the decoded token strings (model-agnostic): the user's text is located in the concatenated prompt
    tokens, and every prompt token that ends after it belongs to the post-instruction suffix. Falls back to
    the last prompt token when the text cannot be found (e.g. a tokenizer that normalises whitespace).
    """
    n_prompt = max(traj.n_prompt_tokens, 1)
    toks = traj.tokens[:n_prompt]
    text = "".join(toks)
    user = traj.prompt_text.strip()
    at = text.rfind(user) if user else -1
    if at < 0:
        return n_prompt - 1, n_prompt
    end_char = at + len(user)
    ends = np.cumsum([len(t) for t in toks])  # char offset where token i ends
    first = int(np.searchsorted(ends, end_char, side="right"))  # first token ending strictly after the text
    first = min(max(first, 0), n_prompt - 1)
    return first, n_prompt


def pool(traj: Trajectory, positions: str, layers: Sequence[int] | None = None) -> np.ndarray:
    """Pooled state per layer ``[n_layers, d]`` (float32) at ``positions`` (see module docstring)."""
    if positions == "post_instruction":
        s, e = post_instruction_range(traj)
        rows = [traj.layers.index(x) for x in layers] if layers is not None else list(range(len(traj.layers)))
        return np.asarray(traj.hidden[rows, s:e, :], dtype=np.float32).mean(axis=1)
    if positions not in POOLINGS:
        raise InputError(f"Unknown positions {positions!r}; choose one of {list(POSITIONS)}.")
    return pool_layers(traj, positions, layers)


def pooled_features(trajs: Sequence[Trajectory], positions: str, layers: Sequence[int]) -> np.ndarray:
    """``[n_items, len(layers), d]`` float32 pooled states of many trajectories."""
    if not trajs:
        raise InputError("No trajectories to pool: capture the dataset's items first.")
    dims = {t.d_model for t in trajs}
    if len(dims) > 1:
        raise InputError(f"These trajectories have different hidden sizes {sorted(dims)}: use one model's.")
    return np.stack([pool(t, positions, layers) for t in trajs]).astype(np.float32, copy=False)


@dataclass(kw_only=True)
class FeatureSet:
    """Pooled states of a dataset's items, split into train and validation, with provenance."""

    train: np.ndarray  # [n_train, L, d]
    train_items: list[LabelledItem]
    val: np.ndarray  # [n_val, L, d] (n_val may be 0)
    val_items: list[LabelledItem]
    layers: tuple[int, ...]
    positions: str
    dataset: str
    dataset_hash: str
    model_fingerprint: str
    model_name: str
    template: str = "plain"
    system: str | None = None

    @property
    def y_train(self) -> list[str | None]:
        return [it.label for it in self.train_items]

    @property
    def y_val(self) -> list[str | None]:
        return [it.label for it in self.val_items]

    def meta(self) -> dict[str, Any]:
        """Provenance for artefacts: dataset, its content hash, positions, layers, model."""
        return {
            "dataset": self.dataset,
            "dataset_hash": self.dataset_hash,
            "positions": self.positions,
            "layers": list(self.layers),
            "model_fingerprint": self.model_fingerprint,
            "model_name": self.model_name,
            "template": self.template,
            "system": self.system,
            "train_ids": [it.id for it in self.train_items],
            "val_ids": [it.id for it in self.val_items],
        }

    def items_json(self) -> list[dict[str, Any]]:
        return [asdict(it) for it in self.train_items + self.val_items]


def features_from_store(
    store: ActivationStore,
    dataset: str,
    positions: str,
    *,
    fingerprint: str,
    model_name: str = "",
    labels: Sequence[str] = ("safe", "unsafe"),
    val_fraction: float = 0.25,
    seed: int = 0,
) -> FeatureSet:
    """Pooled states of labelled trajectories already in the activation store (no model run).

    Only trajectories of the model ``fingerprint`` are used. Split: a tag ``validation`` (or
    ``split:validation``) marks held-out items; without any such tag a seeded, stratified ``val_fraction`` is
    held out.
    """
    metas = [
        m for m in store.query(dataset=dataset) if m.label in labels and m.model_fingerprint == fingerprint
    ]
    if not metas:
        others = {m.model_name for m in store.query(dataset=dataset)}
        raise InputError(
            f"Store dataset {dataset!r} has no trajectories labelled {'/'.join(labels)} for this model"
            + (f" (it has trajectories of {sorted(others)})" if others else "")
            + ". Label trajectories on Trace / Explore, or pick another dataset."
        )
    tagged = any({"validation", "split:validation"} & set(m.tags) for m in metas)
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    if tagged:
        held = {m.key for m in metas if {"validation", "split:validation"} & set(m.tags)}
    else:
        for lab in labels:  # stratified random hold-out
            keys = [m.key for m in metas if m.label == lab]
            rng.shuffle(keys)
            held |= set(keys[: int(round(len(keys) * val_fraction))])
    items = [
        LabelledItem(
            id=m.item_id or m.key,
            prompt=m.prompt,
            label=m.label,
            response=m.completion or None,
            split="validation" if m.key in held else "train",
            tags=m.tags,
        )
        for m in metas
    ]
    trajs = [store.get(m.key) for m in metas]
    common = sorted(set.intersection(*(set(t.layers) for t in trajs)))
    feats = pooled_features(trajs, positions, common)
    tr = [i for i, it in enumerate(items) if it.split == "train"]
    va = [i for i, it in enumerate(items) if it.split == "validation"]
    return FeatureSet(
        train=feats[tr],
        train_items=[items[i] for i in tr],
        val=feats[va],
        val_items=[items[i] for i in va],
        layers=tuple(common),
        positions=positions,
        dataset=f"store:{dataset}",
        dataset_hash=dataset_hash(items),
        model_fingerprint=fingerprint,
        model_name=model_name,
        template=trajs[0].template,
    )
