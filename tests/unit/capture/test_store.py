from __future__ import annotations

import os

import numpy as np
import pytest

from core.capture.export import load_trajectory_file
from core.capture.store import ActivationStore
from core.capture.templates import build_messages
from core.capture.tracing import capture
from core.capture.trajectory import GenerationSettings, find_spans
from core.errors import StoreError


@pytest.fixture()
def traj(tiny_model):
    return capture(tiny_model, build_messages("hello"), GenerationSettings(max_new_tokens=5))


def test_round_trip_and_cache_hit(tmp_path, traj):
    store = ActivationStore(tmp_path / "s")
    key = store.put(traj, dataset="demo", label="safe", tags=["a", "b"])
    assert key == traj.key and store.has(key)
    assert store.put(traj) == key  # same content -> same key, no second entry
    assert len(store.query()) == 1
    back = store.get(key)
    assert isinstance(back.hidden, np.memmap)  # memory-mapped, not read into RAM
    np.testing.assert_array_equal(np.asarray(back.hidden), traj.hidden)
    assert back.completion == traj.completion and back.spans == traj.spans and back.tokens == traj.tokens
    assert [m.key for m in store.query(tag="b")] == [key]
    assert store.query(label="unsafe") == []
    store.annotate(key, label="unsafe")
    assert store.meta(key).label == "unsafe"


def test_export_format(tmp_path, traj):
    from safetensors import safe_open

    store = ActivationStore(tmp_path / "s")
    key = store.put(traj)
    out = store.export(key, tmp_path / "t.safetensors")
    with safe_open(str(out), framework="numpy") as f:
        assert f.get_tensor("hidden_states").shape == traj.hidden.shape
        assert f.get_tensor("input_ids").tolist() == traj.token_ids.tolist()
        meta = f.metadata()["reasonscope"]
    assert '"n_prompt_tokens"' in meta and '"completion"' in meta
    assert load_trajectory_file(out).n_prompt_tokens == traj.n_prompt_tokens


def test_deleted_file_gives_clear_error_and_repair(tmp_path, traj):
    store = ActivationStore(tmp_path / "s")
    key = store.put(traj)
    store.path_of(key).unlink()
    with pytest.raises(StoreError, match="store repair"):
        store.get(key)
    assert store.repair().dropped == [key] and store.query() == []


def test_unwritable_store_says_what_to_do(tmp_path, traj):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")  # a store root below a file can never be created (works as root too)
    with pytest.raises(PermissionError, match="REASONSCOPE_HOME"):
        ActivationStore(blocker / "s").put(traj)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_store_says_what_to_do(tmp_path, traj):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(PermissionError, match="REASONSCOPE_HOME"):
        ActivationStore(ro / "s").put(traj)


def test_write_failure_keeps_existing_entries(tmp_path, traj, tiny_model, monkeypatch):
    store = ActivationStore(tmp_path / "s")
    key = store.put(traj)
    other = capture(tiny_model, build_messages("another"), GenerationSettings(max_new_tokens=3))

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.fsio._write_all", disk_full)
    with pytest.raises(StoreError, match="no space left"):
        store.put(other)
    assert store.has(key) and not store.has(other.key)
    assert not list((tmp_path / "s").rglob(".tmp-*"))  # no half-written files left


def test_find_spans_with_tags():
    tokens = [
        "<p>",
        "q",
        "<safety_reasoning>",
        "it is",
        " fine",
        "</safety_reasoning>",
        "<answer>",
        "ok",
        "</answer>",
    ]
    spans = {s.name: (s.start, s.end) for s in find_spans(tokens, 2)}
    assert spans["prompt"] == (0, 2) and spans["completion"] == (2, 9)
    assert spans["reasoning"] == (3, 5)
    assert spans["answer"] == (7, 8)
    # unclosed tag runs to the end
    spans = {s.name: (s.start, s.end) for s in find_spans(["p", "<think>", "a", "b"], 1)}
    assert spans["reasoning"] == (2, 4)
