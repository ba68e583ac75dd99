"""The alignment jobs' before/after audit treats empty answers like every audit: no outcome, and a tuned
model that answers mostly nothing fails the audit instead of reporting "100 % harmful refusal"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.align.evaluate import audit_base_vs_tuned, kind_rates, refused_by_item
from core.errors import AuditFailed
from tests.align_helpers import AdapterTogglePolicy

REFUSE = "I'm sorry, but I can't help with that."


_Policy = AdapterTogglePolicy


def _data(tmp_path: Path) -> Path:
    rows = [
        {"id": f"h{i}", "prompt": f"harm {i}", "kind": "harmful", "split": "validation"} for i in range(4)
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _audit(tmp_path: Path, tuned_answer, **kw):
    policy = _Policy()

    def gen(prompts):
        return [REFUSE if policy.base else tuned_answer(p) for p in prompts]

    return audit_base_vs_tuned(
        policy,
        gen,
        dataset=str(_data(tmp_path)),
        template="plain",
        model_name="default",
        adapter=tmp_path / "adapter",
        suites=["refusal"],
        **kw,
    )


def test_a_tuned_model_that_answers_nothing_fails_the_audit(tmp_path):
    with pytest.raises(AuditFailed, match="subject 'tuned' gave 4 empty responses out of 4"):
        _audit(tmp_path, lambda p: "<|endoftext|>")


def test_empty_answers_have_no_outcome_in_the_alignment_numbers(tmp_path):
    result, _ = _audit(tmp_path, lambda p: "" if p.endswith(" 0") else REFUSE)
    assert refused_by_item(result.records, "tuned") == {"h1": True, "h2": True, "h3": True}
    assert refused_by_item(result.records, "base") == {f"h{i}": True for i in range(4)}
    rates = kind_rates(result.records)["harmful"]
    assert rates["tuned"]["n"] == 3 and rates["tuned"]["rate"] == 1.0 and rates["base"]["n"] == 4
    result, _ = _audit(tmp_path, lambda p: "", max_empty_share=1.0)  # allowed: the rate is undefined
    assert kind_rates(result.records)["harmful"].get("tuned") is None
