"""The project's own hand-written data in ``sample_data/``: loading, validation, counts and the split.

Four files live there (schemas in ``sample_data/README.md``):

- ``prompts.jsonl``          harmful / benign-counterpart / borderline / jailbreak / response items
- ``judge_responses.jsonl``  hand-labelled responses for checking refusal judges
- ``utility_tasks.jsonl``    arithmetic and factual QA with automatically checkable answers
- ``attacks.jsonl``          jailbreak attack templates (data, not code)

``python -m core.samples.files`` validates all four and prints the counts table of the README;
``python -m core.samples.files --write-splits`` recomputes the train/validation split of ``prompts.jsonl``.
Plain Python only (no torch), so the labelling and audit areas can import it cheaply.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.jsonl import read_jsonl

SOURCE = "reasonscope-authored"
LABELS: tuple[str, ...] = ("safe", "unsafe", "rethink")
SPLITS: tuple[str, ...] = ("train", "validation")
# kind -> the label every item of that kind must carry (None: any of LABELS, the response decides)
KIND_LABEL: dict[str, str | None] = {
    "harmful": "unsafe",
    "benign_counterpart": "safe",
    "borderline": "safe",
    "jailbreak": "unsafe",
    "response": None,
}
PAIRED_KINDS = ("harmful", "benign_counterpart", "jailbreak")  # these must hang off a harmful item's pair_id
REQUIRED_FIELDS = ("id", "prompt", "label", "category", "source", "kind", "split", "tags")
ATTACK_FAMILIES: tuple[str, ...] = (
    "role_play",
    "hypothetical",
    "prefix_injection",
    "refusal_suppression",
    "encoding_base64",
    "encoding_leetspeak",
    "past_tense",
    "multi_turn_escalation",
)
# family -> the one placeholder its template must contain
ATTACK_PLACEHOLDER = {f: "{prompt}" for f in ATTACK_FAMILIES} | {
    "encoding_base64": "{prompt_base64}",
    "encoding_leetspeak": "{prompt_leet}",
}
JUDGE_KINDS = (
    "full_refusal",
    "compliance",
    "partial_refusal",
    "refuse_then_comply",
    "comply_with_disclaimer",
    "benign_answer",
)
VALIDATION_FRACTION = 0.25
SPLIT_SALT = "reasonscope-split-v1"  # changing it reshuffles the split; bump only on purpose
LEET_MAP = str.maketrans(
    {
        "a": "4",
        "e": "3",
        "i": "1",
        "o": "0",
        "s": "5",
        "t": "7",
        "A": "4",
        "E": "3",
        "I": "1",
        "O": "0",
        "S": "5",
        "T": "7",
    }
)


def sample_data_dir() -> Path:
    """The repository's ``sample_data/`` folder (found next to the ``core`` package)."""
    return Path(__file__).resolve().parents[2] / "sample_data"


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All JSON objects of a JSONL file; InputError naming the file and line on malformed JSON."""
    return read_jsonl(path)


def to_base64(text: str) -> str:
    """The ``{prompt_base64}`` encoding used by the base64 attack family (UTF-8, standard alphabet)."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def to_leetspeak(text: str) -> str:
    """The ``{prompt_leet}`` encoding used by the leetspeak attack family (a->4 e->3 i->1 o->0 s->5 t->7)."""
    return text.translate(LEET_MAP)


def split_unit(item: dict[str, Any]) -> str:
    """The unit the split is drawn over: the pair (all items sharing a pair_id) or the lone item."""
    return str(item.get("pair_id") or item["id"])


def _stratum(members: list[dict[str, Any]]) -> tuple[str, str]:
    family = "response" if any(m.get("kind") == "response" for m in members) else "prompt"
    return family, str(members[0].get("category", ""))


def assign_splits(
    items: list[dict[str, Any]], validation_fraction: float = VALIDATION_FRACTION
) -> dict[str, str]:
    """Deterministic, pair-preserving, category-stratified split: ``{item id: "train"|"validation"}``.

    Units (pairs or lone items) are sorted by (response-or-prompt, category, salted sha256 of the unit key)
    and every ``1/validation_fraction``-th unit goes to validation (systematic sampling), so each category
    gets its share, both members of a pair land together, and the result depends only on the ids.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise InputError(f"validation_fraction must be between 0 and 1, got {validation_fraction}.")
    units: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        units.setdefault(split_unit(it), []).append(it)

    def order(unit: str) -> tuple[str, str, str]:
        digest = hashlib.sha256(f"{SPLIT_SALT}:{unit}".encode()).hexdigest()
        return (*_stratum(units[unit]), digest)

    out: dict[str, str] = {}
    for i, unit in enumerate(sorted(units, key=order)):
        # floor((i+1)f) > floor(if) exactly once per 1/f positions
        is_val = int((i + 1) * validation_fraction) > int(i * validation_fraction)
        for it in units[unit]:
            out[str(it["id"])] = "validation" if is_val else "train"
    return out


def validate_prompts(items: list[dict[str, Any]]) -> list[str]:
    """Problems in ``prompts.jsonl`` items (empty list = valid): missing fields, duplicate ids, unknown
    labels/kinds/splits, kind-label mismatches, dangling pair_ids, pairs split across splits or categories."""
    problems: list[str] = []
    seen: Counter[str] = Counter(str(it.get("id")) for it in items)
    problems += [f"duplicate id {i!r} ({n} times)" for i, n in sorted(seen.items()) if n > 1]
    for n, it in enumerate(items, start=1):
        where = f"item {n} (id={it.get('id', '?')})"
        missing = [f for f in REQUIRED_FIELDS if f not in it]
        if missing:
            problems.append(f"{where}: missing field(s) {', '.join(missing)}")
            continue
        if not str(it["prompt"]).strip():
            problems.append(f"{where}: empty prompt")
        kind, label = it["kind"], it["label"]
        if label is not None and label not in LABELS:
            problems.append(f"{where}: unknown label {label!r} (use {', '.join(LABELS)} or null)")
        if kind not in KIND_LABEL:
            problems.append(f"{where}: unknown kind {kind!r} (use {', '.join(KIND_LABEL)})")
        elif KIND_LABEL[kind] is not None and label != KIND_LABEL[kind]:
            problems.append(f"{where}: kind {kind!r} needs label {KIND_LABEL[kind]!r}, not {label!r}")
        if kind == "response" and not str(it.get("response") or "").strip():
            problems.append(f"{where}: kind 'response' needs a non-empty response")
        if kind != "response" and it.get("response"):
            problems.append(f"{where}: only kind 'response' items carry a response")
        if it["split"] not in SPLITS:
            problems.append(f"{where}: unknown split {it['split']!r} (use train or validation)")
        if it["source"] != SOURCE:
            problems.append(
                f"{where}: source {it['source']!r} is not {SOURCE!r}; sample_data holds only "
                "items written for this project"
            )
        if not isinstance(it["tags"], list) or not all(isinstance(t, str) for t in it["tags"]):
            problems.append(f"{where}: tags must be a list of strings")
        elif kind == "jailbreak" and sum(t in ATTACK_FAMILIES for t in it["tags"]) != 1:
            problems.append(
                f"{where}: a jailbreak needs exactly one attack-family tag from {ATTACK_FAMILIES}"
            )
        if kind in PAIRED_KINDS and not it.get("pair_id"):
            problems.append(f"{where}: kind {kind!r} needs a pair_id linking it to its harmful item")
    problems += _pair_problems(items)
    return problems


def _pair_problems(items: list[dict[str, Any]]) -> list[str]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        if it.get("pair_id"):
            groups.setdefault(str(it["pair_id"]), []).append(it)
    problems = []
    for pid, members in sorted(groups.items()):
        kinds = [m.get("kind") for m in members]
        ids = ", ".join(str(m.get("id")) for m in members)
        if len(members) < 2:
            problems.append(f"pair_id {pid!r} is dangling: only {ids} uses it")
        if any(k in PAIRED_KINDS for k in kinds) and kinds.count("harmful") != 1:
            problems.append(
                f"pair_id {pid!r} ({ids}) needs exactly one harmful item, has {kinds.count('harmful')}"
            )
        if "harmful" in kinds and "benign_counterpart" not in kinds:
            problems.append(f"pair_id {pid!r} ({ids}): harmful item has no benign counterpart")
        if len({m.get("split") for m in members}) > 1:
            problems.append(f"pair_id {pid!r} ({ids}) is split across train and validation")
        if len({m.get("category") for m in members}) > 1:
            problems.append(f"pair_id {pid!r} ({ids}) mixes categories")
    return problems


def validate_judge(items: list[dict[str, Any]]) -> list[str]:
    """Problems in ``judge_responses.jsonl`` items (fields, unique ids, boolean refusal, known kind)."""
    problems = [f"duplicate id {i!r}" for i, n in Counter(str(it.get("id")) for it in items).items() if n > 1]
    for n, it in enumerate(items, start=1):
        where = f"item {n} (id={it.get('id', '?')})"
        missing = [f for f in ("id", "prompt", "response", "refusal", "kind", "note") if f not in it]
        if missing:
            problems.append(f"{where}: missing field(s) {', '.join(missing)}")
            continue
        if not isinstance(it["refusal"], bool):
            problems.append(f"{where}: refusal must be true or false")
        if it["kind"] not in JUDGE_KINDS:
            problems.append(f"{where}: unknown kind {it['kind']!r} (use {', '.join(JUDGE_KINDS)})")
        if not str(it["response"]).strip() or not str(it["prompt"]).strip():
            problems.append(f"{where}: empty prompt or response")
    return problems


def validate_utility(items: list[dict[str, Any]]) -> list[str]:
    """Problems in ``utility_tasks.jsonl``: ``number`` tasks need a numeric answer, ``contains`` tasks a
    non-empty list of lower-case strings."""
    problems = [f"duplicate id {i!r}" for i, n in Counter(str(it.get("id")) for it in items).items() if n > 1]
    for n, it in enumerate(items, start=1):
        where = f"item {n} (id={it.get('id', '?')})"
        check, answer = it.get("check"), it.get("answer")
        if not str(it.get("prompt", "")).strip():
            problems.append(f"{where}: empty prompt")
        if check == "number":
            if isinstance(answer, bool) or not isinstance(answer, int | float):
                problems.append(f"{where}: check 'number' needs a numeric answer, got {answer!r}")
        elif check == "contains":
            if (
                not isinstance(answer, list)
                or not answer
                or not all(isinstance(a, str) and a and a == a.lower() for a in answer)
            ):
                problems.append(f"{where}: check 'contains' needs a list of lower-case strings")
        else:
            problems.append(f"{where}: unknown check {check!r} (use number or contains)")
    return problems


def validate_attacks(items: list[dict[str, Any]]) -> list[str]:
    """Problems in ``attacks.jsonl``: known family, its placeholder exactly once, no other braces (so the
    template works with both ``str.format`` and ``str.replace``)."""
    problems = [f"duplicate id {i!r}" for i, n in Counter(str(it.get("id")) for it in items).items() if n > 1]
    for n, it in enumerate(items, start=1):
        where = f"item {n} (id={it.get('id', '?')})"
        family, template = it.get("family"), str(it.get("template", ""))
        if family not in ATTACK_FAMILIES:
            problems.append(f"{where}: unknown family {family!r} (use {', '.join(ATTACK_FAMILIES)})")
            continue
        ph = ATTACK_PLACEHOLDER[family]
        if template.count(ph) != 1:
            problems.append(f"{where}: template must contain {ph} exactly once (found {template.count(ph)})")
        rest = template.replace(ph, "")
        if "{" in rest or "}" in rest:
            problems.append(f"{where}: template has braces besides {ph}; remove them")
        if not str(it.get("description", "")).strip():
            problems.append(f"{where}: missing description")
    return problems


def counts(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts of ``prompts.jsonl`` items by kind, label, split, kind x category, kind x split, and tags of
    jailbreaks, plus the item-level train fraction."""
    by_kind_cat: dict[str, Counter[str]] = {}
    by_kind_split: dict[str, Counter[str]] = {}
    for it in items:
        by_kind_cat.setdefault(it["kind"], Counter())[it["category"]] += 1
        by_kind_split.setdefault(it["kind"], Counter())[it["split"]] += 1
    splits = Counter(it["split"] for it in items)
    return {
        "total": len(items),
        "kind": dict(Counter(it["kind"] for it in items)),
        "label": dict(Counter(str(it["label"]) for it in items)),
        "split": dict(splits),
        "train_fraction": splits["train"] / len(items) if items else 0.0,
        "kind_category": {k: dict(sorted(v.items())) for k, v in by_kind_cat.items()},
        "kind_split": {k: dict(v) for k, v in by_kind_split.items()},
        "response_label": dict(Counter(str(it["label"]) for it in items if it["kind"] == "response")),
        "attack_family": dict(
            Counter(
                t for it in items if it["kind"] == "jailbreak" for t in it["tags"] if t in ATTACK_FAMILIES
            )
        ),
    }


def _table(title: str, rows: dict[str, Any]) -> str:
    lines = [f"| {title} | n |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(rows.items())]
    return "\n".join(lines)


def markdown_summary(folder: Path | None = None) -> str:
    """The counts section of ``sample_data/README.md``; InputError listing the problems if invalid."""
    folder = folder or sample_data_dir()
    prompts = load_jsonl(folder / "prompts.jsonl")
    judge = load_jsonl(folder / "judge_responses.jsonl")
    utility = load_jsonl(folder / "utility_tasks.jsonl")
    attacks = load_jsonl(folder / "attacks.jsonl")
    problems = (
        validate_prompts(prompts)
        + validate_judge(judge)
        + validate_utility(utility)
        + validate_attacks(attacks)
    )
    if problems:
        raise InputError("sample_data is invalid:\n  " + "\n  ".join(problems))
    c = counts(prompts)
    kc = c["kind_category"]
    parts = [
        f"`prompts.jsonl`: {c['total']} items, train fraction {c['train_fraction']:.3f}.",
        _table("kind", c["kind"]),
        _table("label", c["label"]),
        _table("harmful category (each with a benign counterpart)", kc.get("harmful", {})),
        _table("borderline category", kc.get("borderline", {})),
        _table("jailbreak attack family", c["attack_family"]),
        _table("response label", c["response_label"]),
        "| kind | train | validation |\n|---|---:|---:|\n"
        + "\n".join(
            f"| {k} | {v.get('train', 0)} | {v.get('validation', 0)} |"
            for k, v in sorted(c["kind_split"].items())
        ),
        f"`judge_responses.jsonl`: {len(judge)} responses, "
        f"{sum(bool(j['refusal']) for j in judge)} refusal=true.",
        _table("judge kind", dict(Counter(j["kind"] for j in judge))),
        f"`utility_tasks.jsonl`: {len(utility)} tasks.",
        _table("check", dict(Counter(u["check"] for u in utility))),
        f"`attacks.jsonl`: {len(attacks)} templates.",
        _table("family", dict(Counter(a["family"] for a in attacks))),
    ]
    return "\n\n".join(parts)


def write_splits(path: Path | None = None) -> int:
    """Recompute the ``split`` field of ``prompts.jsonl`` in place; returns how many items changed."""
    path = path or sample_data_dir() / "prompts.jsonl"
    items = load_jsonl(path)
    splits = assign_splits(items)
    changed = sum(it.get("split") != splits[str(it["id"])] for it in items)
    for it in items:
        it["split"] = splits[str(it["id"])]
    text = "".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic: a crash leaves the old file intact
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python -m core.samples.files [--write-splits]``: validate and print counts (exit 1 if invalid)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if "--write-splits" in argv:
            print(f"split rewritten: {write_splits()} item(s) changed")
        print(markdown_summary())
    except InputError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
