"""The pages' pure helpers (app/helpers_*.py): text, tables and small parsers, tested without Streamlit."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.helpers_audit import config_problem, result_summary, steering_spec
from app.helpers_explore import (
    layer_entry,
    layer_overlay,
    missing_message,
    projected_caption,
    token_entry,
    token_overlay,
    token_point_text,
)
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
from tests.explorer_fakes import make_traj

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
