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
from core.evals.stats import DIFF_METHOD, RATE_METHOD, RateCI, rate_text, too_few


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
                    "too_few": too_few(s.rate.n),
                    "rate_text": _rate_text(s.rate),
                    "ci_method": s.rate.method,
                    "n_disagreements": s.n_disagreements,
                    "n_human": s.n_human,
                    "n_empty": s.n_empty,
                    "n_attempts": s.n_attempts,
                    "empty_rate": s.empty_rate,
                    "baseline": c.baseline if c else None,
                    "delta": c.delta if c else None,
                    "delta_ci": [c.delta_low, c.delta_high] if c else None,
                    "delta_method": c.delta_method if c else None,
                    "p_mcnemar": c.p_mcnemar if c else None,
                    "verdict": c.verdict if c else None,
                }
            )
        )
    return rows


def _rate_text(r: RateCI) -> str:
    return rate_text(r.rate if r.n else None, r.low, r.high, r.n)


def category_rows(result: AuditResult) -> list[dict[str, Any]]:
    """One row per (subject, suite, category or attack family): rate, Wilson CI, n, ``too_few``, and the
    formatted ``rate_text`` -- what the CLI, the HTML report and the Audit page list under the scorecard."""
    rows = []
    for s in result.summaries:
        for cat, r in s.by_category.items():
            rows.append(
                json_safe(
                    {
                        "subject": s.subject,
                        "suite": s.suite,
                        "title": s.title,
                        "category": cat,
                        "rate": r.rate,
                        "ci_low": r.low,
                        "ci_high": r.high,
                        "n": r.n,
                        "too_few": too_few(r.n),
                        "rate_text": _rate_text(r),
                    }
                )
            )
    return rows


def interval_note(saved_rows: list[dict[str, Any]]) -> str | None:
    """What to tell the reader when a saved ``summary.jsonl`` was written with other interval methods than
    the ones shown now (older audits used percentile-bootstrap intervals), or None when they match."""
    rates = {r.get("method") for r in saved_rows if r.get("type") == "summary"}
    diffs = {r.get("delta_method") for r in saved_rows if r.get("type") == "comparison"}
    if rates <= {RATE_METHOD} and diffs <= {DIFF_METHOD}:
        return None
    return (
        "Intervals recomputed on load: this audit was saved with percentile-bootstrap intervals, which "
        "collapse to zero width at 0 % / 100 %. Shown here: Wilson score intervals for rates and Newcombe "
        "intervals for paired differences, recomputed from the saved records (the records are unchanged)."
    )
