"""The project's own sample data: schema, minimum counts, pairing, split, safety invariants, README sync."""

from __future__ import annotations

import base64
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from core.errors import InputError
from core.samples.files import (
    ATTACK_FAMILIES,
    ATTACK_PLACEHOLDER,
    SOURCE,
    assign_splits,
    counts,
    load_jsonl,
    main,
    markdown_summary,
    sample_data_dir,
    to_base64,
    to_leetspeak,
    validate_attacks,
    validate_judge,
    validate_prompts,
    validate_utility,
    write_splits,
)

ELIDED = "omitted in this dataset"
PLACEHOLDERS = ("{prompt}", "{prompt_base64}", "{prompt_leet}")


@pytest.fixture(scope="module")
def prompts() -> list[dict]:
    return load_jsonl(sample_data_dir() / "prompts.jsonl")


@pytest.fixture(scope="module")
def judge() -> list[dict]:
    return load_jsonl(sample_data_dir() / "judge_responses.jsonl")


@pytest.fixture(scope="module")
def attacks() -> list[dict]:
    return load_jsonl(sample_data_dir() / "attacks.jsonl")


@pytest.fixture(scope="module")
def utility() -> list[dict]:
    return load_jsonl(sample_data_dir() / "utility_tasks.jsonl")


def _of(items: list[dict], kind: str) -> list[dict]:
    return [it for it in items if it["kind"] == kind]


def test_sample_data_dir_is_the_repo_folder():
    assert sample_data_dir() == Path(__file__).resolve().parents[3] / "sample_data"
    assert (sample_data_dir() / "README.md").is_file()


def test_all_files_are_valid(prompts, judge, utility, attacks):
    assert validate_prompts(prompts) == []
    assert validate_judge(judge) == []
    assert validate_utility(utility) == []
    assert validate_attacks(attacks) == []


def test_minimum_counts(prompts):
    c = counts(prompts)
    assert c["kind"]["harmful"] >= 130
    assert c["kind"]["benign_counterpart"] >= 130
    assert c["kind"]["borderline"] >= 70
    assert c["kind"]["jailbreak"] >= 45
    assert c["kind"]["response"] >= 45
    for label in ("safe", "unsafe", "rethink"):
        assert c["response_label"][label] >= 12, label
    assert len(c["kind_category"]["borderline"]) >= 5
    # every attack family used by the issue appears among the jailbreaks
    assert set(c["attack_family"]) == set(ATTACK_FAMILIES)


def test_harmful_categories(prompts):
    cats = Counter(it["category"] for it in _of(prompts, "harmful"))
    assert len(cats) >= 8
    for required in (
        "weapons",
        "cyber_intrusion",
        "drugs",
        "fraud",
        "self_harm",
        "hate_harassment",
        "privacy",
        "violent_extremism",
    ):
        assert cats[required] >= 10, required
    assert not any("minor" in c or "sexual" in c for c in cats)


def test_every_harmful_item_has_a_benign_counterpart_in_the_same_split(prompts):
    by_pair: dict[str, list[dict]] = {}
    for it in prompts:
        if it.get("pair_id"):
            by_pair.setdefault(it["pair_id"], []).append(it)
    for h in _of(prompts, "harmful"):
        members = by_pair[h["pair_id"]]
        benign = [m for m in members if m["kind"] == "benign_counterpart"]
        assert len(benign) == 1, h["id"]
        assert benign[0]["split"] == h["split"] and benign[0]["category"] == h["category"]
        assert benign[0]["prompt"] != h["prompt"]
    for jb in _of(prompts, "jailbreak"):
        anchor = [m for m in by_pair[jb["pair_id"]] if m["kind"] == "harmful"]
        assert len(anchor) == 1 and anchor[0]["split"] == jb["split"], jb["id"]


def test_labels_follow_kind(prompts):
    expected = {
        "harmful": "unsafe",
        "benign_counterpart": "safe",
        "borderline": "safe",
        "jailbreak": "unsafe",
    }
    for it in prompts:
        if it["kind"] in expected:
            assert it["label"] == expected[it["kind"]], it["id"]
        else:
            assert it["response"], it["id"]


def test_ids_follow_the_naming_scheme(prompts):
    pattern = {
        "harmful": r"h-[a-z]+-\d{3}",
        "benign_counterpart": r"b-[a-z]+-\d{3}",
        "borderline": r"bl-\d{3}",
        "jailbreak": r"jb-\d{3}",
        "response": r"r-(safe|unsafe|rethink)-\d{3}",
    }
    for it in prompts:
        assert re.fullmatch(pattern[it["kind"]], it["id"]), it["id"]
        if it["kind"] == "response":
            assert it["id"].split("-")[1] == it["label"]


def test_only_project_authored_items(prompts):
    assert {it["source"] for it in prompts} == {SOURCE}


def test_split_is_deterministic_stratified_and_in_range(prompts):
    file_splits = {it["id"]: it["split"] for it in prompts}
    assert assign_splits(prompts) == file_splits, "run python -m core.samples.files --write-splits"
    shuffled = list(prompts)
    random.Random(0).shuffle(shuffled)
    assert assign_splits(shuffled) == file_splits  # independent of file order
    train = sum(s == "train" for s in file_splits.values()) / len(file_splits)
    assert 0.65 <= train <= 0.85
    # stratified: every harmful category has pairs in both splits, in roughly the global ratio
    for cat, n in Counter(it["category"] for it in _of(prompts, "harmful")).items():
        n_val = sum(it["split"] == "validation" for it in _of(prompts, "harmful") if it["category"] == cat)
        assert 0.15 <= n_val / n <= 0.35, cat
    for kind in ("borderline", "response"):
        splits = Counter(it["split"] for it in _of(prompts, kind))
        assert splits["train"] and splits["validation"], kind


def test_harmful_and_benign_are_not_separable_by_length_or_style(prompts):
    harmful, benign = _of(prompts, "harmful"), _of(prompts, "benign_counterpart")
    words_h = sum(len(it["prompt"].split()) for it in harmful) / len(harmful)
    words_b = sum(len(it["prompt"].split()) for it in benign) / len(benign)
    assert abs(words_h - words_b) / words_b < 0.10
    q_h = sum("?" in it["prompt"] for it in harmful) / len(harmful)
    q_b = sum("?" in it["prompt"] for it in benign) / len(benign)
    assert abs(q_h - q_b) < 0.10


def test_encoded_jailbreaks_really_encode_their_harmful_item(prompts):
    harmful = {it["pair_id"]: it["prompt"] for it in _of(prompts, "harmful")}
    encoded = [it for it in _of(prompts, "jailbreak") if "encoding" in it["tags"]]
    assert len(encoded) >= 6
    for it in encoded:
        target = harmful[it["pair_id"]]
        if "encoding_base64" in it["tags"]:
            assert to_base64(target) in it["prompt"], it["id"]
            assert target not in it["prompt"]
        else:
            assert to_leetspeak(target) in it["prompt"], it["id"]
    assert base64.b64decode(to_base64("kill -9 ünïcode")).decode() == "kill -9 ünïcode"
    assert to_leetspeak("Test site") == "7357 5173"


def test_compliant_responses_never_contain_specifics(prompts, judge):
    """Every response that goes along with a harmful request elides its specifics."""
    for it in _of(prompts, "response"):
        if it["label"] in ("unsafe", "rethink"):
            assert ELIDED in it["response"], it["id"]
    for it in judge:
        if it["kind"] in ("compliance", "refuse_then_comply", "comply_with_disclaimer"):
            assert ELIDED in it["response"], it["id"]


def test_alphaalign_items_are_well_formed(prompts):
    aa = [it for it in _of(prompts, "response") if "alphaalign" in it["tags"]]
    assert 0.4 <= len(aa) / len(_of(prompts, "response")) <= 0.6
    shape = re.compile(
        r"<safety_reasoning>(?:(?!</?safety_reasoning>).)+</safety_reasoning><answer>"
        r"(?:(?!</?answer>).)+</answer>",
        re.S,
    )
    for it in aa:
        assert shape.fullmatch(it["response"]), it["id"]
    for it in _of(prompts, "response"):
        if "think" in it["tags"]:
            assert it["response"].startswith("<think>") and "</think>" in it["response"]


def test_response_triples_share_a_prompt(prompts):
    triples: dict[str, list[dict]] = {}
    for it in _of(prompts, "response"):
        if it["pair_id"]:
            triples.setdefault(it["pair_id"], []).append(it)
    assert len(triples) >= 12
    for pid, members in triples.items():
        assert sorted(m["label"] for m in members) == ["rethink", "safe", "unsafe"], pid
        assert len({m["prompt"] for m in members}) == 1


def test_jailbreak_templates_each_contain_exactly_one_placeholder(attacks):
    assert len(attacks) >= 10
    assert {a["family"] for a in attacks} == set(ATTACK_FAMILIES)
    for a in attacks:
        found = sum(a["template"].count(p) for p in PLACEHOLDERS)
        assert found == 1, a["id"]
        assert a["template"].count(ATTACK_PLACEHOLDER[a["family"]]) == 1
        filled = a["template"].format(prompt="X", prompt_base64="X", prompt_leet="X")
        assert filled == a["template"].replace(ATTACK_PLACEHOLDER[a["family"]], "X")


def test_judge_set(judge):
    assert len(judge) >= 100
    refusals = Counter(it["refusal"] for it in judge)
    assert refusals[True] >= 30 and refusals[False] >= 30
    kinds = Counter(it["kind"] for it in judge)
    assert all(
        kinds[k] >= 8
        for k in (
            "full_refusal",
            "compliance",
            "partial_refusal",
            "refuse_then_comply",
            "comply_with_disclaimer",
            "benign_answer",
        )
    )
    # the label follows the kind (a reasoning leak counts as compliance: the content was provided)
    for it in judge:
        assert it["refusal"] == (it["kind"] in ("full_refusal", "partial_refusal")), it["id"]
    text = " ".join(it["response"] for it in judge if not it["refusal"])
    for hard in ("I can't believe", "Sorry to hear", "<safety_reasoning>", "However, here's how"):
        assert hard in text, hard


def test_utility_tasks(utility):
    assert len(utility) >= 40
    checks = Counter(u["check"] for u in utility)
    assert checks["number"] >= 15 and checks["contains"] >= 15
    math = {u["id"]: u["answer"] for u in utility if u["check"] == "number"}
    assert math["u-math-001"] == 391 and math["u-math-007"] == 210  # spot checks against hand arithmetic


def test_validate_prompts_reports_each_problem():
    good = {"prompt": "p", "response": None, "category": "c", "source": SOURCE, "split": "train", "tags": []}
    items = [
        {**good, "id": "h1", "label": "unsafe", "kind": "harmful", "pair_id": "p1"},
        {
            **good,
            "id": "b1",
            "label": "safe",
            "kind": "benign_counterpart",
            "pair_id": "p1",
            "split": "validation",
        },
        {**good, "id": "h1", "label": "maybe", "kind": "borderline"},
        {
            **good,
            "id": "jb1",
            "label": "unsafe",
            "kind": "jailbreak",
            "pair_id": "nowhere",
            "tags": ["role_play"],
        },
        {"id": "x", "prompt": "p"},
        {**good, "id": "s1", "label": "safe", "kind": "borderline", "source": "advbench"},
        {**good, "id": "h2", "label": "unsafe", "kind": "harmful", "pair_id": "p2"},
        {**good, "id": "jb2", "label": "unsafe", "kind": "jailbreak", "pair_id": "p2", "tags": []},
    ]
    text = "\n".join(validate_prompts(items))
    assert "duplicate id 'h1'" in text
    assert "unknown label 'maybe'" in text
    assert "'nowhere' is dangling" in text
    assert "'p1' (h1, b1) is split across" in text
    assert "missing field(s) label, category, source, kind, split, tags" in text
    assert "source 'advbench'" in text
    assert "'p2' (h2, jb2): harmful item has no benign counterpart" in text
    assert "exactly one attack-family tag" in text


def test_other_validators_report_problems():
    assert (
        "refusal must be true or false"
        in validate_judge(
            [{"id": "a", "prompt": "p", "response": "r", "refusal": "yes", "kind": "compliance", "note": ""}]
        )[0]
    )
    assert (
        "lower-case"
        in validate_utility([{"id": "u", "prompt": "p", "answer": ["Paris"], "check": "contains"}])[0]
    )
    assert "numeric" in validate_utility([{"id": "u", "prompt": "p", "answer": "3", "check": "number"}])[0]
    twice = validate_attacks(
        [{"id": "a", "family": "role_play", "template": "{prompt} {prompt}", "description": "d"}]
    )
    assert "exactly once (found 2)" in twice[0]
    wrong = validate_attacks(
        [{"id": "a", "family": "encoding_base64", "template": "{prompt}", "description": "d"}]
    )
    assert "{prompt_base64} exactly once (found 0)" in wrong[0] and "braces" in wrong[1]


def test_load_jsonl_names_the_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a"}\n\n{"id": "b", oops}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"line 3: malformed JSON"):
        load_jsonl(path)


def test_write_splits_restores_the_fixed_split(tmp_path, prompts):
    path = tmp_path / "prompts.jsonl"
    scrambled = [{**it, "split": "train"} for it in prompts]
    path.write_text("".join(json.dumps(it) + "\n" for it in scrambled), encoding="utf-8")
    changed = write_splits(path)
    assert changed == sum(it["split"] == "validation" for it in prompts) > 0
    assert [it["split"] for it in load_jsonl(path)] == [it["split"] for it in prompts]
    assert write_splits(path) == 0


def test_readme_shows_current_counts_and_cli_runs(capsys):
    readme = (sample_data_dir() / "README.md").read_text(encoding="utf-8")
    assert markdown_summary() in readme, (
        "README counts are stale: paste `python -m core.samples.files` output"
    )
    for phrase in ("CC-BY-4.0", "no item was copied", "omitted in this dataset", "--write-splits"):
        assert phrase.lower() in readme.lower(), phrase
    assert main([]) == 0
    assert "`prompts.jsonl`:" in capsys.readouterr().out


def test_cli_reports_invalid_data(tmp_path, monkeypatch, capsys):
    for name in ("prompts", "judge_responses", "utility_tasks", "attacks"):
        (tmp_path / f"{name}.jsonl").write_text(
            (sample_data_dir() / f"{name}.jsonl").read_text("utf-8"), "utf-8"
        )
    with (tmp_path / "attacks.jsonl").open("a", encoding="utf-8") as f:
        f.write(
            json.dumps({"id": "bad", "family": "role_play", "template": "no placeholder", "description": "d"})
            + "\n"
        )
    monkeypatch.setattr("core.samples.files.sample_data_dir", lambda: tmp_path)
    assert main([]) == 1
    assert "template must contain {prompt} exactly once" in capsys.readouterr().err
