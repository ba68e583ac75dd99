"""Pure functions behind the live views (app and CLI): merge polled events, build metric frames,
decide when to poll next. No Streamlit here, so they are unit-tested directly."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from core.jobs.records import (
    ARTEFACT,
    LOG,
    METRIC,
    PROGRESS,
    SAMPLE,
    STATUS,
    TERMINAL,
    JobEvent,
    JobRecord,
    JobStatus,
)

POLL_RUNNING_S = 1.0  # well under the 2 s budget from "metric logged" to "metric on screen"
POLL_QUEUED_S = 2.0


def is_terminal(status: JobStatus | str) -> bool:
    return JobStatus(status) in TERMINAL


def next_poll(
    status: JobStatus | str, *, running_s: float = POLL_RUNNING_S, queued_s: float = POLL_QUEUED_S
) -> float | None:
    """Seconds until the next poll, or None to stop polling (the job has ended)."""
    st = JobStatus(status)
    if st in TERMINAL:
        return None
    return running_s if st == JobStatus.RUNNING else queued_s


def merge_events(known: Sequence[JobEvent], new: Iterable[JobEvent]) -> list[JobEvent]:
    """Known + newly polled events, each seq once, in seq order (idempotent, order-independent)."""
    by_seq = {e.seq: e for e in known}
    for e in new:
        by_seq.setdefault(e.seq, e)
    return [by_seq[s] for s in sorted(by_seq)]


def last_seq(events: Sequence[JobEvent]) -> int:
    return events[-1].seq if events else 0


def metric_frame(events: Iterable[JobEvent]) -> pd.DataFrame:
    """Long frame ``step, metric, value, attempt, ts`` with one row per (metric, step).

    After a resume, steps past the checkpoint are run again; the newest attempt's value wins, so the
    curve shows what the job's final state is built on.
    """
    rows = []
    for e in events:
        if e.kind != METRIC:
            continue
        step = e.data.get("step")
        for name, value in (e.data.get("values") or {}).items():
            rows.append((step, name, value, e.attempt, e.ts, e.seq))
    df = pd.DataFrame(rows, columns=["step", "metric", "value", "attempt", "ts", "seq"])
    if df.empty:
        return df.drop(columns="seq")
    df = df.sort_values("seq").drop_duplicates(["metric", "step"], keep="last")
    return df.sort_values(["metric", "step"]).drop(columns="seq").reset_index(drop=True)


def metric_names(frame: pd.DataFrame) -> list[str]:
    """Metric names, headline ones (no '/') first."""
    names = sorted(frame["metric"].unique()) if not frame.empty else []
    return [n for n in names if "/" not in n] + [n for n in names if "/" in n]


def latest_metric(events: Sequence[JobEvent], name: str) -> float | None:
    for e in reversed(events):
        if e.kind == METRIC and name in (e.data.get("values") or {}):
            return e.data["values"][name]
    return None


def latest_progress(events: Sequence[JobEvent]) -> dict[str, Any] | None:
    for e in reversed(events):
        if e.kind == PROGRESS:
            return dict(e.data)
    return None


def of_kind(events: Iterable[JobEvent], kind: str, last: int | None = None) -> list[JobEvent]:
    out = [e for e in events if e.kind == kind]
    return out[-last:] if last else out


def samples(events: Iterable[JobEvent], last: int = 5) -> list[dict[str, Any]]:
    """The newest text samples, newest first."""
    return [dict(e.data, attempt=e.attempt) for e in reversed(of_kind(events, SAMPLE, last))]


def log_lines(events: Iterable[JobEvent], last: int = 200) -> list[str]:
    """Log and status lines as text (status changes are part of the story)."""
    out = []
    for e in events:
        stamp = time.strftime("%H:%M:%S", time.localtime(e.ts))
        if e.kind == LOG:
            out.append(f"{stamp}  {e.data.get('line', '')}")
        elif e.kind == STATUS:
            reason = f": {e.data['reason']}" if e.data.get("reason") else ""
            out.append(f"{stamp}  [status] {e.data.get('status')}{reason}")
    return out[-last:]


def warnings(events: Iterable[JobEvent]) -> list[str]:
    """Distinct log lines a job flagged with a leading ``WARNING:`` (oldest first), without the prefix: the
    page shows them as banners (e.g. an alignment job whose format rate is stuck at 0)."""
    out: list[str] = []
    for e in events:
        line = str(e.data.get("line", "")) if e.kind == LOG else ""
        if line.startswith("WARNING"):
            text = line[len("WARNING") :].lstrip(":").strip()
            if text not in out:
                out.append(text)
    return out


def artefacts(events: Iterable[JobEvent]) -> list[dict[str, Any]]:
    """Artefacts, newest first; only the newest checkpoint is listed (older ones are superseded)."""
    items = [dict(e.data) for e in of_kind(events, ARTEFACT)]
    ckpts = [a for a in items if a.get("checkpoint")]
    others = [a for a in items if not a.get("checkpoint")]
    return list(reversed(others)) + ckpts[-1:]


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {(s % 3600) // 60:02d}m"


PREFIX_PHASE = "_prefix"  # suffix of a verdict SFT's first part: computing the frozen lower layers once
PHASE_LABELS = {  # progress events' "phase" (JobContext.set_phase) as the Jobs page names it
    "data": "data generation",
    "warmstart": "warm start (SFT)",
    "sft": "SFT",
    "verdict_sft": "verdict SFT",
    "head": "CRAFT head (capturing train traces)",
    "grpo": "GRPO",
    "audit": "audit",
}


def phase_label(name: str) -> str:
    """``grpo`` -> ``GRPO``; ``warmstart_prefix`` -> ``warm start (SFT): caching the frozen prefix``."""
    base = name.removesuffix(PREFIX_PHASE)
    return PHASE_LABELS.get(base, base) + (": caching the frozen prefix" if name != base else "")


def phase_text(progress: dict[str, Any] | None) -> str:
    """``Phase: GRPO · step 12/100 · ETA 3m 10s`` (measured on this phase), ``… · measuring speed`` before
    its second step, or "" for a job without phases."""
    if not progress or not progress.get("phase"):
        return ""
    label = phase_label(str(progress["phase"]))
    total = progress.get("total")
    step = f"step {progress.get('step', 0)}" + (f"/{total}" if total else "")
    eta = format_eta(progress) or "measuring speed"
    return f"Phase: {label} · {step} · {eta}"


def format_eta(progress: dict[str, Any] | None) -> str:
    if not progress or progress.get("eta_s") is None:
        return ""
    return f"ETA {format_duration(progress['eta_s'])}"


def job_row(
    rec: JobRecord, key_metric: tuple[str, float | None] | None, now: float | None = None
) -> dict[str, Any]:
    """One line of a jobs table."""
    now = time.time() if now is None else now
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(rec.started_at)) if rec.started_at else "—"
    km = ""
    if key_metric is not None and key_metric[1] is not None:
        km = f"{key_metric[0]} = {key_metric[1]:.4g}"
    return {
        "id": rec.id,
        "status": rec.status.value,
        "type": rec.type,
        "started": started,
        "duration": format_duration(rec.duration(now)),
        "key metric": km,
        "by": rec.identity or "—",
        "backend": rec.backend,
    }


def format_event(e: JobEvent, max_metrics: int = 6) -> str:
    """One terminal line per event (``jobs show --follow``)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(e.ts))
    d = e.data
    if e.kind == METRIC:
        vals = d.get("values") or {}
        names = [k for k in vals if "/" not in k][:max_metrics] or list(vals)[:max_metrics]
        body = " ".join(
            f"{k}={vals[k]:.4g}" if isinstance(vals[k], float) else f"{k}={vals[k]}" for k in names
        )
        more = f" (+{len(vals) - len(names)} more)" if len(vals) > len(names) else ""
        return f"{stamp} metric  step {d.get('step')}: {body}{more}"
    if e.kind == PROGRESS:
        total = f"/{d['total']}" if d.get("total") is not None else ""
        eta = f"  {format_eta(d)}" if d.get("eta_s") is not None else ""
        phase = f" [{phase_label(str(d['phase']))}]" if d.get("phase") else ""
        return f"{stamp} progress{phase} step {d.get('step')}{total}{eta}"
    if e.kind == STATUS:
        reason = f": {d['reason']}" if d.get("reason") else ""
        result = f"  result {d['result']}" if d.get("result") else ""
        return f"{stamp} status  {d.get('status')} (attempt {e.attempt}){reason}{result}"
    if e.kind == SAMPLE:
        return f"{stamp} sample  step {d.get('step')}: {d.get('prompt')!r} → {d.get('completion')!r}"
    if e.kind == ARTEFACT:
        tag = "checkpoint" if d.get("checkpoint") else "artefact"
        return f"{stamp} {tag} {d.get('name')}: {d.get('path')}"
    return f"{stamp} log     {d.get('line', '')}"


def overlay_frame(frames: dict[str, pd.DataFrame], metric: str) -> pd.DataFrame:
    """``step, value, run`` rows of one metric from several runs (for a comparison chart)."""
    parts = []
    for label, df in frames.items():
        if df.empty:
            continue
        sub = df[df["metric"] == metric][["step", "value"]].copy()
        sub["run"] = label
        parts.append(sub)
    if not parts:
        return pd.DataFrame(columns=["step", "value", "run"])
    return pd.concat(parts, ignore_index=True)
