"""Steering in meaningful units: α ↔ multiples of the mean residual norm, the sweep's default range, and the
word diff of baseline vs steered text."""

from __future__ import annotations

import numpy as np
import pytest

from app.helpers_steer import (
    ABSOLUTE,
    RELATIVE,
    Strength,
    default_sweep_text,
    diff_html,
    sweep_alphas,
    sweep_rows,
)
from core.capture.store import ActivationStore
from core.errors import InputError
from core.explore.palette import DIFF_DELETE, DIFF_INSERT
from core.steer.sweep import SweepPoint
from core.steer.units import (
    DEFAULT_MULTIPLES,
    ResidualNorms,
    alpha_from_multiple,
    describe_strength,
    diff_stats,
    mean_norms,
    multiple_from_alpha,
    norms_from_store,
    word_diff,
)
from tests.explorer_fakes import make_traj


def test_mean_norm_leaves_out_the_first_token():
    traj = make_traj(["<s>", "a", "b"], 1, d=4, seed=0)
    traj.hidden[:] = 0
    traj.hidden[:, 0, 0] = 495.0  # the attention-sink token
    traj.hidden[:, 1:, 1] = 2.0
    per_layer, n_tok = mean_norms([traj])
    assert per_layer == dict.fromkeys(traj.layers, 2.0) and n_tok == 2


def test_norms_from_the_store_only_use_the_model(tmp_path):
    store = ActivationStore(tmp_path / "store")
    assert norms_from_store(store, "fp") is None
    store.put(make_traj(["a", "b", "c"], 1, d=4, seed=1, fingerprint="fp"))
    store.put(make_traj(["a", "b", "c"], 1, d=4, seed=2, fingerprint="other"))
    norms = norms_from_store(store, "fp")
    assert norms.source == "1 stored trajectory" and set(norms.per_layer) == {0, 1, 2, 3}
    with pytest.raises(InputError, match="No residual norm was measured at layers"):
        norms.at([7])


def test_alpha_and_multiples_round_trip_per_method():
    # add: ‖α·v‖ = multiple × mean ‖h‖ -> a unit probe direction at norm 50 needs α = 12.5 for 0.25
    assert alpha_from_multiple(0.25, "add", 50.0, 1.0) == 12.5
    assert alpha_from_multiple(0.25, "add", 50.0, 5.0) == 2.5
    assert multiple_from_alpha(12.5, "add", 50.0, 1.0) == 0.25
    assert (
        alpha_from_multiple(0.5, "cap", 40.0, 3.0) == 20.0
        and multiple_from_alpha(20.0, "cap", 40.0, 3.0) == 0.5
    )
    assert alpha_from_multiple(0.7, "ablate", 40.0, 3.0) == 0.7  # a fraction: no units
    with pytest.raises(InputError, match="zero at the target layer"):
        alpha_from_multiple(1.0, "add", 50.0, 0.0)
    text = describe_strength(12.5, "add", 50.0, 1.0, [14])
    assert "α = 12.5" in text and "0.25 × mean ‖h‖" in text and "= 50 at layer 14" in text


def test_the_sweep_default_range_comes_from_the_norm():
    norms = ResidualNorms(per_layer={1: 40.0, 2: 60.0}, source="a captured reference prompt", n_tokens=9)
    rel = Strength.of(norms, {1: np.full(4, 0.5), 2: np.full(4, 0.5)}, RELATIVE)  # ‖v‖ = 1 at both
    assert rel.norm == 50.0 and rel.vector_norm == 1.0 and rel.layers == [1, 2]
    assert default_sweep_text(rel) == ", ".join(f"{m:g}" for m in DEFAULT_MULTIPLES)
    assert sweep_alphas([0, 0.5, 1], "add", rel) == [0.0, 25.0, 50.0]
    ab = Strength.of(norms, {1: np.full(4, 0.5)}, ABSOLUTE)
    assert default_sweep_text(ab) == "0, 1, 2, 4" and sweep_alphas([2], "add", ab) == [2.0]
    assert default_sweep_text(None) == "0, 1, 2, 4"
    rows = sweep_rows([SweepPoint(alpha=25.0, refusal_rate=0.0, kl=0.1, completions=["x"])], "add", rel)
    assert rows[0]["× mean ‖h‖"] == 0.5


def test_word_diff_marks_insertions_and_deletions():
    ops = word_diff("I can help you bake bread.", "I cannot help you <b>bake</b> bread.")
    assert ("delete", "can") in ops and ("insert", "cannot") in ops
    assert "".join(t for op, t in ops if op != "insert") == "I can help you bake bread."
    assert "".join(t for op, t in ops if op != "delete") == "I cannot help you <b>bake</b> bread."
    assert diff_stats(ops)["same"] >= 4
    base, steered = diff_html(ops, "baseline"), diff_html(ops, "steered")
    assert f"background:{DIFF_DELETE}" in base and "<del" in base and "<ins" not in base
    assert f"background:{DIFF_INSERT}" in steered and "&lt;b&gt;" in steered and "<b>" not in steered
    assert word_diff("", "") == [] and "(empty)" in diff_html([], "steered")
