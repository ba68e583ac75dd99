"""``AuditResult``: what an audit produced (records, summaries, paired comparisons, metadata) and its
scorecard.

The record every audit module passes around: ``core.evals.runner`` builds it, ``core.evals.report`` saves and
loads it, ``core.evals.html_report`` draws it. It lives below all three so none of them imports another for
it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from core.evals.records import (
    AttemptRecord,
    ComparisonRow,
    SuiteSummary,
    compare_subjects,
    outcome_of,
    summarise,
)
from core.evals.review import HumanVerdict, override


@dataclass
class AuditResult:
    records: list[AttemptRecord]
    summaries: list[SuiteSummary]
    comparisons: list[ComparisonRow]
    meta: dict[str, Any]

    @property
    def subjects(self) -> list[str]:
        return list(dict.fromkeys(r.subject for r in self.records))

    def with_humans(self, humans: dict[str, HumanVerdict]) -> AuditResult:
        """Re-score with human verdicts (they override the judges; the judges' verdicts are kept). A verdict
        is about a response, so it applies to every suite that judged that same response."""
        by_attempt = {r.attempt_id: r.response_key for r in self.records}
        by_response = {
            by_attempt[a]: h for a, h in sorted(humans.items(), key=lambda kv: kv[1].at) if a in by_attempt
        }
        recs = []
        for r in self.records:
            h = by_response.get(r.response_key)
            new = replace(r, human=override(r.final, h) if h else None)
            new.outcome = outcome_of(new)
            recs.append(new)
        seed, n_boot = (
            int(self.meta.get("options", {}).get("seed", 0)),
            int(self.meta.get("options", {}).get("n_boot", 2000)),
        )
        return AuditResult(
            recs,
            summarise(recs, seed=seed, n_boot=n_boot),
            compare_subjects(recs, seed=seed, n_boot=n_boot),
            self.meta,
        )


def json_safe(x: Any) -> Any:
    """NaN/inf -> None so the files are strict JSON."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    return x


def scorecard(result: AuditResult) -> list[dict[str, Any]]:
    """One row per (subject, suite): rate, CI, n, empty responses (``n_empty`` of ``n_attempts``, not in
    ``n`` for refusal-based suites), and -- for non-baseline subjects -- the paired comparison."""
    comp = {(c.subject, c.suite): c for c in result.comparisons}
    rows = []
    for s in result.summaries:
        c = comp.get((s.subject, s.suite))
        rows.append(
            json_safe(
                {
                    "subject": s.subject,
                    "suite": s.suite,
                    "title": s.title,
                    "higher_is_better": s.higher_is_better,
                    "rate": s.rate.rate,
                    "ci_low": s.rate.low,
                    "ci_high": s.rate.high,
                    "n": s.rate.n,
                    "k": s.rate.k,
                    "n_disagreements": s.n_disagreements,
                    "n_human": s.n_human,
                    "n_empty": s.n_empty,
                    "n_attempts": s.n_attempts,
                    "empty_rate": s.empty_rate,
                    "baseline": c.baseline if c else None,
                    "delta": c.delta if c else None,
                    "delta_ci": [c.delta_low, c.delta_high] if c else None,
                    "p_mcnemar": c.p_mcnemar if c else None,
                    "p_bootstrap": c.p_bootstrap if c else None,
                    "verdict": c.verdict if c else None,
                }
            )
        )
    return rows
