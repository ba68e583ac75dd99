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


def test_grid_reads_the_prompt_where_the_probe_was_trained(bundle, tiny_model):
    """The probe's read of each prompt is its pooled feature (mean over the post-instruction tokens, under the
    probe's plain template), checked against transformers' own ``output_hidden_states``."""
    import torch

    from core.capture.templates import build_messages
    from core.probes.artefacts import load_probe_set

    s = load_story()
    ps = load_probe_set("story-test-probe", fingerprint=tiny_model.fingerprint, model_name=tiny_model.name)
    for kind in ("harmful", "benign"):
        g = s.grids[kind]
        assert g["positions"] == "post_instruction" and g["template"] == "plain"
        ids = tiny_model.encode_chat(build_messages(s.pair[kind]["prompt"], template="plain"))
        start, end = g["first_position"] + g["read_from"], g["first_position"] + len(g["tokens"])
        assert end == len(ids) and 0 < start < end  # the template suffix, after the request's text
        with torch.no_grad():
            hs = tiny_model.hf_model(torch.tensor([ids]), output_hidden_states=True).hidden_states
        for i, layer in enumerate(g["layers"]):
            if layer == tiny_model.n_layers:  # transformers' last entry is after the final norm
                continue
            ref = hs[layer][0, start:end].mean(0).numpy()
            assert abs(g["read"][i] - float(ps.score(ref, layer))) < 1e-4, (kind, layer)
    choice, thr, L = s.grids["choice"], s.monitor["threshold"], s.probe_layer
    reads = {k: s.grids[k]["read"][s.grids[k]["layers"].index(L)] for k in ("harmful", "benign")}
    assert choice["read_right"] == (reads["harmful"] >= thr > reads["benign"]) and 1 <= choice["rank"]
    lines = " ".join(facts_knows(s))
    assert f"layer {s.probe_layer}" in lines and f"{s.grids['harmful']['read'][s.probe_layer]:.2f}" in lines


def facts_knows(s):
    from core.story.facts import knows_lines

    return knows_lines(s)


def test_training_curves_join_the_warm_start_and_grpo(bundle):
    """A warm start (supervised, ``warmstart/`` metrics) then GRPO: the monitor's refusal curves run on one
    timeline (GRPO's steps after the warm start's last), the loss stays the warm start's own."""
    from core.jobs.store import JobStore

    m = load_manifest()
    store = JobStore()
    for step in range(1, 5):
        values = {"warmstart/loss": 1.0 / step}
        if step % 2 == 0:
            values |= {"warmstart/monitor/refusal_harmful": step / 4, "warmstart/monitor/over_refusal": 0.1}
        store.append(m.job_id, "metric", {"step": step, "values": values}, attempt=1)
    store.append(m.job_id, "metric", {"step": 8, "values": {"monitor/refusal_harmful": 0.9}}, attempt=1)
    store.close()
    c = load_story().curves
    assert c["Harmful refusal"]["step"] == [2, 4, 12] and c["Harmful refusal"]["value"] == [0.5, 1.0, 0.9]
    assert c["Harmful refusal"]["metric"] == "warmstart/monitor/refusal_harmful + monitor/refusal_harmful"
    assert c["Harmful refusal"]["phase_end"] == 4
    assert c["Loss"]["metric"] == "warmstart/loss" and c["Loss"]["step"] == [1, 2, 3, 4]
    assert c["Reward"]["step"] == list(range(5, 13))  # GRPO's 8 steps after the warm start's 4


def test_guard_counts_answer_tokens_not_the_prompt(bundle):
    """The stop guard acts on the first *generated* token over the threshold (the monitor's rule): a prompt
    token over it (e.g. the first token, an attention sink) is not where anything was flagged."""
    from core.story.facts import guard_lines

    s = load_story()
    thr = s.monitor["threshold"]
    toks = [
        {"position": 0, "text": "<s>", "score": 0.99, "generated": False},
        {"position": 1, "text": "x", "score": 0.0, "generated": False},
        {"position": 2, "text": "a", "score": max(thr - 0.2, 0.0), "generated": True},
        {"position": 3, "text": "b", "score": min(thr + 0.01, 1.0), "generated": True},
    ]
    s.monitor = {**s.monitor, "tokens": toks, "crossing": None}
    text = " ".join(guard_lines(s))
    assert "answer token 2;" in text and "prompt token" not in text
    s.monitor = {**s.monitor, "crossing": 2}  # the monitor's own record wins
    assert "answer token 1;" in " ".join(guard_lines(s))
