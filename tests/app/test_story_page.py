"""The Story page under AppTest: a bundle built from synthetic artefacts (tiny model) opens at step 1, the
presenter walks all six steps, deep links carry the same data, and an edited artefact shows up."""

from __future__ import annotations

import json
import os
import time

import pytest

from core.story.bundle import load_manifest
from tests.story_fixtures import make_bundle

pytestmark = pytest.mark.app
PAGE = "app/app_pages/story.py"


@pytest.fixture()
def bundle(app_env, tiny_model):
    return make_bundle(app_env, tiny_model)


def _headers(at) -> list[str]:
    return [h.value for h in at.header]


def test_without_a_bundle_the_page_says_how_to_build_one(app_env, run_page):
    at = run_page(PAGE)
    assert not at.exception
    assert any("reasonscope story build" in i.value for i in at.info)
    assert at.button(key="story_rebuild")


def test_presenter_walks_the_six_steps(bundle, run_page):
    at = run_page(PAGE)
    assert not at.exception
    assert _headers(at) == ["1 · The model complies"]
    assert any(e.label == "What am I looking at?" for e in at.expander)
    seen = [_headers(at)[0]]
    for _ in range(5):
        at.button(key="story_next").click().run()
        assert not at.exception
        seen.append(_headers(at)[0])
    assert [s.split(" · ")[0] for s in seen] == ["1", "2", "3", "4", "5", "6"]
    assert at.button(key="story_next").disabled
    at.button(key="story_prev").click().run()
    assert _headers(at)[0].startswith("5 ·")


def test_step_one_shows_the_audits_answers(bundle, run_page):
    at = run_page(PAGE)
    m = load_manifest()
    text = " ".join(c.value for c in at.caption)
    assert m.pair["harmful"] in text and m.pair["benign"] in text
    assert any("Sure, here is how" in t.value for t in at.markdown)  # the base model's recorded answer


def test_an_edited_report_changes_the_proof_step(bundle, run_page):
    m = load_manifest()
    path = os.path.join(m.audit_dir, "report.json")
    report = json.loads(open(path).read())
    report["comparisons"]["refusal"]["verdict"] = "edited verdict 1234"
    with open(path, "w") as f:
        f.write(json.dumps(report))
    os.utime(path, (time.time() + 5, time.time() + 5))
    at = run_page(PAGE, story_step=4)
    assert not at.exception
    table = at.dataframe[0].value
    assert "edited verdict 1234" in set(table["verdict"])


def test_deep_links_carry_the_same_data(bundle, run_page):
    m = load_manifest()
    at = run_page(PAGE, story_step=3)
    assert m.job_id in at.button(key="story_link_training").help  # ?job=<the run's job>
    at = run_page(PAGE, story_step=4)
    assert m.audit_dir in at.button(key="story_link_proof").help  # ?audit=<the run's audit folder>
