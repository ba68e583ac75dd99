"""Widgets shared by the Trace and Explore pages: trajectory filters, streamed capture, progress,
labelling."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.capture.store import ActivationStore, StoredMeta
from core.capture.trajectory import GenerationSettings, Message, Trajectory
from core.explore.fit_stages import FitStage, stage_text
from core.jobs.eta import Eta

ALL = "(all)"
LABELS = ["safe", "unsafe", "rethink"]
EMPTY_STORE = (
    "No trajectories yet — trace a prompt on the **Trace** page or import a dataset on the **Label** page."
)


def trajectory_filter(store: ActivationStore, prefix: str) -> tuple[list[StoredMeta], dict[str, str | None]]:
    """Dataset / label / tag / model pickers over the store; returns the matching metadata (newest first)."""
    every = store.query()
    models = sorted({m.model_name for m in every})
    cols = st.columns([2, 1.3, 1.3, 2, 1])
    dataset = cols[0].selectbox("Dataset", [ALL, *store.datasets()], key=f"{prefix}_dataset")
    label = cols[1].selectbox("Label", [ALL, *LABELS, "(unlabelled)"], key=f"{prefix}_label")
    tag = cols[2].text_input("Tag", key=f"{prefix}_tag", placeholder="any")
    newest = models.index(every[0].model_name) + 1 if every else 0  # one map = one model: start on the newest
    model = cols[3].selectbox("Model", [ALL, *models], key=f"{prefix}_model", index=newest)
    limit = cols[4].number_input(
        "Max",
        2,
        5000,
        300,
        step=50,
        key=f"{prefix}_limit",
        help="Newest first. UMAP needs more trajectories than n_neighbors.",
    )
    metas = store.query(
        dataset=None if dataset == ALL else dataset,
        label=None if label in (ALL, "(unlabelled)") else label,
        tag=tag.strip() or None,
        model=None if model == ALL else model,
    )
    if label == "(unlabelled)":
        metas = [m for m in metas if m.label is None]
    return metas[: int(limit)], {"dataset": dataset, "label": label, "tag": tag, "model": model}


def progress_callback(
    text: str, unit: str = "steps"
) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A ``progress(done, total)`` callback drawing an ``st.progress`` bar on first use (call it from the
    script thread only), and a function that removes the bar. The bar's text has the rate and the time left
    measured so far (``core.jobs.eta``), or says the speed is being measured before the first step."""
    slot = st.empty()
    eta: dict[str, Eta] = {}

    def update(done: int, total: int) -> None:
        if "e" not in eta or eta["e"].total != total:
            eta["e"] = Eta(total=total, unit=unit)
        slot.progress(min(1.0, done / max(total, 1)), text=f"{text} {eta['e'].text(done)}")

    return update, slot.empty


class StageDisplay:
    """Shows a projection fit's stages (``core.explore.fit_stages``): a bar with the measured time left where
    progress is observable (the layout's epochs), otherwise a spinner with the elapsed time and the stage's
    name (compiling kernels, the kNN graph). Call it from the script thread only; ``clear()`` when done."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.slot = st.empty()
        self.last: FitStage | None = None
        self._spinner: Any = None
        self._spinning: str | None = None

    def waiting(self, text: str) -> None:
        """An indeterminate step before the first stage (e.g. reading the hidden states); a cached fit that
        returns within half a second never shows it."""
        self._spin("waiting", f"{self.title} {text}")

    def __call__(self, ev: FitStage) -> None:
        self.last = ev
        text = f"{self.title} {stage_text(ev)}"
        if ev.finished:
            return
        if ev.fraction is not None:
            self._stop()
            self.slot.progress(ev.fraction, text=text)
        else:
            self._spin(ev.name, text)

    def _spin(self, name: str, text: str) -> None:
        if self._spinning == name:
            return
        self._stop()
        self._spinner = self.slot.container().spinner(text, show_time=True)
        self._spinner.__enter__()
        self._spinning = name

    def _stop(self) -> None:
        if self._spinner is not None:
            self._spinner.__exit__(None, None, None)
        self._spinner, self._spinning = None, None

    def clear(self) -> None:
        self._stop()
        self.slot.empty()


def streamed_capture(
    model, messages: list[Message], settings: GenerationSettings, template: str
) -> Trajectory:
    """Generate + capture in a worker thread; the completion is streamed into the page as it is produced.

    The worker never calls ``st.*``: it only feeds a ``TextIteratorStreamer`` that this (script) thread
    consumes with ``st.write_stream``. Errors in the worker are re-raised here.
    """
    from transformers import TextIteratorStreamer

    from core.capture.tracing import capture

    streamer = TextIteratorStreamer(model.tokenizer, skip_prompt=True, skip_special_tokens=True)
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["traj"] = capture(model, messages, settings, template=template, streamer=streamer)
        except BaseException as exc:  # noqa: BLE001 - handed to the script thread
            box["error"] = exc
            streamer.end()  # unblock st.write_stream

    worker = threading.Thread(target=work, name="reasonscope-capture", daemon=True)
    worker.start()
    chunks = iter(streamer)
    with st.chat_message("assistant"):
        with st.spinner("Reading the prompt and computing the first token…"):
            first = next(chunks, "")  # the prefill: nothing streams until the first token exists
        st.write_stream(itertools.chain([first], chunks))
    worker.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["traj"]  # type: ignore[return-value]


def add_to_dataset(
    store: ActivationStore,
    traj: Trajectory,
    key: str,
    *,
    dataset: str,
    label: str | None,
    tags: tuple[str, ...],
    who: str | None,
) -> str:
    """Label a stored trajectory: store index (what Explore filters on) and, when the labelling database is
    available, an item linked to the trajectory (with label history and author). Returns a status line."""
    from core.errors import InputError

    if not dataset.strip():
        raise InputError("Type a dataset name first (e.g. 'traced').")
    dataset = dataset.strip()
    store.annotate(key, dataset=dataset, label=label, tags=tags)
    try:
        from core.data.db import open_db
        from core.data.importer import import_table
        from core.data.io import RawTable
    except ImportError:
        return f"Added to dataset **{dataset}** with label **{label or 'none'}** (store index)."
    row = {
        "id": f"trace-{key[:16]}",
        "prompt": traj.prompt_text,
        "response": traj.completion,
        "label": label,
        "source": "trace page",
        "category": "traced",
        "trajectory_key": key,
        "tags": list(tags),
    }
    report = import_table(
        open_db(),
        RawTable("trace page", "jsonl", list(row), [(1, row)]),
        dataset,
        annotator=who or "anonymous",
        on_error="skip",
    )
    extra = "" if report.imported else " (the dataset already had this item; relabel it on the Label page)"
    return f"Added to dataset **{dataset}** with label **{label or 'none'}**{extra}."
