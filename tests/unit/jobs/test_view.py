"""Pure logic behind the live views and forms: event merging, metric frames, polling, form mapping,
registry errors, the tqdm hook (in-process context, real SQLite store)."""

from __future__ import annotations

import time
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from core.errors import InputError
from core.jobs import JobContext, JobStatus, JobStore
from core.jobs.context import DbSink
from core.jobs.forms import field_specs, form_to_config
from core.jobs.records import JobRecord
from core.jobs.registry import ConfigError, register_job_type, validate_config
from core.jobs.view import (
    artefacts,
    format_event,
    is_terminal,
    job_row,
    latest_metric,
    log_lines,
    merge_events,
    metric_frame,
    metric_names,
    next_poll,
    overlay_frame,
    samples,
)
from tests.job_helpers import ev


def test_next_poll_stops_when_the_job_ends():
    assert next_poll("running") == 1.0 and next_poll(JobStatus.QUEUED) == 2.0
    for s in ("succeeded", "failed", "cancelled", "lost"):
        assert next_poll(s) is None and is_terminal(s)
    assert not is_terminal("running")
    with pytest.raises(ValueError):
        next_poll("exploded")


@given(st.lists(st.integers(1, 40), max_size=40), st.lists(st.integers(1, 40), max_size=40))
def test_merge_events_is_ordered_unique_and_idempotent(a, b):
    ea, eb = [ev(s, "log", {"line": str(s)}) for s in a], [ev(s, "log", {"line": str(s)}) for s in b]
    merged = merge_events(ea, eb)
    assert [e.seq for e in merged] == sorted(set(a) | set(b))
    assert merge_events(merged, eb) == merged == merge_events(merge_events([], eb), ea)


def test_metric_frame_prefers_the_newest_attempt_after_resume():
    events = [
        ev(1, "metric", {"step": 1, "values": {"loss": 1.0, "acc/layer_0": 0.5}}),
        ev(2, "metric", {"step": 2, "values": {"loss": 0.9}}),
        ev(3, "metric", {"step": 3, "values": {"loss": 0.8}}),  # lost after this (no checkpoint)
        ev(4, "status", {"status": "lost"}),
        ev(5, "metric", {"step": 3, "values": {"loss": 0.7}}, attempt=2),
        ev(6, "metric", {"step": 4, "values": {"loss": None}}, attempt=2),
    ]  # NaN logged as None
    df = metric_frame(events)
    loss = df[df.metric == "loss"]
    assert loss.step.tolist() == [1, 2, 3, 4]
    assert loss.value.tolist()[:3] == [1.0, 0.9, 0.7] and loss.attempt.tolist() == [1, 1, 2, 2]
    assert metric_names(df) == ["loss", "acc/layer_0"]
    assert latest_metric(events, "loss") is None and latest_metric(events, "acc/layer_0") == 0.5
    assert metric_frame([]).empty
    ov = overlay_frame({"a": df, "b": df[df.step < 3]}, "loss")
    assert ov.groupby("run").size().to_dict() == {"a": 4, "b": 2}


def test_samples_logs_artefacts_and_event_lines():
    events = [
        ev(1, "status", {"status": "running"}),
        ev(2, "log", {"line": "hello"}),
        ev(3, "artefact", {"name": "checkpoint-1", "path": "/x/1", "checkpoint": True, "step": 1}),
        ev(4, "artefact", {"name": "checkpoint-2", "path": "/x/2", "checkpoint": True, "step": 2}),
        ev(5, "artefact", {"name": "report", "path": "/x/r.html", "checkpoint": False}),
        ev(6, "sample", {"prompt": "p1", "completion": "c1", "step": 1}),
        ev(7, "sample", {"prompt": "p2", "completion": "c2", "step": 2}),
        ev(8, "status", {"status": "failed", "reason": "disk full"}),
    ]
    assert [s["prompt"] for s in samples(events)] == ["p2", "p1"]
    assert [a["name"] for a in artefacts(events)] == ["report", "checkpoint-2"]
    lines = log_lines(events)
    assert lines[1].endswith("hello") and lines[-1].endswith("[status] failed: disk full")
    m = format_event(
        ev(9, "metric", {"step": 3, "values": {"loss": 0.25, **{f"acc/l{i}": 0.5 for i in range(9)}}})
    )
    assert "step 3: loss=0.25 (+9 more)" in m
    assert "step 3/10  ETA 5s" in format_event(ev(10, "progress", {"step": 3, "total": 10, "eta_s": 5.2}))


def test_job_row_formats_duration_and_key_metric():
    rec = JobRecord(
        id="j", type="t", config={}, status=JobStatus.RUNNING, created_at=0, started_at=100.0, identity="ada"
    )
    row = job_row(rec, ("val_acc", 0.91234), now=100.0 + 3725)
    assert row["duration"] == "1h 02m" and row["key metric"] == "val_acc = 0.9123" and row["by"] == "ada"
    assert job_row(rec, None, now=130)["duration"] == "30s"


class Cfg(BaseModel):
    """A config with every widget kind."""

    steps: int = Field(10, ge=1, le=100, description="How many")
    lr: float = Field(0.1, gt=0)
    name: str = "run"
    flag: bool = False
    mode: Literal["a", "b"] = "b"
    limit: int | None = None
    layers: list[int] = [1, 2]


def test_field_specs_and_form_round_trip():
    specs = {s.name: s for s in field_specs(Cfg, {"steps": 42})}
    assert specs["steps"].kind == "int" and specs["steps"].default == 42
    assert (specs["steps"].minimum, specs["steps"].maximum, specs["steps"].help) == (1, 100, "How many")
    assert specs["lr"].exclusive == (True, False) and specs["mode"].choices == ("a", "b")
    assert specs["limit"].optional and specs["limit"].kind == "int" and specs["layers"].kind == "json"
    raw = {"steps": 5, "lr": 0.2, "name": "x", "flag": True, "mode": "a", "limit": "", "layers": "[3, 4]"}
    cfg = validate_config(Cfg, form_to_config(list(specs.values()), raw))
    assert cfg == Cfg(steps=5, lr=0.2, name="x", flag=True, mode="a", limit=None, layers=[3, 4])
    assert validate_config(Cfg, form_to_config(list(specs.values()), {"limit": "7"})).limit == 7
    with pytest.raises(ConfigError) as err:
        validate_config(Cfg, form_to_config(list(specs.values()), {"layers": "[oops", "mode": "c"}))
    assert set(err.value.fields) == {"layers", "mode"}


def test_register_rejects_broken_presets_and_bad_names():
    with pytest.raises(ConfigError, match="steps"):
        register_job_type("test.bad_preset", Cfg, lambda c, ctx: None, presets={"x": {"steps": 0}})
    with pytest.raises(ValueError):
        register_job_type("has space", Cfg, lambda c, ctx: None)
    with pytest.raises(InputError, match="JSON object"):
        validate_config(Cfg, [1, 2])  # type: ignore[arg-type]


def test_tqdm_hook_emits_progress_and_stops_on_cancel(rs_home):
    store = JobStore()
    store.create(
        JobRecord(
            id="t",
            type="x",
            config={},
            status=JobStatus.RUNNING,
            created_at=time.time(),
            run_dir=str(rs_home),
        )
    )
    ctx = JobContext("t", sink=DbSink(store, "t", 1), run_dir=rs_home)
    seen = []
    for i in ctx.tqdm(range(10), min_event_interval=0.0, disable=True):
        seen.append(i)
        if i == 3:
            store.update("t", cancel_requested=True)  # the user presses Cancel
    assert seen == [0, 1, 2, 3] and ctx.stop_observed
    steps = [e.data["step"] for e in store.events("t") if e.kind == "progress"]
    assert steps[:4] == [1, 2, 3, 4] and all(
        e.data["total"] == 10 for e in store.events("t", kinds=["progress"])
    )
    bar = ctx.tqdm(total=5, min_event_interval=10.0, disable=True)
    bar.update(5)  # reaching the total is always emitted
    assert store.events("t", kinds=["progress"])[-1].data["step"] == 5
    ctx.emit_metric(1, loss=float("nan"), acc=1)
    assert store.latest("t", "metric").data["values"] == {"loss": None, "acc": 1.0}
    with pytest.raises(TypeError, match="numbers"):
        ctx.emit_metric(1, loss="high")


def test_warnings_are_distinct_flagged_log_lines_without_the_prefix():
    from core.jobs.view import warnings

    evs = [
        ev(1, "log", {"line": "training started"}),
        ev(2, "log", {"line": "WARNING: format rate 0 on the monitor batch"}),
        ev(3, "metric", {"step": 1, "values": {"loss": 1.0}}),
        ev(4, "log", {"line": "WARNING: format rate 0 on the monitor batch"}),
        ev(5, "log", {"line": "WARNING the policy refuses every monitor prompt"}, attempt=2),
    ]
    assert warnings(evs) == ["format rate 0 on the monitor batch", "the policy refuses every monitor prompt"]
    assert warnings(evs[:1]) == []


def test_phase_text_names_the_phase_and_its_measured_eta():
    from core.jobs.view import phase_text

    assert phase_text({"step": 3, "total": 10}) == ""  # a job without phases
    assert (
        phase_text({"step": 0, "total": None, "phase": "audit"}) == "Phase: audit · step 0 · measuring speed"
    )
    assert phase_text({"step": 3, "total": 10, "phase": "grpo", "eta_s": 70}) == (
        "Phase: GRPO · step 3/10 · ETA 1m 10s"
    )
    assert phase_text({"step": 2, "total": 9, "phase": "warmstart_prefix"}).startswith(
        "Phase: warm start (SFT): caching the frozen prefix · step 2/9"
    )
