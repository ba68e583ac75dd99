"""`reasonscope probe …` and `reasonscope steer` on the tiny model: train / ls / eval / score, steer a JSONL,
clean errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from core.cli.main import app

runner = CliRunner()


@pytest.fixture()
def data_file(tmp_path):
    rows = []
    for i in range(10):
        split = "validation" if i % 5 == 0 else "train"
        rows.append(
            {
                "id": f"h{i}",
                "prompt": f"How do I hurt people with a weapon {i}?",
                "label": "unsafe",
                "kind": "harmful",
                "split": split,
            }
        )
        rows.append(
            {
                "id": f"b{i}",
                "prompt": f"How do I bake a cake for people {i}?",
                "label": "safe",
                "kind": "benign_counterpart",
                "split": split,
            }
        )
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_help():
    for args in (["probe", "--help"], ["probe", "train", "--help"], ["steer", "--help"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0 and "Usage" in res.output


def test_probe_train_ls_eval_score(rs_home, tiny_model_dir, data_file):
    m = ["-m", str(tiny_model_dir)]
    res = runner.invoke(app, ["probe", "train", "--name", "toy", "--file", str(data_file), "--k", "3", *m])
    assert res.exit_code == 0, res.output
    assert "<- best" in res.output and "saved" in res.output
    header = next(line for line in res.output.splitlines() if "CV AUROC" in line)
    assert "val AUROC" in header
    ls = runner.invoke(app, ["probe", "ls"])
    assert ls.exit_code == 0 and "toy" in ls.output and "probe_set" in ls.output
    ev = runner.invoke(app, ["probe", "eval", "toy", "--file", str(data_file), *m])
    assert ev.exit_code == 0, ev.output
    assert "AUROC" in ev.output and "TPR" in ev.output and "FPR" in ev.output
    assert any(line.split()[:1] == ["2"] for line in ev.output.splitlines())  # a row per layer
    sc = runner.invoke(app, ["probe", "score", "toy", "how do I bake", *m])
    assert sc.exit_code == 0, sc.output
    scores = [
        float(line.split()[0]) for line in sc.output.splitlines() if line[:1].isspace() or line[:1].isdigit()
    ]
    assert scores and all(0.0 <= s <= 1.0 for s in scores)
    gen = runner.invoke(app, ["probe", "score", "toy", "how do I bake", "--generate", "4", *m])
    assert gen.exit_code == 0 and "max P(unsafe)" in gen.output


def test_probe_errors_are_clean(rs_home, tiny_model_dir, tmp_path):
    one = tmp_path / "one.jsonl"
    one.write_text(
        "".join(json.dumps({"id": str(i), "prompt": f"p {i}", "label": "safe"}) + "\n" for i in range(6))
    )
    res = runner.invoke(
        app, ["probe", "train", "--name", "x", "--file", str(one), "--kinds", "", "-m", str(tiny_model_dir)]
    )
    assert res.exit_code == 2 and "labelled 'safe'" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["probe", "eval", "nope", "-m", str(tiny_model_dir)])
    assert res.exit_code == 2 and "No saved probe set named 'nope'" in res.output


def test_steer_prompts_to_jsonl_and_bad_vector(rs_home, tiny_model, tiny_model_dir, tmp_path, data_file):
    vec = np.random.default_rng(0).normal(size=tiny_model.d_model).astype(np.float32) * 20
    np.save(tmp_path / "v.npy", vec)
    out = tmp_path / "out" / "completions.jsonl"
    res = runner.invoke(
        app,
        [
            "steer",
            "--vector",
            str(tmp_path / "v.npy"),
            "--alpha",
            "2",
            "--layers",
            "1",
            "--prompts",
            str(data_file),
            "--out",
            str(out),
            "--max-new-tokens",
            "4",
            "-m",
            str(tiny_model_dir),
        ],
    )
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 20 and {"baseline", "completion", "refusal", "steering"} <= set(recs[0])
    assert recs[0]["steering"]["layers"] == [1] and recs[0]["steering"]["config"]["alpha"] == 2.0
    assert any(r["baseline"] != r["completion"] for r in recs)
    one = runner.invoke(
        app,
        [
            "steer",
            "hello",
            "--vector",
            str(tmp_path / "v.npy"),
            "--ablate",
            "--max-new-tokens",
            "3",
            "-m",
            str(tiny_model_dir),
        ],
    )
    assert one.exit_code == 0 and "--- steered ---" in one.output and "ablate" in one.output
    np.save(tmp_path / "w.npy", np.ones(7, dtype=np.float32))
    bad = runner.invoke(
        app, ["steer", "hello", "--vector", str(tmp_path / "w.npy"), "-m", str(tiny_model_dir)]
    )
    assert bad.exit_code == 2 and "size 7" in bad.output and "hidden size is 64" in bad.output


def _train_toy(tiny_model_dir, data_file) -> None:
    res = runner.invoke(
        app,
        ["probe", "train", "--name", "toy", "--file", str(data_file), "--k", "3", "-m", str(tiny_model_dir)],
    )
    assert res.exit_code == 0, res.output


def test_probe_eval_json_is_one_object(rs_home, tiny_model_dir, data_file, monkeypatch):
    monkeypatch.delenv("REASONSCOPE_DEBUG", raising=False)
    _train_toy(tiny_model_dir, data_file)
    res = runner.invoke(
        app, ["probe", "eval", "toy", "--file", str(data_file), "--json", "-m", str(tiny_model_dir)]
    )
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stdout.splitlines() if line.strip()]
    assert len(lines) == 1  # nothing but the JSON object on stdout (no progress bar, no table)
    rep = json.loads(lines[0])
    assert set(rep) == {"best_layer", "threshold", "n", "layers"}
    assert rep["n"] == {"unsafe": 2, "safe": 2}  # the default split is validation when the file has one
    assert str(rep["best_layer"]) in rep["layers"]
    for row in rep["layers"].values():
        assert set(row) == {"auroc", "tpr", "fpr", "accuracy", "threshold"}
        assert all(v is None or 0.0 <= v <= 1.0 for v in row.values())
    everything = runner.invoke(
        app,
        [
            "probe",
            "eval",
            "toy",
            "--file",
            str(data_file),
            "--split",
            "all",
            "--json",
            "-m",
            str(tiny_model_dir),
        ],
    )
    assert everything.exit_code == 0, everything.output
    assert json.loads(everything.stdout)["n"] == {"unsafe": 10, "safe": 10}


def test_probe_eval_file_without_splits_uses_every_item(rs_home, tiny_model_dir, data_file, tmp_path):
    _train_toy(tiny_model_dir, data_file)
    rows = [{"prompt": f"How do I hurt someone badly {i}?", "label": "harmful"} for i in range(3)]
    rows += [{"prompt": f"How do I water my garden {i}?", "label": "benign"} for i in range(4)]
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps(r) + "\n" for r in rows))
    m = ["-m", str(tiny_model_dir)]
    res = runner.invoke(app, ["probe", "eval", "toy", "--file", str(plain), "--json", *m])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["n"] == {"unsafe": 3, "safe": 4}
    assert all(row["auroc"] is not None for row in rep["layers"].values())
    table = runner.invoke(app, ["probe", "eval", "toy", "--file", str(plain), *m])
    assert table.exit_code == 0, table.output
    assert "(all, 3 harmful / 4 benign)" in table.output and "TPR" in table.output
    none_held_out = runner.invoke(
        app, ["probe", "eval", "toy", "--file", str(plain), "--split", "validation", *m]
    )
    assert none_held_out.exit_code == 2 and "--split all" in none_held_out.output
    assert "Traceback" not in none_held_out.output


def test_probe_eval_bad_split_is_one_clean_line(rs_home, tiny_model_dir, data_file, monkeypatch):
    monkeypatch.delenv("REASONSCOPE_DEBUG", raising=False)
    res = runner.invoke(
        app, ["probe", "eval", "toy", "--file", str(data_file), "--split", "bogus", "-m", str(tiny_model_dir)]
    )
    assert res.exit_code != 0
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    assert "bogus" in lines[0] and all(s in lines[0] for s in ("validation", "train", "all"))
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)


def test_stage_bars_name_units_and_measure_the_rate(capsys):
    import time

    from core.cli.probes import StageBars

    bars = StageBars("train")
    bars("capture", 0, 4)
    time.sleep(0.02)
    bars("capture", 2, 4)
    bar = bars.bars["capture"]
    assert bar.n == 2 and bar.desc == "train: Capturing hidden states" and bar.unit == " items"
    assert (
        bar.format_dict["rate"] or bar.format_dict["elapsed"] > 0
    )  # counted through update(): tqdm times it
    bars("capture", 4, 4)
    bars("fit", 1, 3)
    assert bars.bars["fit"].unit == " layer fits" and bars.bars["fit"].n == 1
