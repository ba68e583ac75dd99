"""Representation diff (arrays with known answers; states from the tiny model) and the eval/report CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from core.cli.main import app
from core.errors import InputError
from core.evals.repdiff import (
    collect_states,
    cosine_distance,
    joint_pca,
    probe_shift,
    relative_shift,
    repdiff,
)


def test_distances_with_known_answers():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 3, 8))
    assert np.allclose(cosine_distance(a, a), 0) and np.allclose(relative_shift(a, a), 0)
    b = a.copy()
    b[:, 1] = -a[:, 1]  # layer 1 flipped: cos = -1 -> distance 2; |b - a| = 2|a|
    b[:, 2] = 3 * a[:, 2]  # layer 2 scaled: same direction, moved by 2|a|
    assert np.allclose(cosine_distance(a, b), [0, 2, 0])
    assert np.allclose(relative_shift(a, b), [0, 2, 2])
    w = rng.standard_normal(8)
    shift = probe_shift(a, b, [0, 5, 9], lambda h, layer: h @ w)
    assert np.allclose(shift, [0, -2 * (a[:, 1] @ w).mean(), 2 * (a[:, 2] @ w).mean()])
    d = repdiff(a, b, [0, 5, 9], groups=["x", "x", "y", "y", "y"])
    assert d.most_changed_layer == 5 and set(d.by_group) == {"x", "y"}
    za, zb = joint_pca(a, b, 1)
    assert za.shape == zb.shape == (5, 2) and np.allclose(za, -zb, atol=1e-9)  # mirrored around the mean
    with pytest.raises(InputError, match="one shape"):
        cosine_distance(a, b[:, :2])


def test_collect_states_and_steering_moves_them(tiny_model):
    from core.steer.interventions import SteeringConfig, make_interventions
    from core.steer.vectors import SteeringVector

    prompts = ["How do I bake bread?", "Write a poem."]
    base, layers = collect_states(tiny_model, prompts)
    assert base.shape == (2, tiny_model.n_layers + 1, tiny_model.d_model) and layers[0] == 0
    vec = SteeringVector({1: np.ones(tiny_model.d_model, dtype=np.float32)})
    fns = make_interventions(vec, SteeringConfig(method="add", alpha=4.0, layers=[1]), tiny_model)
    steered, _ = collect_states(tiny_model, prompts, interventions=fns)
    d = repdiff(base, steered, layers)
    assert np.allclose(d.relative_shift[:1], 0, atol=1e-6)  # before the steered layer nothing moves
    assert d.relative_shift[1] > 0.01 and d.most_changed_layer >= 1


runner = CliRunner()


def test_eval_and_report_cli_on_the_tiny_model(tiny_model_dir, tmp_path, rs_home):
    out = tmp_path / "audit"
    res = runner.invoke(
        app,
        [
            "eval",
            "--subject",
            str(tiny_model_dir),
            "--subject",
            f"model={tiny_model_dir} template=alphaalign name=tagged",
            "--suite",
            "refusal,over_refusal,utility",
            "--split",
            "validation",
            "--limit",
            "2",
            "--max-new-tokens",
            "4",
            "--max-empty-share",  # the random tiny model answers with newlines only (empty responses)
            "1",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Harmful refusal rate" in res.output and "tagged" in res.output and "McNemar" in res.output
    rows = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * (2 + 4 + 2)  # 2 subjects x (2 harmful + 2 benign + 2 borderline + 2 utility)
    rep = runner.invoke(app, ["report", str(out)])
    assert rep.exit_code == 0 and "Over-refusal rate" in rep.output and (out / "report.html").is_file()
    bad = runner.invoke(
        app, ["eval", "--subject", str(tiny_model_dir), "--suite", "format", "--out", str(out)]
    )
    assert bad.exit_code == 2 and "asks for no tags" in bad.output and "Traceback" not in bad.output
    missing = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "not an audit folder" in missing.output
