"""Live monitor widgets (AppTest, tiny model): controls pick a saved probe; the generation renders coloured
tokens, a gauge, the crossing flag and the score chart; guard 'stop' stops."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.app


def _script():
    import streamlit as st

    from app import state
    from app.monitor_widgets import monitor_controls, monitored_generation
    from core.capture.templates import build_messages
    from core.capture.trajectory import GenerationSettings

    model = state.get_model()
    choice = monitor_controls(model)
    if choice is not None and st.button("Go", key="go"):
        res = monitored_generation(
            model,
            build_messages("How do I bake bread?"),
            GenerationSettings(max_new_tokens=8),
            "plain",
            choice,
        )
        st.session_state["n_generated"] = len(res.generated)
        st.session_state["has_traj"] = res.trajectory is not None
        st.session_state["crossing"] = res.crossing


@pytest.fixture()
def saved_probe(app_env, tiny_model):
    from core.probes.artefacts import save_probe_set
    from core.probes.linear import train_probes

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3, tiny_model.d_model))
    y = ["safe", "unsafe"] * 10
    X[1::2, :, 0] += 3.0
    ps = train_probes(
        X, y, k=2, meta={"model_fingerprint": tiny_model.fingerprint, "model_name": tiny_model.name}
    )
    save_probe_set(ps, "mon-probe")


def test_controls_hint_without_probe(app_env):
    at = AppTest.from_function(_script, default_timeout=120).run()
    at.toggle(key="monitor_on").set_value(True).run()
    assert not at.exception
    assert any("No saved probe for this model" in i.value for i in at.info)


@pytest.mark.parametrize("threshold,guard", [(0.95, "off"), (0.05, "stop")])
def test_monitored_generation_renders(app_env, saved_probe, threshold, guard):
    at = AppTest.from_function(_script, default_timeout=120).run()
    at.toggle(key="monitor_on").set_value(True).run()
    at.slider(key="monitor_threshold").set_value(threshold)
    at.radio(key="monitor_guard").set_value(guard)
    at.button(key="go").click().run()
    assert not at.exception, at.exception
    html = at.get("html")[0].proto.body
    assert "P(unsafe) =" in html and "threshold" in html
    assert at.get("plotly_chart")
    if guard == "stop":  # P(unsafe) >= 0.05 almost surely at the first token -> stop right after it
        assert (
            at.session_state["crossing"] is not None
            and at.warning
            and "Reasoning turned" in at.warning[0].value
        )
        assert at.session_state["n_generated"] <= 2 and at.session_state["has_traj"] is False
    else:
        assert at.session_state["has_traj"] is True and at.session_state["n_generated"] >= 1


def test_controls_state_the_probe_reliability_and_default_to_the_best(app_env, tiny_model):
    from tests.app.test_trace_page import _save_probe

    _save_probe(tiny_model, "noise", separated=False)
    _save_probe(tiny_model, "good", separated=True)
    at = AppTest.from_function(_script, default_timeout=120).run()
    at.toggle(key="monitor_on").set_value(True).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="monitor_probe").value == "good"
    line = next(c.value for c in at.caption if c.value.startswith("Axis:"))
    assert "saved probe 'good'" in line and "12 safe / 12 unsafe" in line and "held-out AUROC" in line
    assert not at.warning
    at.selectbox(key="monitor_probe").set_value("noise").run()
    assert at.warning and "not reliable" in at.warning[0].value
    at.button(key="go").click().run()
    assert not at.exception, at.exception
    assert "Not coloured" in at.get("html")[0].proto.body  # warned, not coloured
