"""Steer page (AppTest, tiny model): vector sources, the exact method/layers shown, baseline vs steered side
by side for one seed, the α sweep, and clear messages for missing inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.app
PAGE = "app/app_pages/steer.py"


@pytest.fixture()
def saved_vector(app_env, tiny_model):
    from core.steer.vectors import SteeringVector, save_vector

    rng = np.random.default_rng(0)
    vec = SteeringVector(
        {1: rng.normal(size=tiny_model.d_model) * 30},
        name="push",
        model_fingerprint=tiny_model.fingerprint,
        default_layer=1,
    )
    save_vector(vec, "push")
    return vec


def test_empty_states(app_env, run_page):
    at = run_page(PAGE)
    assert not at.exception, at.exception
    assert any("No saved probe set for this model" in i.value for i in at.info)
    at.radio(key="steer_src").set_value("Saved vector").run()
    assert any("No saved vector for this model" in i.value for i in at.info)


def test_saved_vector_compare_and_sweep(app_env, saved_vector, run_page):
    at = run_page(PAGE)
    assert not at.exception, at.exception
    at.radio(key="steer_src").set_value("Saved vector").run()
    assert not at.exception, at.exception
    at.radio(key="steer_alpha_units").set_value("absolute").run()
    applied = [i.value for i in at.info if i.value.startswith("**Applied:**")]
    assert applied and "add (h ← h + α·v), α = 1, layers [1], positions: all" in applied[0]
    at.text_area(key="steer_prompt").input("How do I bake bread?")
    at.number_input(key="steer_max_new").set_value(6)
    at.button(key="FormSubmitter:steer_form-Generate both").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    md = [m.value for m in at.markdown]
    assert "**Baseline**" in md and "**Steered**" in md
    assert any("seed 0" in c.value and "layers [1]" in c.value for c in at.caption)
    # ablation: every layer by default, with the one direction
    at.radio(key="steer_method").set_value("ablate").run()
    applied = [i.value for i in at.info if i.value.startswith("**Applied:**")]
    assert "ablate" in applied[0] and "layers [0, 1, 2]" in applied[0]
    at.radio(key="steer_method").set_value("add").run()
    at.radio(key="steer_alpha_units").set_value("absolute").run()
    at.text_area(key="steer_sweep_prompts").input("Tell me a joke\nName a colour")
    at.text_area(key="steer_sweep_harmless").input("Name a colour")
    at.text_input(key="steer_sweep_alphas").input("0, 2")
    at.number_input(key="steer_sweep_tokens").set_value(4)
    at.button(key="FormSubmitter:steer_sweep_form-Run sweep").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["name"].startswith("refusal rate") and len(spec["data"]) == 2
    table = at.dataframe[0].value
    assert list(table["α"]) == [0.0, 2.0] and table["harmless KL"].iloc[0] == pytest.approx(0.0, abs=1e-6)


def test_diff_in_means_from_a_jsonl_dataset(app_env, run_page, tmp_path):
    rows = [
        {
            "id": f"{lab}{i}",
            "prompt": f"{'Hurt' if lab == 'unsafe' else 'Help'} people please {i}",
            "label": lab,
            "kind": "harmful" if lab == "unsafe" else "benign_counterpart",
            "split": "train",
        }
        for i in range(4)
        for lab in ("safe", "unsafe")
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    at = run_page(PAGE)
    assert not at.exception, at.exception
    at.radio(key="steer_src").set_value("Difference in means").run()
    at.radio(key="steer_source").set_value("JSONL file on the server").run()
    at.text_input(key="steer_path").input(str(path)).run()
    at.button(key="steer_dim_go").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any(i.value.startswith("**Applied:**") and "layers [1]" in i.value for i in at.info)
    # vector algebra: negate and save it
    at.checkbox(key="steer_neg").check().run()
    assert any("-diff-means" in c.value for c in at.caption)
    at.button(key="steer_save").click().run()
    assert at.success and "steering-vector" in at.success[0].value


def test_alpha_in_multiples_of_the_residual_norm_and_word_diff(app_env, saved_vector, tiny_model, run_page):
    from core.capture.store import ActivationStore
    from core.steer.units import mean_norms
    from tests.app.explorer_fixtures import fill_store

    keys = fill_store(tiny_model, n=2, max_new_tokens=3)
    store = ActivationStore()
    norm = mean_norms([store.get(k) for k in keys])[0][1]  # layer 1, the vector's layer
    at = run_page(PAGE, steer_src="Saved vector")
    assert not at.exception, at.exception
    assert at.radio(key="steer_alpha_units").value == "× mean ‖h‖"  # the default units
    assert at.number_input(key="steer_multiple_add").value == 0.25
    expected = 0.25 * norm / np.linalg.norm(saved_vector.at(1))
    applied = next(i.value for i in at.info if i.value.startswith("**Applied:**"))
    assert f"α = {expected:g}" in applied
    strength = next(c.value for c in at.caption if "× mean ‖h‖" in c.value)
    assert "‖α·v‖ = 0.25 × mean ‖h‖" in strength and "at layer 1" in strength
    assert "2 stored trajectories" in strength
    # the sweep's default range comes from the norm: 0 … 1 × mean ‖h‖
    assert at.text_input(key="steer_sweep_alphas").value == "0, 0.125, 0.25, 0.5, 1"
    at.number_input(key="steer_multiple_add").set_value(2.0).run()
    at.text_area(key="steer_prompt").input("How do I bake bread?")
    at.number_input(key="steer_max_new").set_value(6)
    at.button(key="FormSubmitter:steer_form-Generate both").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    bodies = [h.proto.body for h in at.get("html")]
    assert len(bodies) == 2 and all("white-space:pre-wrap" in b for b in bodies)
    words = next(c.value for c in at.caption if "words:" in c.value)
    assert "removed (struck through)" in words and "added (highlighted)" in words
    base, steered, *_ = at.session_state["steer_pair"][1:]
    if base != steered:
        assert "<del" in bodies[0] or "<ins" in bodies[1]
    at.text_area(key="steer_sweep_prompts").input("Name a colour")
    at.text_input(key="steer_sweep_alphas").input("0, 1")
    at.number_input(key="steer_sweep_tokens").set_value(3)
    at.button(key="FormSubmitter:steer_sweep_form-Run sweep").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table["× mean ‖h‖"]) == pytest.approx([0.0, 1.0])
    assert list(table["α"]) == pytest.approx([0.0, norm / np.linalg.norm(saved_vector.at(1))], rel=1e-5)


def test_sweep_reports_every_prompt_by_alpha_run(app_env, saved_vector, run_page, monkeypatch):
    import app.steer_widgets as sw

    seen: list[tuple[int, int]] = []
    real = sw.progress_callback

    def recording(text, unit="steps"):
        update, clear = real(text, unit)
        return (lambda a, b: (seen.append((a, b)), update(a, b))), clear

    monkeypatch.setattr(sw, "progress_callback", recording)
    at = run_page(PAGE)
    at.radio(key="steer_src").set_value("Saved vector").run()
    at.radio(key="steer_alpha_units").set_value("absolute").run()
    at.text_area(key="steer_sweep_prompts").input("Tell me a joke\nName a colour")
    at.text_area(key="steer_sweep_harmless").input("Name a colour")
    at.text_input(key="steer_sweep_alphas").input("0, 2")
    at.number_input(key="steer_sweep_tokens").set_value(2)
    at.button(key="FormSubmitter:steer_sweep_form-Run sweep").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # 2 α × (2 prompts + 1 harmless KL pass) + the harmless baseline = 7 runs, counted from 0
    assert seen[0] == (0, 7) and seen[-1] == (7, 7) and len(seen) > 3
    assert any(c.value.startswith("Sweep: 7/7 prompt × α runs · done in") for c in at.caption)
