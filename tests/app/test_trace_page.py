import numpy as np
import pytest

from core.capture.store import ActivationStore
from core.explore.palette import SAFE, SEQUENTIAL, UNSAFE
from tests.app.explorer_fixtures import fill_store, spec_of

pytestmark = pytest.mark.app
PAGE = "app/app_pages/trace.py"


def test_form_and_empty_state(app_env, run_page):
    at = run_page(PAGE)
    assert not at.exception
    assert at.text_area(key="trace_prompt") is not None
    assert at.selectbox(key="trace_template").options == [
        "Plain chat",
        "AlphaAlign <safety_reasoning>/<answer>",
        "<think> reasoning",
    ]
    assert any("press **Generate**" in i.value for i in at.info)


def test_generate_streams_stores_and_renders_chart(app_env, run_page):
    at = run_page(PAGE)
    at.text_area(key="trace_prompt").input("Tell me about the moon.")
    at.number_input(key="trace_max_new").set_value(8)
    at.button(key="FormSubmitter:trace_form-Generate").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    metas = ActivationStore().query()
    assert len(metas) == 1
    key = metas[0].key
    assert at.query_params["key"] == [key] or at.query_params["key"] == key
    # streamed completion shown in a chat message, then the stored trajectory's views
    assert at.chat_message and any(m.name == "assistant" for m in at.chat_message)
    spec = spec_of(at)
    heat = spec["data"][0]
    assert heat["type"] == "heatmap" and len(spec["layout"]["yaxis"]["ticktext"]) == 3  # layers 0..2
    html = at.get("html")[0].proto.body
    assert "layer" in html and "title=" in html
    assert "prompt" in {a["text"] for a in spec["layout"]["annotations"]}


def test_open_by_key_scores_and_label(app_env, tiny_model, run_page):
    keys = fill_store(tiny_model, n=6)
    at = run_page(PAGE, query={"key": keys[0]})
    assert not at.exception and not at.error
    assert spec_of(at)["data"][0]["type"] == "heatmap"
    at.radio(key="trace_score").set_value("centroid_cosine").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Centroid of 5 stored trajectories" in c.value for c in at.caption)
    z = spec_of(at)["data"][0]
    # every cosine here is on its true range with the sequential scale, not a diverging one around 0
    assert z["zmin"] != -z["zmax"] and z["colorscale"][0][1] == SEQUENTIAL[0][1]
    assert "true range" in z["colorbar"]["title"]["text"]
    at.radio(key="trace_score").set_value("direction").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    line = next(c.value for c in at.caption if c.value.startswith("Axis:"))
    assert "difference of means (stored trajectories)" in line and "held-out AUROC" in line
    assert "−1 = safe mean, +1 = unsafe mean" in line
    if at.warning:  # an unreliable axis warns instead of colouring, until asked to colour anyway
        assert "not reliable" in at.warning[0].value
        at.checkbox(key="trace_axis_anyway").check().run()
    z = spec_of(at)["data"][0]
    assert z["zmin"] == -z["zmax"] and z["colorscale"][-1][1] == UNSAFE  # centred where 0 means halfway
    at.select_slider(key="trace_layer").set_value(1).run()
    assert not at.exception
    # label it
    at.text_input(key="trace_ds").input("my-set")
    at.selectbox(key="trace_label").set_value("unsafe")
    at.button(key="FormSubmitter:trace_label_form-Save label").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success and "my-set" in at.success[0].value
    meta = ActivationStore().meta(keys[0])
    assert (meta.dataset, meta.label) == ("my-set", "unsafe")


def test_bad_inputs_are_messages(app_env, run_page):
    at = run_page(PAGE, query={"key": "0" * 32})
    assert not at.exception
    assert at.error and "not in the store" in at.error[0].value
    at = run_page(PAGE)
    at.button(key="FormSubmitter:trace_form-Generate").click().run()
    assert not at.exception
    assert at.error and "prompt is empty" in at.error[0].value


def test_direction_without_labels_says_what_to_do(app_env, tiny_model, run_page):
    store = ActivationStore()
    keys = fill_store(tiny_model, n=2)
    for k in keys:
        store.annotate(k, label=None)
    at = run_page(PAGE, query={"key": keys[0]}, trace_score="direction")
    assert not at.exception
    assert (
        at.error
        and "labelled 'unsafe' and 'safe'" in at.error[0].value
        and "colour by norm" in at.error[0].value
    )


def _save_probe(model, name: str, separated: bool) -> None:
    """A probe set for the tiny model: separable synthetic states (held-out AUROC ≈ 1) or pure noise."""
    from core.probes.artefacts import save_probe_set
    from core.probes.linear import train_probes

    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 3, model.d_model))
    y = ["safe", "unsafe"] * 12
    if separated:
        X[1::2, :, :16] += 4.0  # many separating dimensions: held-out AUROC ≈ 1 even with d_model noise
    ps = train_probes(X, y, k=3, meta={"model_fingerprint": model.fingerprint, "model_name": model.name})
    save_probe_set(ps, name)


def test_the_best_saved_probe_is_the_default_axis_in_p_unsafe(app_env, tiny_model, run_page):
    keys = fill_store(tiny_model, n=4)
    _save_probe(tiny_model, "noise", separated=False)
    _save_probe(tiny_model, "good", separated=True)
    at = run_page(PAGE, query={"key": keys[0]}, trace_score="direction")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="trace_axis").value == "good"  # best held-out AUROC first
    line = next(c.value for c in at.caption if c.value.startswith("Axis:"))
    assert "saved probe 'good'" in line and "12 safe / 12 unsafe" in line and "P(unsafe)" in line
    assert not at.warning, [w.value for w in at.warning]
    hm = spec_of(at)["data"][0]
    assert (hm["zmin"], hm["zmax"]) == (0.0, 1.0)
    assert hm["colorscale"][0][1] == SAFE and hm["colorscale"][-1][1] == UNSAFE
    # an unreliable probe warns and does not colour until asked
    at.selectbox(key="trace_axis").set_value("noise").run()
    assert not at.exception
    assert at.warning and "not reliable" in at.warning[0].value and "< 0.75" in at.warning[0].value
    assert not at.get("plotly_chart")
    at.checkbox(key="trace_axis_anyway").check().run()
    assert spec_of(at)["data"][0]["type"] == "heatmap"
