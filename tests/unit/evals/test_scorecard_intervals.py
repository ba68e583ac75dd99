"""The scorecard at small n: the CLI text, the HTML report and the Audit page rows all show Wilson intervals
with n and "too few"; paired differences show Newcombe intervals; an old audit saved with bootstrap intervals
still opens and says its intervals were recomputed; ``--limit`` is stratified across categories."""

from __future__ import annotations

import json

from app.helpers_audit import category_table_rows, scorecard_table_rows
from core.evals.html_report import build_html
from core.evals.items import select_items, stratified_sample
from core.evals.report import describe, load_audit, save_audit
from core.evals.result import category_rows, scorecard
from core.evals.runner import run_audit
from core.evals.stats import wilson_interval
from core.evals.suites import AuditOptions, Subject
from core.labelled import LabelledItem

ANSWERS = {"base": "Sure, here it is.", "tuned": "I'm sorry, but I can't help with that."}


def _three_item_audit(tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(
            json.dumps({"id": f"h{i}", "prompt": f"harm {i}", "kind": "harmful", "category": f"c{i % 2}"})
            + "\n"
            for i in range(3)
        )
    )
    res = run_audit(
        [Subject(name="base"), Subject(name="tuned")],
        ["refusal"],
        dataset=str(items),
        split="all",
        options=AuditOptions(),
        responder=lambda s, ps: [ANSWERS[s.label]] * len(ps),
    )
    return res, save_audit(res, tmp_path / "audit")


def test_zero_of_three_has_a_real_interval_everywhere(tmp_path):
    res, folder = _three_item_audit(tmp_path)
    base, tuned = scorecard(res)
    lo, hi = wilson_interval(0, 3)
    assert base["rate"] == 0 and base["ci_low"] == lo == 0 and base["ci_high"] == hi >= 0.40
    assert base["too_few"] and base["ci_method"] == "wilson"
    assert base["rate_text"] == f"0.0 % [0.0, {100 * hi:.1f}] · n = 3 · too few"
    # paired: 0/3 -> 3/3, the Newcombe interval is not [100, 100]
    assert tuned["delta"] == 1.0 and tuned["delta_method"] == "newcombe"
    assert tuned["delta_ci"][1] == 1.0 and tuned["delta_ci"][0] < 0.6

    text = describe(res)  # the CLI scorecard
    assert f"0.0 % [0.0, {100 * hi:.1f}] · n = 3 · too few" in text
    assert "100.0 % [" in text and "Δ +100.0 pt [+" in text
    assert "by category / attack family:" in text and "n = 2 · too few" in text
    assert "'too few' marks rates from fewer than 10 items" in text

    page = build_html(res)  # the HTML report
    assert f"0.0 % [0.0, {100 * hi:.1f}] · n = 3 · too few" in page
    assert "<tr class='few'>" in page and "Wilson score 95 %" in page and "Newcombe" in page
    assert "percentile-bootstrap" not in page

    rows = scorecard_table_rows(scorecard(res), 2)  # the Audit page
    assert rows[0]["95 % CI"] == f"[0.0, {100 * hi:.1f}]" and rows[0]["n"] == 3
    assert rows[0]["note"] == "too few (n < 10)" and rows[1]["Δ 95 % CI"].startswith("[+")
    cats = category_table_rows(category_rows(res))
    assert {(c["subject"], c["category"], c["n"]) for c in cats} == {
        ("base", "c0", 2),
        ("base", "c1", 1),
        ("tuned", "c0", 2),
        ("tuned", "c1", 1),
    }
    assert all(c["note"] == "too few (n < 10)" for c in cats)


def test_old_bootstrap_audit_opens_and_says_intervals_were_recomputed(tmp_path):
    res, folder = _three_item_audit(tmp_path)
    assert "Intervals recomputed" not in " ".join(load_audit(folder).meta.get("warnings", []))
    # what an older version wrote: bootstrap CIs collapsed at 0/3, p_bootstrap, no method fields
    old = []
    for line in (folder / "summary.jsonl").read_text().splitlines():
        row = json.loads(line)
        row.pop("method", None)
        row.pop("delta_method", None)
        if row["type"] == "summary":
            row["low"] = row["high"] = row["rate"]
        else:
            row["p_bootstrap"], row["delta_low"], row["delta_high"] = 0.001, 1.0, 1.0
        old.append(json.dumps(row))
    (folder / "summary.jsonl").write_text("\n".join(old) + "\n")
    back = load_audit(folder)
    notes = [w for w in back.meta["warnings"] if w.startswith("Intervals recomputed on load")]
    assert len(notes) == 1 and back.meta["intervals_recomputed"]
    assert scorecard(back) == scorecard(res)  # the records are unchanged; intervals recomputed from them
    assert "note: Intervals recomputed on load" in describe(back)
    assert "Intervals recomputed on load" in build_html(back)


def _item(i: int, cat: str, kind: str = "harmful") -> LabelledItem:
    return LabelledItem(id=f"{cat}-{i}", prompt=f"{cat} {i}", kind=kind, category=cat, split="validation")


def test_limit_is_stratified_across_categories_and_seeded():
    # the file lists 20 of category a first, then 5 of b and 5 of c: the first 6 would all be a
    items = [_item(i, "a") for i in range(20)] + [_item(i, c) for c in "bc" for i in range(5)]
    items += [_item(i, "x", kind="benign_counterpart") for i in range(4)]
    got = select_items(items, ["harmful", "benign_counterpart"], "validation", limit=6, seed=3)
    harmful = [it for it in got if it.kind == "harmful"]
    assert len(harmful) == 6 and {c: [it.category for it in harmful].count(c) for c in "abc"} == {
        "a": 2,
        "b": 2,
        "c": 2,
    }
    assert len([it for it in got if it.kind == "benign_counterpart"]) == 4  # fewer than the limit: all
    assert harmful == sorted(harmful, key=items.index)  # file order kept
    assert select_items(items, ["harmful"], "validation", limit=6, seed=3) == harmful  # seeded
    others = {tuple(it.id for it in stratified_sample(items[:30], 6, s)) for s in range(5)}
    assert len(others) > 1  # another seed, another sample
    # a category with fewer items than its share gives the rest to the others
    skewed = [_item(i, "a") for i in range(10)] + [_item(0, "b")]
    cats = [it.category for it in stratified_sample(skewed, 5, 0)]
    assert cats.count("b") == 1 and cats.count("a") == 4
    assert stratified_sample(skewed, None, 0) == skewed and stratified_sample(skewed, 50, 0) == skewed


def test_limit_flows_from_audit_options(tmp_path):
    items = tmp_path / "items.jsonl"
    rows = [{"id": f"a{i}", "prompt": f"a {i}", "kind": "harmful", "category": "a"} for i in range(8)]
    rows += [{"id": f"b{i}", "prompt": f"b {i}", "kind": "harmful", "category": "b"} for i in range(8)]
    items.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = run_audit(
        [Subject(name="s")],
        ["refusal"],
        dataset=str(items),
        split="all",
        options=AuditOptions(limit=4, seed=1),
        responder=lambda s, ps: ["no"] * len(ps),
    )
    assert sorted(r.category for r in res.records) == ["a", "a", "b", "b"]
    assert res.summaries[0].rate.n == 4
