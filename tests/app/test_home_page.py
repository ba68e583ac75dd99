import pytest

pytestmark = pytest.mark.app


def test_home_shows_model_facts_and_empty_state(app_env, run_page):
    at = run_page("app/app_pages/home.py")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Decoder layers"] == "2"
    assert metrics["Hidden size"] == "64"
    assert any("No trajectories yet" in i.value for i in at.info)


def test_entrypoint_routes_and_sidebar(app_env, tiny_model_dir, run_page):
    at = run_page("app/streamlit_app.py")
    assert not at.exception
    # REASONSCOPE_MODEL points at a local folder, so the sidebar starts on "Other" with that path filled in
    assert at.sidebar.radio(key="model_source").value.startswith("Other")
    assert at.sidebar.text_input(key="model_name_input").value == str(tiny_model_dir)
    assert any("ReasonScope" in t.value for t in at.title)


def test_public_mode_requires_password(app_env, monkeypatch, run_page):
    monkeypatch.setenv("REASONSCOPE_PUBLIC", "1")
    monkeypatch.setenv("REASONSCOPE_PASSWORD", "s3cret")
    at = run_page("app/streamlit_app.py")
    assert not at.exception
    assert "sign in" in at.title[0].value.lower()
    at.text_input[0].input("Ada")
    at.text_input[1].input("wrong")
    at.button[0].click().run()
    assert at.error and "Wrong password" in at.error[0].value
    at.text_input[1].input("s3cret")
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["auth_user"] == "Ada"
