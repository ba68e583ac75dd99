"""The base model's audit answers are cached across alignment runs: the second audit with the same cache
generates only the tuned side and reports the same base numbers; a broken cache file only costs
regeneration."""

from __future__ import annotations

import json
from pathlib import Path

from core.align.evaluate import audit_base_vs_tuned, load_base_cache, refused_by_item
from tests.align_helpers import AdapterTogglePolicy

REFUSE = "I'm sorry, but I can't help with that."


class _Policy(AdapterTogglePolicy):
    def __init__(self) -> None:
        super().__init__()
        self.base_calls: list[str] = []


def _audit(tmp_path: Path, cache: Path) -> tuple[_Policy, object]:
    rows = [
        {"id": f"h{i}", "prompt": f"harm {i}", "kind": "harmful", "split": "validation"} for i in range(5)
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    policy = _Policy()

    def gen(prompts):
        if policy.base:
            policy.base_calls += list(prompts)
            return ["Sure, step one." if p.endswith(("0", "1")) else REFUSE for p in prompts]
        return [REFUSE for _ in prompts]

    result, answers = audit_base_vs_tuned(
        policy,
        gen,
        dataset=str(data),
        template="plain",
        model_name="default",
        adapter=tmp_path / "adapter",
        suites=["refusal"],
        base_cache=cache,
    )
    return policy, (result, answers)


def test_second_audit_reads_the_base_answers_from_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "base_answers" / "k.json"
    first, (r1, a1) = _audit(tmp_path, cache)
    assert sorted(first.base_calls) == [f"harm {i}" for i in range(5)]
    assert load_base_cache(cache) == a1["base"]
    second, (r2, a2) = _audit(tmp_path, cache)
    assert second.base_calls == []  # nothing generated for the base subject
    assert a2["base"] == a1["base"]
    assert refused_by_item(r2.records, "base") == refused_by_item(r1.records, "base")
    assert refused_by_item(r2.records, "base") == {
        "h0": False,
        "h1": False,
        "h2": True,
        "h3": True,
        "h4": True,
    }


def test_a_broken_cache_file_is_regenerated(tmp_path: Path) -> None:
    cache = tmp_path / "k.json"
    cache.write_text("[not a dict")
    assert load_base_cache(cache) == {}
    policy, _ = _audit(tmp_path, cache)
    assert len(policy.base_calls) == 5
    assert len(load_base_cache(cache)) == 5
