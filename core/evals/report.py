"""Saving and loading audits: JSONL records, reproducibility metadata, scorecards.

An audit folder holds

* ``records.jsonl``        one line per attempt (subject, prompt id, attack, prompt, response, every judge's
                           verdict, the ensemble and human verdicts, the suite outcome);
* ``summary.jsonl``        one line per (subject, suite) with the rate, its Wilson 95 % CI (``method``) and n,
                           plus one line per paired comparison (exact McNemar p, Newcombe CI of the
                           difference, ``delta_method``);
* ``meta.json``            reproducibility metadata: subjects (model fingerprint, adapter hash, steering),
                           options and seeds, dataset / utility / attack-file content hashes, package
                           versions, git commit, timings;
* ``human_verdicts.jsonl`` human overrides (``core.evals.review``), appended as reviewers decide;
* ``report.html``          the offline report (``core.evals.html_report``).

``load_audit`` rebuilds the result from ``records.jsonl`` (+ human verdicts) and recomputes the summaries;
with no new human verdicts the scorecard is identical to the saved ``summary.jsonl``. An older audit saved
with percentile-bootstrap intervals still opens: its intervals are recomputed (Wilson / Newcombe) and a note
in ``meta["warnings"]`` says so.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from core.config import artefacts_dir
from core.errors import InputError, StoreError
from core.evals.html_report import write_html
from core.evals.records import AttemptRecord, compare_subjects, summarise
from core.evals.result import AuditResult, category_rows, interval_note, json_safe, scorecard
from core.evals.review import HumanVerdicts
from core.evals.stats import MIN_N, diff_text
from core.fsio import atomic_write_bytes

RECORDS, SUMMARY, META, HTML = "records.jsonl", "summary.jsonl", "meta.json", "report.html"


def audits_root() -> Path:
    """Default home of audit folders: ``artefacts_dir()/audits``."""
    return artefacts_dir() / "audits"


def new_audit_dir(label: str = "audit", root: Path | None = None) -> Path:
    """A fresh, time-stamped folder name under ``root`` (not created)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")[:40] or "audit"
    base = (root or audits_root()) / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


def list_audits(root: Path | None = None) -> list[Path]:
    """Audit folders under ``root`` (newest first)."""
    root = root or audits_root()
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / RECORDS).is_file()]
    return sorted(found, key=lambda p: (p / RECORDS).stat().st_mtime, reverse=True)


def _write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), what="write the audit")  # readers never see half a file


def save_audit(result: AuditResult, out_dir: str | Path, *, html: bool = True) -> Path:
    """Write records, summaries, metadata (and the HTML report) into ``out_dir``; returns the folder."""
    out = Path(out_dir).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_text(
            out / RECORDS,
            "".join(json.dumps(json_safe(r.to_json()), ensure_ascii=False) + "\n" for r in result.records),
        )
        rows = [s.to_json() for s in result.summaries] + [c.to_json() for c in result.comparisons]
        _write_text(out / SUMMARY, "".join(json.dumps(json_safe(r), ensure_ascii=False) + "\n" for r in rows))
        _write_text(out / META, json.dumps(json_safe(result.meta), indent=2, default=str))
        if html:
            write_html(result, out / HTML)
    except OSError as exc:
        raise StoreError(
            f"Could not write the audit to {out}: {exc.strerror or exc}. Pick a writable --out "
            "folder with free space."
        ) from exc
    return out


def load_audit(folder: str | Path, *, with_humans: bool = True) -> AuditResult:
    """Rebuild an audit from its folder; human verdicts (if any) override the judges."""
    folder = Path(folder).expanduser()
    if not (folder / RECORDS).is_file():
        raise InputError(
            f"{folder} is not an audit folder (no {RECORDS}). Run `reasonscope eval --out {folder}` "
            "first, or point at the folder it wrote."
        )
    records = []
    for n, line in enumerate((folder / RECORDS).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(AttemptRecord.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{folder / RECORDS}, line {n}: not an attempt record ({exc}).") from exc
    meta = json.loads((folder / META).read_text()) if (folder / META).is_file() else {}
    note = interval_note(_saved_rows(folder))
    if note:
        meta = {**meta, "warnings": [*meta.get("warnings", []), note], "intervals_recomputed": True}
    opts = meta.get("options", {})
    seed, n_boot = int(opts.get("seed", 0)), int(opts.get("n_boot", 2000))
    result = AuditResult(
        records,
        summarise(records, seed=seed, n_boot=n_boot),
        compare_subjects(records, seed=seed, n_boot=n_boot),
        meta,
    )
    if with_humans:
        humans = HumanVerdicts(folder).latest()
        if humans:
            result = result.with_humans(humans)
    return result


def _saved_rows(folder: Path) -> list[dict[str, Any]]:
    """``summary.jsonl`` rows, or [] when it is missing or unreadable (the records are what count)."""
    try:
        return saved_summary(folder)
    except (InputError, ValueError, OSError):
        return []


def saved_summary(folder: str | Path) -> list[dict[str, Any]]:
    """The rows of ``summary.jsonl`` as written."""
    path = Path(folder) / SUMMARY
    if not path.is_file():
        raise InputError(f"{folder} has no {SUMMARY}.")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def summary_rows(result: AuditResult) -> list[dict[str, Any]]:
    """What ``save_audit`` writes to ``summary.jsonl`` for this result (JSON-normalised)."""
    rows = [s.to_json() for s in result.summaries] + [c.to_json() for c in result.comparisons]
    return json.loads(json.dumps(json_safe(rows)))


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """(Re)build ``report.html`` of an audit folder, with human verdicts applied."""
    result = load_audit(folder)
    path = Path(out) if out else Path(folder) / HTML
    write_html(result, path)
    return path


def describe(result: AuditResult) -> str:
    """Plain-text scorecard (for the CLI)."""
    lines = []
    for row in scorecard(result):
        arrow = "↑" if row["higher_is_better"] else "↓"
        line = f"{row['subject'][:28]:28s} {row['title'][:30]:30s}{arrow} {row['rate_text']}"
        if row.get("n_empty"):
            line += f"  empty={row['n_empty']}/{row['n_attempts']} ({100 * row['empty_rate']:.0f} %)"
        if row["delta"] is not None:
            delta = diff_text(row["delta"], *(row["delta_ci"] or (None, None)))
            line += f"  Δ {delta} (McNemar p={row['p_mcnemar']:.3g}: {row['verdict']})"
        lines.append(line)
    cats = category_rows(result)
    if cats:
        lines.append("by category / attack family:")
    for c in cats:
        lines.append(
            f"  {c['subject'][:26]:26s} {c['title'][:24]:24s} {c['category'][:22]:22s} {c['rate_text']}"
        )
    if any(r["too_few"] for r in scorecard(result)) or any(c["too_few"] for c in cats):
        lines.append(
            f"note: 'too few' marks rates from fewer than {MIN_N} items; read them as indications only."
        )
    for w in result.meta.get("warnings", []):
        lines.append(f"note: {w}")
    return "\n".join(lines)
