"""The pages' pure helpers (app/helpers_*.py): text, tables and small parsers, tested without Streamlit."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.helpers_audit import (
    alignment_report,
    config_problem,
    holdout_caption,
    holdout_rows,
    kind_rows,
    result_summary,
    states_knew_bars,
    states_knew_captions,
    states_knew_rows,
    steering_spec,
)
from app.helpers_explore import (
    layer_entry,
    layer_overlay,
    missing_message,
    projected_caption,
    token_entry,
    token_overlay,
    token_point_text,
)
from app.helpers_jobs import frontier_caption, frontier_points_from_metrics, sweep_frontier
from app.helpers_steer import describe_vector, sweep_rows, sweep_series
from app.helpers_trace import (
    ALL_STORED,
    SCORE_LABELS,
    SCORE_NAMES,
    completion_text,
    default_layer,
    option_index,
    parse_tags,
    reference_dataset,
)
from core.steer.sweep import SweepPoint
from core.steer.vectors import ANY, SteeringVector
from tests.align_report_fakes import align_report, frontier_points
from tests.explorer_fakes import make_traj
from tests.job_helpers import ev

APP = Path(__file__).resolve().parents[3] / "app"


def test_helpers_never_touch_streamlit():
    for path in sorted(APP.glob("helpers_*.py")):
        tree = ast.parse(path.read_text())
        mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {m for m in mods if m.split(".")[0] == "streamlit" or m == "app.state"}, path.name


# ---- steer -------------------------------------------------------------------------------------------------
def test_describe_vector():
    vec = SteeringVector(
        {1: np.array([3.0, 4.0]), 2: np.array([0.0, 1.0])}, name="v", source="probe", default_layer=1
    )
    assert (
        describe_vector(vec)
        == "**v** · source `probe` · layers [1, 2] · default layer 1 · norms L1: 5.00, L2: 1.00"
    )
    anyv = SteeringVector({ANY: np.ones(2)}, name="u")
    assert "layers any · default layer —" in describe_vector(anyv)
    many = describe_vector(SteeringVector({i: np.ones(2) for i in range(10)}, name="m"))
    assert "L7: 1.41" in many and "L8:" not in many  # norms of the first 8 layers only


def test_sweep_rows_and_series():
    pts = [SweepPoint(0.0, 0.5, float("nan"), ["x" * 200, "y"]), SweepPoint(2.0, 1.0, 0.25, ["I can't"])]
    rows = sweep_rows(pts)
    assert [r["α"] for r in rows] == [0.0, 2.0] and rows[1]["harmless KL"] == 0.25
    assert len(rows[0]["first completion"]) == 120 and rows[1]["first completion"] == "I can't"
    alphas, refusal, kl = sweep_series(pts)
    assert alphas == [0.0, 2.0] and refusal == [0.5, 1.0] and np.isnan(kl[0]) and kl[1] == 0.25


# ---- explore -----------------------------------------------------------------------------------------------
def test_missing_message():
    assert missing_message(["a" * 20]).startswith(
        f"1 selected trajectories were deleted from the store and are "
        f"left out ({'a' * 12}). Run `reasonscope store repair`"
    )
    many = missing_message([f"{i}" * 13 for i in range(5)])
    assert "(000000000000, 111111111111, 222222222222…)" in many and many.startswith("5 ")


def test_token_point_text_escapes_and_points_at_the_token():
    trajs = [make_traj(["<a>", "b", "c"], 1, seed=0), make_traj(["x", "y"], 1, seed=1)]
    ts = SimpleNamespace(trajs=trajs, hover=lambda width: ["first\nline", "second"])
    tp = SimpleNamespace(traj_index=np.array([0, 0, 1]), token_index=np.array([0, 2, 1]))
    text = token_point_text(ts, tp)
    assert len(text) == 3
    assert text[0].startswith("first<br>line<br>#0: ") and "<b>[&lt;a&gt;]</b>" in text[0]
    assert text[1].endswith("<b>[c]</b>…") and text[2].startswith("second<br>#1: ")


def test_projected_entries_and_overlays():
    a = layer_entry("p" * 80, np.zeros((3, 2)), "pca")
    b = layer_entry("q", np.ones((3, 2)), "umap transform")
    assert a == {"name": "p" * 60, "coords": a["coords"], "mode": "pca"}
    coords, names = layer_overlay([a, b])
    assert coords.shape == (2, 3, 2) and names == ["p" * 60, "q"]
    assert layer_overlay([]) == (None, [])
    t = token_entry("new", np.arange(12.0).reshape(3, 2, 2), [0, 1], ["hi", " there"], "pca")
    assert t["text"][0].startswith("NEW #0: ") and "<b>[ there]</b>" in t["text"][1]
    got, text = token_overlay([t], slice(1, 2))
    np.testing.assert_array_equal(got, t["coords"][1:2])
    assert text == t["text"] and token_overlay([], slice(None)) == (None, ())
    assert (
        projected_caption([a, b])
        == f"★ projected new prompt(s): “{'p' * 60}” (placed by pca); “q” (placed by "
        "umap transform)"
    )


# ---- trace -------------------------------------------------------------------------------------------------
def test_trace_helpers():
    assert set(SCORE_NAMES) == set(SCORE_LABELS) == {"norm", "centroid_cosine", "direction"}
    assert completion_text(SimpleNamespace(completion=" Hi ", n_tokens=5, n_prompt_tokens=3)) == " Hi "
    assert (
        completion_text(SimpleNamespace(completion=" \n", n_tokens=5, n_prompt_tokens=3))
        == "*(only whitespace or special tokens)*"
    )
    assert completion_text(SimpleNamespace(completion="", n_tokens=3, n_prompt_tokens=3)) == "*(prompt only)*"
    assert default_layer((0, 1, 2)) == 2 and default_layer(tuple(range(31))) == 20
    assert reference_dataset(ALL_STORED) is None and reference_dataset("demo") == "demo"
    assert parse_tags(" a, b ,, c ,") == ("a", "b", "c") and parse_tags("") == ()
    assert option_index([None, "safe", "unsafe"], "unsafe") == 2 and option_index([None, "safe"], "odd") == 0


# ---- audit -------------------------------------------------------------------------------------------------
def test_audit_helpers():
    assert config_problem({"suites": [], "subjects": [{}]}) == "Choose at least one suite."
    assert config_problem({"suites": ["refusal"], "subjects": []}) == "Add at least one subject first."
    assert config_problem({"suites": ["refusal"], "subjects": [{}]}) is None
    result = SimpleNamespace(
        records=[1, 2, 3], meta={"dataset": "sample", "split": "validation", "seconds": 12.6}
    )
    assert (
        result_summary(Path("/a/b"), result)
        == "`/a/b` · 3 attempts · dataset `sample` (split validation) · 13 s"
    )
    assert steering_spec("(none)", "add", 4.0, "12") is None
    assert steering_spec("v", "ablate", 1, "") == {"method": "ablate", "alpha": 1.0}
    assert steering_spec("v", "add", 4.0, "10, 14,") == {"method": "add", "alpha": 4.0, "layers": [10, 14]}
    with pytest.raises(ValueError):
        steering_spec("v", "add", 4.0, "ten")


def test_states_knew_rows_and_captions():
    report = align_report()
    rows = states_knew_rows(report)
    assert [r["group"] for r in rows] == [
        "Harmful requests the probe flags",
        "Harmful requests the probe does not flag",
        "Benign requests the probe flags",
        "Benign requests the probe does not flag",
    ]
    assert [r["n"] for r in rows] == [16, 4, 2, 18]
    assert [r["refused before %"] for r in rows] == [50.0, 25.0, 50.0, 5.6]
    assert [r["refused after %"] for r in rows] == [87.5, 50.0, 100.0, 16.7]
    assert rows[0]["before 95 % CI"] == "[28.0, 72.0]" and rows[2]["after 95 % CI"] == "[34.2, 100.0]"
    harmful, benign = states_knew_captions(report)
    assert harmful == (
        "Of the 20 harmful validation requests, the model's own states (a layer-3 probe, CV AUROC 0.93) flag "
        "80 %; the model refused 50 % (8 of 16) of those before training and 88 % (14 of 16) after."
    )
    assert benign.startswith("Of the 20 benign validation requests, the same probe flags 10 %;")
    bars = states_knew_bars(report)
    assert bars["harmful"] == [True, True, False, False] and bars["after"][0] == 0.875
    assert bars["labels"][1] == "Harmful requests the probe does not flag (n = 4)"
    lo, hi = bars["before_ci"][0]
    assert lo < 0.5 < hi
    # without the block (e.g. too few train prompts for a probe) there is nothing to show
    for empty in ({}, {"states_knew": None}):
        assert states_knew_rows(empty) == [] and states_knew_captions(empty) == []
        assert states_knew_bars(empty)["labels"] == []


def test_states_knew_empty_groups_and_no_after():
    knew = align_report()["states_knew"]
    empty = {"rate": None, "k": 0, "n": 0, "ci95": [0.0, 1.0]}
    knew["benign"] = {"n": 0, "flag_rate": empty, "flagged": {"n": 0, "refused_before": empty}}
    knew["harmful"]["flagged"].pop("refused_after")
    rows = states_knew_rows({"states_knew": knew})
    assert rows[0]["refused after %"] is None and rows[0]["after 95 % CI"] == "—"
    assert rows[2]["n"] == 0 and rows[2]["refused before %"] is None
    harmful, benign = states_knew_captions({"states_knew": knew})
    assert (
        harmful.endswith("of those before training.") and benign == "There are no benign validation requests."
    )
    knew["harmful"]["flagged"] = {"n": 0, "refused_before": empty}
    assert "no refusal rate of flagged requests" in states_knew_captions({"states_knew": knew})[0]


def test_kind_rows_mark_too_few_and_order_kinds():
    report = align_report()
    rows = kind_rows(report["by_kind"])
    assert [r["kind"] for r in rows] == ["Harmful", "Benign counterpart", "Borderline"]
    assert [r["n"] for r in rows] == [20, 20, 6]
    assert [r["note"] for r in rows] == ["", "", "too few (n < 10)"]
    assert rows[0]["refused before %"] == 45.0 and rows[0]["refused after %"] == 80.0
    assert rows[0]["after 95 % CI"] == "[58.4, 91.9]"
    stress = kind_rows(report["stress_minimal_pairs"]["by_kind"])
    assert [r["n"] for r in stress] == [12, 12] and stress[1]["refused before %"] == 0.0
    nan = {"rate": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0, "k": 0}
    (odd,) = kind_rows({"other": {"base": nan}})
    assert odd["kind"] == "other" and odd["refused before %"] is None and odd["before 95 % CI"] == "—"
    assert kind_rows(None) == []


def test_holdout_readout_rows_sorted_by_offset_and_caption():
    report = align_report()
    rows = holdout_rows(report)
    assert [r["decision offset"] for r in rows] == ["-1", "0 (greedy)", "2"]
    assert rows[1]["Harmful refused (%)"] == 86.7 and rows[1]["Borderline refused (%)"] == 9.0
    text = holdout_caption(report)
    assert "AUROC 0.974" in text and "from offset 0" in text and "120 harmful" in text
    report["holdout_readout"]["offset_within_bars"] = None
    assert "no reported offset" in holdout_caption(report)
    assert "at the end of the verdict SFT" in holdout_caption(report)
    report["holdout_readout"].update(kept=True, step=180, of=270)  # keep_best_checkpoint kept an earlier one
    assert "at step 180 of 270, the checkpoint the run kept" in holdout_caption(report)
    assert holdout_rows({}) == [] and holdout_rows({"holdout_readout": {"refused": "x"}}) == []
    assert holdout_rows({"holdout_readout": {"refused": {"a": {}, "1": 3}}}) == []  # malformed: nothing shown


def test_alignment_report_reads_the_folder(tmp_path):
    assert alignment_report(tmp_path) is None  # an ordinary audit
    (tmp_path / "report.json").write_text(json.dumps(align_report()))
    assert alignment_report(tmp_path)["states_knew"]["probe"]["layer"] == 3
    (tmp_path / "report.json").write_text("[1, 2]")
    with pytest.raises(ValueError):
        alignment_report(tmp_path)


# ---- jobs ------------------------------------------------------------------------------------------------
def _sweep_events():
    return [
        ev(1, "metric", {"step": 3, "values": {"point0/audit/harmful_refusal_before": 0.4}}),
        ev(2, "metric", {"step": 3, "values": {"point0/audit/over_refusal_before": 0.02}}),
        ev(3, "metric", {"step": 3, "values": {"point0/audit/refusal_harmful_before": 0.9}}),
        ev(
            4,
            "metric",
            {"step": 0, "values": {"frontier/harmful_refusal": 0.6, "frontier/over_refusal": 0.04}},
        ),
        ev(
            5,
            "metric",
            {"step": 1, "values": {"frontier/harmful_refusal": 0.8, "frontier/over_refusal": 0.1}},
        ),
        ev(6, "metric", {"step": 0, "values": {"frontier/harmful_refusal": 0.62}}, attempt=2),  # newest wins
        ev(7, "log", {"line": "point 2: sft_epochs=2.0"}),
    ]


def test_frontier_points_from_metrics():
    pts = frontier_points_from_metrics(_sweep_events(), [0.5, 1.0, 2.0])
    assert [p["value"] for p in pts] == [0.5, 1.0]
    assert [(p["over_refusal"], p["harmful_refusal"]) for p in pts] == [(0.04, 0.62), (0.1, 0.8)]
    assert pts[0]["harmful_refusal_before"] == 0.4 and pts[0]["over_refusal_before"] == 0.02
    assert pts[1]["harmful_refusal_before"] is None and pts[0]["harmful_refusal_ci95"] is None
    assert [p["value"] for p in frontier_points_from_metrics(_sweep_events(), None)] == [0, 1]


def test_sweep_frontier_prefers_the_artefact_file(tmp_path):
    cfg = {"method": "rational", "setting": "sft_epochs", "values": [0.5, 1.0, 2.0]}
    live = sweep_frontier(_sweep_events(), cfg)
    assert live["source"] == "metrics" and live["setting"] == "sft_epochs" and len(live["points"]) == 2
    assert "From the metrics so far" in frontier_caption(live, 3) and frontier_caption(live, 3).startswith(
        "2 of 3"
    )
    path = tmp_path / "frontier.json"
    artefact = ev(8, "artefact", {"name": "frontier", "path": str(path), "checkpoint": False})
    assert sweep_frontier([*_sweep_events(), artefact], cfg)["source"] == "metrics"  # not on this machine
    path.write_text("{half")
    assert sweep_frontier([*_sweep_events(), artefact], cfg)["source"] == "metrics"  # unreadable
    path.write_text(json.dumps({"method": "rational", "setting": "sft_epochs", "points": frontier_points()}))
    done = sweep_frontier([*_sweep_events(), artefact], cfg)
    assert done["source"] == "file" and done["points"] == frontier_points()
    assert "Wilson 95 % intervals in both directions" in frontier_caption(done, 3)
