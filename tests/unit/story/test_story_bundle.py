"""The story bundle: built from a synthetic run + probe with the tiny model, read back from the artefacts, and
exported as one offline HTML file. Changing an artefact changes the story (nothing is copied)."""

from __future__ import annotations

import json
import os
import time

import pytest

from core.story.bundle import load_manifest, mtimes, story_dir
from core.story.export import MAX_BYTES, story_html
from core.story.facts import scorecard_rows
from core.story.read import load_story
from tests.story_fixtures import make_bundle


@pytest.fixture()
def bundle(rs_home, tiny_model):
    return make_bundle(rs_home, tiny_model)


def test_build_writes_a_manifest_with_provenance(bundle, tiny_model):
    m = load_manifest()
    assert m.model["fingerprint"] == tiny_model.fingerprint
    pv = m.provenance
    assert pv["model_fingerprint"] == tiny_model.fingerprint
    assert pv["data_hashes"]["audit"] and pv["data_hashes"]["records"]
    assert set(pv["seeds"]) >= {"audit", "probe", "story"}
    assert pv["packages"]["numpy"] and pv["packages"]["python"]
    assert (story_dir() / "grids.json").is_file() and (story_dir() / "monitor.json").is_file()


def test_story_reads_every_step(bundle, tiny_model):
    s = load_story()
    assert s.pair["harmful"]["label"] == "compliance" and s.pair["benign"]["label"] == "compliance"
    g = s.grids["harmful"]
    assert len(g["p_unsafe"]) == len(g["layers"]) and len(g["p_unsafe"][0]) == len(g["tokens"])
    assert s.probe_layer in s.auroc["layers"]
    assert s.monitor["tokens"] and 0 <= s.monitor["threshold"] <= 1
    assert set(s.curves) == {"Reward", "Harmful refusal", "Over-refusal", "Loss"}
    assert s.curves["Reward"]["step"] == list(range(1, 9))
    assert s.rates["base/refusal"]["n"] > 0 and "refusal" in s.comparisons
    assert s.examples and all(e["after_label"] == "refusal" for e in s.examples)
    assert s.repdiff["most_changed_layer"] == tiny_model.n_layers
    n_rows = 2 * 2 * 2 * (tiny_model.n_layers + 1)  # base+tuned x (2 harmful + 2 benign... capped by data)
    assert len(s.map["coords"]) == len(s.map["rows"]) <= n_rows * 2


def test_changing_an_artefact_changes_the_story(bundle):
    m = load_manifest()
    before = mtimes()
    report = json.loads((story_dir().parent / "runs").joinpath(m.job_id, "audit", "report.json").read_text())
    report["rates"]["tuned/refusal"]["rate"] = 0.4242
    path = story_dir().parent / "runs" / m.job_id / "audit" / "report.json"
    path.write_text(json.dumps(report))
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert mtimes() != before  # the page's cache key moves
    s = load_story()
    assert "42.4 %" in scorecard_rows(s)[0]["tuned"]
    assert "42.4 %" in story_html(s)


def test_export_is_offline_and_small(bundle):
    html = story_html(load_story())
    assert len(html.encode()) < MAX_BYTES
    assert html.count("<section class='step'") == 6
    # plotly.js inline once; nothing fetched from anywhere
    assert "<script src=" not in html and "<link " not in html and "@import" not in html
    assert (
        html.count("Plotly.newPlot") >= 6
    )  # figures embedded, plotly.js inline (checked offline in Chromium)
