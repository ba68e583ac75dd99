"""The `reasonscope` CLI: help everywhere, batch capture from JSONL, clean errors (no tracebacks)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from core.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("args", [["--help"], ["model", "--help"], ["trace", "--help"], ["store", "--help"]])
def test_help(args):
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "Usage" in res.output


def test_trace_store_export(rs_home, tiny_model_dir, tmp_path):
    out = tmp_path / "t.safetensors"
    res = runner.invoke(
        app,
        [
            "trace",
            "hello there",
            "-m",
            str(tiny_model_dir),
            "--max-new-tokens",
            "4",
            "--export",
            str(out),
            "--dataset",
            "cli",
        ],
    )
    assert res.exit_code == 0, res.output
    assert out.is_file()
    ls = runner.invoke(app, ["store", "ls", "--dataset", "cli"])
    assert "hello there" in ls.output


def test_batch_trace_from_jsonl(rs_home, tiny_model_dir, tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(
        "\n".join(json.dumps({"id": f"x{i}", "prompt": f"prompt {i}", "label": "safe"}) for i in range(3))
    )
    res = runner.invoke(
        app,
        [
            "trace",
            "--prompts",
            str(f),
            "-m",
            str(tiny_model_dir),
            "--max-new-tokens",
            "3",
            "--batch-size",
            "2",
            "--layers",
            "0,2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["stored"] == 3


def test_malformed_jsonl_names_the_line(rs_home, tiny_model_dir, tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"prompt": "ok"}\n{"prompt": broken}\n')
    res = runner.invoke(app, ["trace", "--prompts", str(f), "-m", str(tiny_model_dir)])
    assert res.exit_code == 2 and "line 2" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize(
    "args, needle",
    [
        (["trace", "hi", "-m", "/no/such/folder"], "does not exist"),
        (["trace", "hi", "-m", "some-org/not-cached-model"], "hub could not be reached"),
        (["trace", "   ", "-m", "TINY"], "prompt is empty"),
        (["trace", "hi", "-m", "TINY", "--layers", "0,77"], "layers 0..2"),
    ],
)
def test_bad_input_messages(rs_home, tiny_model_dir, args, needle, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = [str(tiny_model_dir) if a == "TINY" else a for a in args]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
