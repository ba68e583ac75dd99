"""`reasonscope store …` and `trace --export` with hostile keys and destinations: refused with one clear
message, nothing read from or written outside the store, nothing stored when the destination is bad."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.capture.store import ActivationStore
from core.cli.main import app

runner = CliRunner()


def _clean_failure(res) -> None:
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception


@pytest.mark.parametrize("key", ["../../outside", "/etc/passwd", "..", "abc\x00def", "0" * 31, "Z" * 32])
def test_store_export_refuses_bad_keys(rs_home: Path, tmp_path: Path, key: str) -> None:
    secret = tmp_path / "outside.safetensors"
    secret.write_bytes(b"not yours")
    out = tmp_path / "o.safetensors"
    res = runner.invoke(app, ["store", "export", key, str(out)])
    _clean_failure(res)
    assert "32 lowercase hex" in res.output and not out.exists()


def test_store_export_to_a_bad_destination(rs_home: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    res = runner.invoke(app, ["trace", "hi", "-m", str(tiny_model_dir), "--max-new-tokens", "2"])
    assert res.exit_code == 0, res.output
    (key,) = [m.key for m in ActivationStore().query()]
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for dest in (str(blocker / "o.safetensors"), str(tmp_path), "o\x00.safetensors"):
        res = runner.invoke(app, ["store", "export", key, dest])
        _clean_failure(res)
        assert "Error" in res.output
    assert blocker.read_text() == "x"


def test_trace_export_to_unwritable_path_fails_before_storing(
    rs_home: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = runner.invoke(
        app, ["trace", "hi", "-m", str(tiny_model_dir), "--export", str(blocker / "sub" / "t.safetensors")]
    )
    _clean_failure(res)
    assert "--export" in res.output and "cannot write" in res.output and "Loading model" not in res.output
    assert ActivationStore().query() == []  # nothing generated, nothing stored


def test_store_repair_rebuilds_a_corrupt_index(rs_home: Path, tiny_model_dir: Path) -> None:
    res = runner.invoke(
        app, ["trace", "hi", "-m", str(tiny_model_dir), "--max-new-tokens", "2", "--dataset", "d1"]
    )
    assert res.exit_code == 0, res.output
    store = ActivationStore()
    before = [(m.key, m.dataset, m.prompt) for m in store.query()]
    store._db_path.write_bytes(b"\x00garbage" * 512)
    res = runner.invoke(app, ["store", "ls"])
    _clean_failure(res)
    assert "store repair" in res.output
    res = runner.invoke(app, ["store", "repair"])
    assert res.exit_code == 0, res.output
    assert "rebuilt the index" in res.output and "indexed 1" in res.output
    assert [(m.key, m.dataset, m.prompt) for m in store.query()] == before
