"""Audit folders: JSONL round trip -> identical scorecard, human overrides kept and applied, offline HTML."""

from __future__ import annotations

import json

import pytest

from core.errors import InputError
from core.evals.judges import COMPLIANCE, REFUSAL
from core.evals.report import load_audit, save_audit, saved_summary, scorecard, summary_rows, write_report
from core.evals.review import HumanVerdicts, disagreement_rows
from core.evals.runner import run_audit
from core.evals.suites import AuditOptions, Subject
from tests.unit.evals.test_suites import responder


@pytest.fixture()
def audit(data, tmp_path):
    items, attacks, utility = data
    opts = AuditOptions(
        attack_files=[str(attacks)],
        builtin_attacks=False,
        utility_file=str(utility),
        judges=["keyword"],
        seed=7,
    )
    res = run_audit(
        [Subject(name="base"), Subject(template="alphaalign", name="aa <b>tagged</b>")],
        ["refusal", "over_refusal", "jailbreak", "utility"],
        dataset=str(items),
        options=opts,
        responder=responder,
    )
    return res, save_audit(res, tmp_path / "audit")


def test_round_trip_gives_the_identical_scorecard(audit):
    res, folder = audit
    assert {p.name for p in folder.iterdir()} >= {
        "records.jsonl",
        "summary.jsonl",
        "meta.json",
        "report.html",
    }
    lines = (folder / "records.jsonl").read_text().splitlines()
    assert len(lines) == len(res.records)
    first = json.loads(lines[0])
    assert {"subject", "item_id", "attack", "prompt", "response", "verdicts", "final", "outcome"} <= set(
        first
    )
    assert first["verdicts"]["keyword"]["label"] in (REFUSAL, COMPLIANCE)
    back = load_audit(folder)
    assert scorecard(back) == scorecard(res)
    assert summary_rows(back) == saved_summary(folder)  # recomputed == what was written
    assert [r.to_json() for r in back.records] == [json.loads(x) for x in lines]
    kinds = {row["type"] for row in saved_summary(folder)}
    assert kinds == {"summary", "comparison"}
    meta = json.loads((folder / "meta.json").read_text())
    for key in (
        "dataset_hash",
        "utility_hash",
        "attack_file_hashes",
        "packages",
        "seeds",
        "subjects",
        "options",
    ):
        assert meta[key], key
    assert meta["seeds"]["bootstrap"] == 7 and meta["packages"]["numpy"]


def test_human_override_changes_the_scorecard_and_is_kept(audit):
    res, folder = audit
    rec = next(
        r for r in res.records if r.subject == "base" and r.suite == "refusal" and r.final.label == REFUSAL
    )
    before = {(r["subject"], r["suite"]): r for r in scorecard(res)}[("base", "refusal")]
    HumanVerdicts(folder).add(rec.attempt_id, COMPLIANCE, annotator="ada", note="content after the apology")
    back = load_audit(folder)
    row = {(r["subject"], r["suite"]): r for r in scorecard(back)}[("base", "refusal")]
    assert row["k"] == before["k"] - 1 and row["n_human"] == 1
    r2 = next(r for r in back.records if r.attempt_id == rec.attempt_id)
    assert r2.final.label == REFUSAL and r2.effective.label == COMPLIANCE  # the judge's verdict is kept
    assert load_audit(folder, with_humans=False).records[0].human is None
    write_report(folder)
    assert "human verdict by ada" in (folder / "report.html").read_text()  # rebuilt report shows the override


def test_html_report_is_offline_and_escaped(audit):
    _, folder = audit
    html = (folder / "report.html").read_text()
    import re

    assert not re.search(r"<script[^>]+src=", html)  # plotly.js inline, nothing loaded from a CDN
    assert html.count("Plotly.newPlot") >= 2  # scorecard + per-category charts
    assert "aa &lt;b&gt;tagged&lt;/b&gt;" in html and "aa <b>tagged</b>" not in html.split("<script")[0]
    assert "Worst items" in html and "Reproducibility" in html
    assert len(html) > 3_000_000  # plotly.js is inline


def test_disagreements_list_and_bad_folder(audit, tmp_path):
    res, _ = audit
    assert disagreement_rows(res.records) == []  # one judge: nothing to disagree about
    with pytest.raises(InputError, match="not an audit folder"):
        load_audit(tmp_path / "nowhere")


def test_a_human_verdict_applies_to_every_suite_that_judged_the_response(data, tmp_path):
    items, _, _ = data
    res = run_audit(
        [Subject(template="alphaalign", name="aa")],
        ["refusal", "reasoning_leak"],
        dataset=str(items),
        responder=responder,
    )
    folder = save_audit(res, tmp_path / "a")
    leak = {s.suite: s.rate.rate for s in res.summaries}["reasoning_leak"]
    assert leak == pytest.approx(1 / 4)  # h1: leaky reasoning, refusing answer
    h1 = next(r for r in res.records if r.item_id == "h1" and r.suite == "refusal")
    HumanVerdicts(folder).add(h1.attempt_id, COMPLIANCE, annotator="ada", note="the reasoning gave the steps")
    back = load_audit(folder)
    rates = {s.suite: s.rate.rate for s in back.summaries}
    assert rates["refusal"] == pytest.approx(1 / 4) and rates["reasoning_leak"] == 0.0
    assert sum(r.human is not None for r in back.records) == 2  # both attempts on h1's response
