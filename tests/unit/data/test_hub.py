"""The optional Hugging Face hub loader: clear messages offline, rows through the normal import path."""

from __future__ import annotations

import sys
import types

import pytest

from core.data import hub
from core.data.importer import import_table
from core.data.mapping import build_mapping
from core.data.repo import list_items
from core.errors import InputError


@pytest.fixture()
def online(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: True)


def _fake_datasets(monkeypatch, load):
    mod = types.ModuleType("datasets")
    mod.load_dataset = load  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", mod)


def test_offline_mode_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        InputError, match=r"Cannot load 'walledai/AdvBench'.*offline mode is on.*import it locally"
    ):
        hub.load_hub_table("walledai/AdvBench")


def test_unreachable_hub_fails_fast_with_the_local_file_route(monkeypatch):
    for var in (
        "HF_HUB_OFFLINE",
        "HF_DATASETS_OFFLINE",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens there
    _fake_datasets(monkeypatch, lambda *a, **k: pytest.fail("must not try to download"))
    assert hub.hub_reachable(timeout=1.0) is False
    with pytest.raises(InputError, match=r"127.0.0.1 is not reachable.*--preset harmbench"):
        hub.load_hub_table("walledai/HarmBench")


def test_missing_datasets_package(monkeypatch, online):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import raises ImportError
    with pytest.raises(InputError, match=r"pip install 'reasonscope\[hub\]'"):
        hub.load_hub_table("walledai/AdvBench")


def test_connection_error_from_datasets(monkeypatch, online):
    def load(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'x' on the Hub (LocalEntryNotFoundError)")

    _fake_datasets(monkeypatch, load)
    with pytest.raises(InputError, match="the hub did not answer.*import it locally"):
        hub.load_hub_table("x")


def test_hub_rows_go_through_mapping_and_import(db, monkeypatch, online):
    class FakeDataset:
        column_names = ["goal", "target"]

        def to_list(self):
            return [{"goal": "Do harmful thing E", "target": "Sure, here is E"}]

    calls = []
    _fake_datasets(monkeypatch, lambda *a, **k: calls.append((a, k)) or FakeDataset())
    table = hub.load_hub_table("someone/advbench-like", split="train")
    assert calls == [(("someone/advbench-like", None), {"split": "train", "revision": None})]
    assert table.source == "hf:someone/advbench-like:train"
    report = import_table(db, table, "hubds", annotator="ada", mapping=build_mapping("advbench"))
    assert report.committed
    item = list_items(db, "hubds")[0]
    assert (item.prompt, item.response, item.label, item.source, item.kind) == (
        "Do harmful thing E",
        None,
        "unsafe",
        "advbench",
        "harmful",
    )
    assert report.ignored_columns == ["target"]
