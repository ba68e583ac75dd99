"""The templated reasoning traces: up to date with their generator, safe to ship, split by prompt and
phrasing."""

from __future__ import annotations

import json
from collections import Counter

from core.probes.features import load_items, select, split_items
from core.samples import traces as st


def _prompts() -> list[dict]:
    return [json.loads(x) for x in (st.SAMPLE_DIR / "prompts.jsonl").read_text().splitlines() if x.strip()]


def test_file_matches_generator():
    assert st.TRACES_FILE.read_text(encoding="utf-8") == st.render(st.build_traces(_prompts())), (
        "sample_data/reasoning_traces.jsonl is stale: run `python -m core.samples.traces`"
    )


def test_every_harmful_request_gets_three_traces_and_every_benign_one_a_helpful_trace():
    prompts = _prompts()
    traces = st.read_traces()
    n_h = sum(p["kind"] == "harmful" for p in prompts)
    n_b = sum(p["kind"] == "benign_counterpart" for p in prompts)
    c = Counter(t["label"] for t in traces)
    assert c == {"safe": n_h + n_b, "unsafe": n_h, "rethink": n_h}
    assert len({t["id"] for t in traces}) == len(traces)
    split_of = {p["id"]: p["split"] for p in prompts}
    for t in traces:
        assert t["split"] == split_of[t["id"].split("-", 2)[2]]
        assert t["source"] == "reasonscope-authored" and t["kind"] == "response"


def test_compliant_traces_never_contain_specifics():
    for t in st.read_traces():
        if t["label"] in ("unsafe", "rethink"):
            assert st.ELIDED in t["response"], t["id"]
        assert t["response"].startswith("<safety_reasoning>") and t["response"].endswith("</answer>")


def test_validation_uses_only_unseen_phrasings():
    by_split: dict[str, set[str]] = {"train": set(), "validation": set()}
    for t in st.read_traces():
        by_split[t["split"]].add(next(x for x in t["tags"] if x.startswith("phrasing-")))
    assert by_split["train"] == {f"phrasing-{i}" for i in st.TRAIN_PHRASINGS}
    assert by_split["validation"] == {f"phrasing-{i}" for i in st.VALIDATION_PHRASINGS}


def test_minimal_pairs_add_their_hand_written_responses():
    _, items = load_items(file="minimal-pairs")
    resp = select(items, labels=("safe", "unsafe", "rethink"), responses=True)
    assert len(resp) == len(st.read_traces()) + 50


def test_sample_items_include_the_traces():
    _, items = load_items()
    resp = select(items, labels=("safe", "unsafe", "rethink"), responses=True)
    train, val = split_items(resp)
    assert len(resp) == len(st.read_traces())  # the default dataset (the corpus) holds prompts only
    assert len(val) >= 130 and len(train) >= 400
