"""Seed the store with demo trajectories from the project's sample data, so a first visit has something
to look at (Explore needs a few dozen trajectories to show a map)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from core.capture.models import LoadedModel
from core.capture.store import ActivationStore
from core.capture.templates import build_messages
from core.capture.tracing import capture_batch_indexed
from core.capture.trajectory import GenerationSettings
from core.jsonl import read_prompt_file

SAMPLE_PROMPTS = Path(__file__).resolve().parents[2] / "sample_data" / "prompts.jsonl"
DEMO_DATASET = "demo"
DEMO_NEW_TOKENS = 24  # tokens each demo answer gets (enough to see the answer take a direction)


def demo_items(n: int = 48, path: Path = SAMPLE_PROMPTS) -> list[dict]:
    """A balanced pick of harmful / benign / borderline prompt items (no response-level items)."""
    items = [it for it in read_prompt_file(path) if not it.get("response")]
    by_kind: dict[str, list[dict]] = {}
    for it in items:
        by_kind.setdefault(str(it.get("kind", it.get("label"))), []).append(it)
    picked: list[dict] = []
    kinds = sorted(by_kind)
    i = 0
    while len(picked) < n and any(by_kind.values()):
        bucket = by_kind[kinds[i % len(kinds)]]
        if bucket:
            picked.append(bucket.pop(0))
        i += 1
    return picked


def seed_demo_store(
    model: LoadedModel,
    store: ActivationStore,
    *,
    n: int = 48,
    max_new_tokens: int = DEMO_NEW_TOKENS,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    items = demo_items(n)
    chats = [build_messages(it["prompt"]) for it in items]
    settings = GenerationSettings(max_new_tokens=max_new_tokens)
    puts: list[tuple[int, Future[str]]] = []
    # length-sorted batches; each batch's trajectories are written by one writer thread while the next batch
    # generates (torch and file I/O both release the GIL), so the store's writes and fsyncs overlap the
    # compute instead of adding to it. At most two batches of states are in RAM.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reasonscope-demo-store") as writer:
        batches = capture_batch_indexed(model, chats, settings, batch_size=batch_size, progress=progress)
        for i, traj in batches:
            it = items[i]
            tags = [t for t in (it.get("kind"), it.get("category")) if t]
            kw = {"dataset": DEMO_DATASET, "label": it.get("label"), "tags": tags, "item_id": it.get("id")}
            puts.append((i, writer.submit(store.put, traj, **kw)))
            if len(puts) > 2 * batch_size:  # a slow disk: wait for the older writes (bounded RAM, errors now)
                puts[-2 * batch_size - 1][1].result()
    keys: list[str | None] = [None] * len(items)
    for i, fut in puts:
        keys[i] = fut.result()  # a failed write raises here (what was stored before it stays stored)
    return [k for k in keys if k is not None]  # the items' order
