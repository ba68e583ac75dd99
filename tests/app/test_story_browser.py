"""The Story page in headless Chromium, and its offline export: all six steps render (screenshots in
tests/artifacts/), the arrow keys step through, nothing is requested outside localhost / the file itself, and
the page is drawn well within its 3 s budget once the bundle exists (asserted generously here; the
measurement is printed)."""

from __future__ import annotations

import os
import time

import pytest

from core.story.export import export_story
from core.story.steps import STEPS
from tests.app.browser_cdp import Browser, live_streamlit, require_chromium
from tests.app.test_browser import REPO, _external
from tests.story_fixtures import make_bundle

pytestmark = pytest.mark.app
ARTIFACTS = REPO / "tests" / "artifacts"
PLOTS_JS = "document.querySelectorAll('.js-plotly-plot .main-svg').length"


def _has(text: str) -> str:
    return f"!!(document.body && document.body.innerText.includes({text!r}))"


@pytest.fixture(scope="module")
def story_home(tmp_path_factory, tiny_model, tiny_model_dir):
    home = tmp_path_factory.mktemp("story-home")
    old = {k: os.environ.get(k) for k in ("REASONSCOPE_HOME", "REASONSCOPE_STORE", "REASONSCOPE_DB")}
    os.environ["REASONSCOPE_HOME"] = str(home)
    for k in ("REASONSCOPE_STORE", "REASONSCOPE_DB"):
        os.environ.pop(k, None)
    try:
        make_bundle(home, tiny_model)
        export_story(home / "story.html")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return home


@pytest.fixture(scope="module")
def live_story(story_home, tiny_model_dir):
    chromium = require_chromium()
    env = {k: v for k, v in os.environ.items() if k not in ("REASONSCOPE_STORE", "REASONSCOPE_DB")}
    env.update(REASONSCOPE_HOME=str(story_home), REASONSCOPE_MODEL=str(tiny_model_dir), OMP_NUM_THREADS="1")
    with live_streamlit(story_home, env, REPO) as base, Browser(chromium) as browser:
        yield base, browser


def _key(page, key: str, code: int) -> None:
    for kind in ("keyDown", "keyUp"):
        page.call("Input.dispatchKeyEvent", type=kind, key=key, code=key, windowsVirtualKeyCode=code)


def test_story_page_walks_six_steps_offline(live_story):
    base, browser = live_story
    warm = browser.open(f"{base}/")  # a bundle exists: the story is the landing page
    warm.wait_for(_has(STEPS[0].title), timeout=120, settle=0.5)
    warm.close()
    t0 = time.time()  # warm server, new session: navigation to the first step drawn
    page = browser.open(f"{base}/")
    page.wait_for(_has(STEPS[0].title) + " && " + _has("Audit verdict"), timeout=60, settle=0)
    seconds = time.time() - t0
    print(f"story page drawn in {seconds:.2f} s (warm server)")
    assert seconds < 10, seconds  # budget 3 s; generous here (shared CI machine)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for i, step in enumerate(STEPS):
        page.wait_for(_has(step.title), timeout=60, settle=1.0)
        if step.key not in ("complies",):
            page.wait_for(f"{PLOTS_JS} > 0", timeout=60, settle=1.0)
        page.screenshot(ARTIFACTS / f"story_step{i + 1}.png")
        if i < len(STEPS) - 1:
            _key(page, "ArrowRight", 39)
    _key(page, "ArrowLeft", 37)
    page.wait_for(_has(STEPS[4].title), timeout=30)
    external = _external(page.requests)
    assert not external, external
    assert any(u.startswith(base) for u in page.requests)
    page.close()


def test_export_opens_offline_and_shows_six_steps(story_home):
    chromium = require_chromium()
    html = story_home / "story.html"
    assert html.stat().st_size < 10 * 2**20
    with Browser(chromium) as browser:
        page = browser.open(html.as_uri())
        page.wait_for("document.querySelectorAll('section.step').length === 6", timeout=60)
        for i, step in enumerate(STEPS):
            page.eval(f"window.storyShow({i})")
            page.wait_for(
                f"document.querySelector('section.step.active h2').innerText === {step.title!r}", timeout=20
            )
            if step.key != "complies":
                page.wait_for(
                    "document.querySelectorAll('section.step.active .js-plotly-plot .main-svg').length > 0",
                    timeout=30,
                )
            page.screenshot(ARTIFACTS / f"story_export_step{i + 1}.png")
        _key(page, "ArrowLeft", 37)
        page.wait_for(f"document.querySelector('section.step.active h2').innerText === {STEPS[4].title!r}")
        bad = [u for u in page.requests if not u.startswith(("file://", "data:", "blob:", "about:"))]
        assert not bad, bad
        page.close()
