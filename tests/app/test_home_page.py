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


def test_demo_load_promises_a_measured_duration_and_reports_progress(app_env, run_page, monkeypatch):
    """The offer's duration comes from a timed batch of the active model (then from real loads); the bar's
    text comes from the measured speed (core.jobs.eta), and the stored demo trajectories show up on Label as
    the dataset 'demo'."""
    from app import home_widgets
    from core.data import open_db
    from core.data.repo import list_datasets

    monkeypatch.setattr(home_widgets, "DEMO_N", 4)
    monkeypatch.setattr(home_widgets, "DEMO_BATCH", 2)
    at = run_page("app/app_pages/home.py")
    offer = " ".join(i.value for i in at.info)
    assert "under a minute on this machine (from a timed batch of the active model)" in offer
    assert "The first 2 prompts are timed" in offer
    at.button[0].click().run()
    assert not at.exception, at.exception
    (bar,) = at.get("progress")
    assert "Demo trajectories: 4/4 prompts · done in" in bar.proto.text
    assert any("Stored 4 trajectories" in s.value for s in at.success)
    import json

    from core.config import artefacts_dir

    (speed,) = [json.loads(p.read_text()) for p in (artefacts_dir() / "speed").glob("*.json")]
    assert speed["measured_loads"] == 1 and speed["factor"] > 0  # the next estimate uses the real load
    at = run_page("app/app_pages/label.py", annotator_name="ada")
    assert not at.exception, at.exception
    assert "demo" in [d.name for d in list_datasets(open_db())]
