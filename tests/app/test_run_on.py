"""The sidebar's "Run on" choice: it sets ModelSpec.where, and the NDIF key shows masked, never in full."""

import pytest

pytestmark = pytest.mark.app

SECRET = "5e4d3c2b-dddd-eeee-ffff-app-secret-key"


def _page_text(at) -> str:
    parts = [e.value for kind in (at.caption, at.markdown, at.info, at.warning, at.error) for e in kind]
    parts += [str(w.value) for w in at.text_input]
    return "\n".join(str(p) for p in parts)


def test_run_on_a_host_sets_where_and_masks_the_key(app_env, run_page, monkeypatch):
    monkeypatch.setenv("NDIF_API_KEY", SECRET)
    at = run_page("app/streamlit_app.py")
    assert at.sidebar.radio(key="model_run_on").value == "This machine"
    at.sidebar.radio(key="model_run_on").set_value("An NDIF host").run()
    at.sidebar.text_input(key="model_ndif_host").set_value("http://127.0.0.1:9").run()
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert at.session_state["model_spec"].where == "http://127.0.0.1:9"
    text = _page_text(at)
    assert "traces run on NDIF host http://127.0.0.1:9" in text
    assert "••••" + SECRET[-4:] in text and SECRET not in text


def test_a_bad_host_is_one_message(app_env, run_page):
    at = run_page("app/streamlit_app.py")
    at.sidebar.radio(key="model_run_on").set_value("An NDIF host").run()
    at.sidebar.text_input(key="model_ndif_host").set_value("not a url").run()
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert any("not understood" in e.value for e in at.error)
