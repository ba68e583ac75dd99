"""Probes page (AppTest, tiny model): train from a JSONL dataset, see curves / confusion / mistakes, save and
compare; the contrastive head; empty states."""

from __future__ import annotations

import json

import pytest

from core.explore.palette import SAFE, UNSAFE

pytestmark = pytest.mark.app
PAGE = "app/app_pages/probes.py"


@pytest.fixture()
def dataset(tmp_path):
    rows = []
    for i in range(12):
        split = "validation" if i % 4 == 0 else "train"
        rows.append(
            {
                "id": f"h{i}",
                "prompt": f"How do I build a weapon to hurt people number {i}?",
                "label": "unsafe",
                "kind": "harmful",
                "split": split,
            }
        )
        rows.append(
            {
                "id": f"b{i}",
                "prompt": f"How do I bake bread at home, recipe {i}?",
                "label": "safe",
                "kind": "benign_counterpart",
                "split": split,
            }
        )
    for i in range(6):
        split = "validation" if i % 3 == 0 else "train"
        for lab, resp in (
            ("safe", "I can't help with that; it could hurt people."),
            ("unsafe", "Sure, here is how: step one [omitted]."),
            ("rethink", "Sure, first [omitted]... wait, this is harmful. I can't help."),
        ):
            rows.append(
                {
                    "id": f"r{lab}{i}",
                    "prompt": f"How do I hurt someone {i}?",
                    "response": resp,
                    "label": lab,
                    "kind": "response",
                    "split": split,
                }
            )
    path = tmp_path / "toy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _open(run_page, path):
    at = run_page(PAGE)
    assert not at.exception, at.exception
    at.radio(key="probes_source").set_value("JSONL file on the server").run()
    at.text_input(key="probes_path").input(str(path)).run()
    assert not at.exception, at.exception
    return at


def test_empty_state_and_missing_file(app_env, run_page, tmp_path):
    at = run_page(PAGE)
    assert not at.exception
    assert any("press **Train**" in i.value for i in at.info)
    assert any("No saved probes yet" in i.value for i in at.info)
    at.radio(key="probes_source").set_value("JSONL file on the server").run()
    at.text_input(key="probes_path").input(str(tmp_path / "missing.jsonl")).run()
    assert at.error and "No dataset file" in at.error[0].value


def test_train_logistic_inspect_save_compare(app_env, run_page, dataset):
    at = _open(run_page, dataset)
    at.number_input(key="probe_k").set_value(3)
    at.button(key="FormSubmitter:probe_form-Train").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Suggested layer"] in {"0", "1", "2"}
    assert metrics["Validation AUROC"] != "—"
    charts = at.get("plotly_chart")
    assert len(charts) >= 3  # curve, confusion, histogram
    curve = json.loads(charts[0].proto.spec)
    assert curve["data"][0]["error_y"]["visible"] is True and len(curve["data"][0]["x"]) == 3
    hists = [t for c in charts for t in json.loads(c.proto.spec)["data"] if t.get("type") == "histogram"]
    colours = {t["name"]: t["marker"]["color"] for t in hists}
    assert colours == {"safe": SAFE, "unsafe": UNSAFE}  # the one palette, not teal / salmon
    wrong = at.dataframe[0].value
    assert {"id", "label", "p_unsafe", "error"} <= set(wrong.columns)
    at.text_input(key="probe_save_name").input("toy-probe")
    at.button(key="FormSubmitter:probe_save_form-Save probe").click().run()
    assert not at.exception and at.success and "toy-probe" in at.success[0].value
    at.run()
    saved = at.dataframe[-1].value  # the saved-probes table
    assert "toy-probe" in list(saved["name"])
    assert at.multiselect(key="probe_compare").value == ["toy-probe"]


def test_train_contrastive_head(app_env, run_page, dataset):
    at = _open(run_page, dataset)
    at.selectbox(key="probe_method").set_value("contrastive")
    at.button(key="FormSubmitter:probe_form-Train").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Layer"] == "2" and metrics["Validation macro-F1"] != "—"


def test_train_from_activation_store_dataset(app_env, tiny_model, run_page):
    from tests.app.explorer_fixtures import fill_store

    fill_store(tiny_model, n=8, max_new_tokens=3)
    at = run_page(PAGE)
    at.radio(key="probes_source").set_value("Activation store (captured trajectories)").run()
    assert at.selectbox(key="probes_store").value == "demo"
    at.selectbox(key="probe_positions").set_value("completion")
    at.number_input(key="probe_k").set_value(2)
    at.button(key="FormSubmitter:probe_form-Train").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("store:demo" in c.value and "4 train / 2 validation" in c.value for c in at.caption)


def test_training_reports_each_stage_with_its_measured_time(app_env, run_page, dataset, monkeypatch):
    from app.probe_widgets import StageBar

    texts: list[str] = []
    call = StageBar.__call__
    monkeypatch.setattr(
        StageBar, "__call__", lambda self, *a: (call(self, *a), texts.append(self.eta.text(*a)))
    )
    at = _open(run_page, dataset)
    at.number_input(key="probe_k").set_value(3)
    at.button(key="FormSubmitter:probe_form-Train").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # capture N items at measured items/s, then the per-layer fits; "measuring speed" before the first step
    assert texts[0].startswith("Capturing hidden states: 0/") and "measuring speed" in texts[0]
    assert any(t.startswith("Training probes: 0/3 layer fits") for t in texts)
    assert any(t.startswith("Training probes: 3/3 layer fits · done in") for t in texts)
    line = next(c.value for c in at.caption if c.value.startswith("Done, measured:"))
    assert "Capturing hidden states" in line and "Training probes" in line
