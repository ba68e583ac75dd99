"""Widgets and figures of the Jobs page. Polling/merging logic lives in core.jobs.view (unit-tested)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import state
from app.align_charts import frontier_figure
from app.charts import line_figure
from app.helpers_jobs import SWEEP_TYPE, frontier_caption, frontier_holdout_rows, sweep_frontier
from core.explore.palette import STATUS_BADGES
from core.jobs import ConfigError, backend_for, get_backend, job_types
from core.jobs.backend import job_table
from core.jobs.forms import FieldSpec, field_specs, form_to_config
from core.jobs.records import RESUMABLE, JobRecord
from core.jobs.view import (
    artefacts,
    format_duration,
    format_eta,
    last_seq,
    latest_progress,
    log_lines,
    merge_events,
    metric_frame,
    metric_names,
    next_poll,
    overlay_frame,
    phase_text,
    samples,
    warnings,
)

STATUS_COLOURS = STATUS_BADGES  # badge colour names, owned by core.explore.palette


# -- figures ---------------------------------------------------------------------------------------
def metrics_figure(frame: pd.DataFrame, metrics: list[str], title: str = "") -> go.Figure:
    """Lines of ``metrics`` over steps from a ``metric_frame``."""
    subs = ((name, frame[frame["metric"] == name]) for name in metrics)
    return line_figure(
        ((name, sub["step"], sub["value"]) for name, sub in subs),
        title=title,
        xaxis_title="step",
        yaxis_title="value",
        height=360,
        marker_size=4,
    )


def overlay_figure(df: pd.DataFrame, metric: str) -> go.Figure:
    """One line per run of the same metric (``overlay_frame``)."""
    return line_figure(
        ((str(run), sub["step"], sub["value"]) for run, sub in df.groupby("run", sort=False)),
        title=f"{metric}: runs compared",
        xaxis_title="step",
        yaxis_title=metric,
        height=380,
        mode="lines",
    )


def status_badge(status: str) -> str:
    return f":{STATUS_COLOURS.get(status, 'gray')}-badge[{status}]"


# -- shared helpers ----------------------------------------------------------------------------------
def polled_events(job_id: str) -> list[Any]:
    """This session's copy of the job's event log, extended with whatever is new since the last poll."""
    cache = state.job_event_cache(job_id)
    cache[:] = merge_events(cache, backend_for(job_id).events(job_id, last_seq(cache)))
    return cache


def _download(name: str, path: str, key: str) -> None:
    p = Path(path)
    if p.is_file():
        st.download_button(
            f"{name} ({p.stat().st_size / 1e6:.2f} MB)",
            data=lambda: p.read_bytes(),
            file_name=p.name,
            key=key,
            on_click="ignore",
            icon=":material/download:",
        )
    elif p.is_dir():

        def zipped() -> bytes:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(p.rglob("*")):
                    if f.is_file():
                        z.write(f, f.relative_to(p.parent))
            return buf.getvalue()

        st.download_button(
            f"{name} (folder, zipped)",
            data=zipped,
            file_name=f"{p.name}.zip",
            key=key,
            on_click="ignore",
            icon=":material/folder_zip:",
        )
    else:
        st.caption(f"{name}: `{path}` (not on this machine — it may live on the cluster)")


# -- jobs list ---------------------------------------------------------------------------------------
COLUMNS = ["status", "type", "started", "duration", "key metric", "by", "backend", "id"]


def jobs_list() -> list[dict[str, Any]]:
    """The table of jobs (refreshed every 2 s while any job is queued or running); returns its rows."""
    try:
        rows = job_table(limit=100)
    except Exception as exc:  # noqa: BLE001 - e.g. an unwritable REASONSCOPE_HOME: say so, keep the page up
        state.show_error(exc)
        return []
    if not rows:
        st.info(
            "No jobs yet. Open **Launch** above, pick `demo.probe_sweep` with the `quick` preset and press "
            "**Launch job** to see live progress."
        )
        return rows
    active = any(r["status"] in ("queued", "running") for r in rows)

    @st.fragment(run_every=2.0 if active else None)
    def table() -> None:
        fresh = job_table(limit=100)
        st.dataframe(
            pd.DataFrame(fresh)[COLUMNS],
            hide_index=True,
            width="stretch",
            height=min(36 * (len(fresh) + 1) + 4, 330),
        )

    table()
    return rows


def pick_job(rows: list[dict[str, Any]]) -> str | None:
    """Job selector; a job launched from the form becomes the selection."""
    ids = [r["id"] for r in rows]
    if not ids:
        return None
    linked = st.query_params.get("job")  # a deep link (Story page) names the job to open
    if linked in ids and state.new_deep_link("job", linked):
        state.select_job(linked)
    labels = {r["id"]: f"{r['type']} · {r['status']} · {r['started']} · {r['id']}" for r in rows}
    return st.selectbox("Open a job", ids, format_func=labels.__getitem__, key=state.JOB_SELECTOR)


def runs_panel() -> list[dict[str, Any]]:
    """The Runs tab: the jobs table, the job selector and the selected job, live. Returns the table's rows."""
    rows = jobs_list()
    job_id = pick_job(rows)
    if job_id:
        st.divider()
        job_detail(job_id)
    return rows


# -- one job, live -----------------------------------------------------------------------------------
def job_detail(job_id: str) -> None:
    """Status, progress, live charts, samples, logs, artefacts, cancel/resume. Polls while the job runs."""
    every = next_poll(backend_for(job_id).status(job_id).status)

    @st.fragment(run_every=every)
    def live() -> None:
        backend = backend_for(job_id)
        rec = backend.status(job_id)
        top = st.container()
        rec = _actions(rec)  # buttons first so a cancel shows in this same run
        events = polled_events(job_id)
        with top:
            _header(rec, events)
        _charts(rec, events)
        if rec.type == SWEEP_TYPE:
            _frontier(rec, events)
        _samples_logs_artefacts(rec, events)
        if every is not None and next_poll(rec.status) is None:
            st.rerun()  # the job ended: redraw the page once, without polling

    live()


def _header(rec: JobRecord, events: list[Any]) -> None:
    import time

    prog = latest_progress(events)
    cols = st.columns([2, 1, 1, 1])
    cols[0].markdown(f"#### {rec.type} {status_badge(rec.status.value)}")
    cols[0].caption(
        f"`{rec.id}` · launched by **{rec.identity or 'unknown'}** · backend {rec.backend} · "
        f"attempt {rec.attempt}"
    )
    cols[1].metric(
        "Step",
        f"{prog['step']}/{prog['total']}" if prog and prog.get("total") else (prog or {}).get("step", "—"),
    )
    cols[2].metric("Duration", format_duration(rec.duration(time.time())))
    cols[3].metric("ETA", "—" if rec.is_terminal else (format_eta(prog).removeprefix("ETA ") or "—"))
    if prog and prog.get("phase") and not rec.is_terminal:
        st.caption(phase_text(prog))
    if prog and prog.get("total"):
        st.progress(min(1.0, prog["step"] / prog["total"]))
    if rec.status.value == "running" and rec.backend == "local" and rec.heartbeat_at:
        st.caption(
            f"Last heartbeat {max(0.0, time.time() - rec.heartbeat_at):.0f} s ago (every "
            f"{rec.heartbeat_s:g} s; after two missed beats with its process gone the job is marked lost)."
        )
    if rec.status.value == "queued":
        st.info("Queued: it starts when a running job finishes (one job at a time on CPU).")
    if rec.error:
        st.error(f"**{rec.status.value.capitalize()}**: {rec.error}")
    for text in warnings(events):
        st.warning(text[:1].upper() + text[1:], icon="⚠️")
    if rec.status.value == "running" and rec.cancel_requested:
        st.warning("Cancel requested: the job stops after its current step and keeps its last checkpoint.")


def _actions(rec: JobRecord) -> JobRecord:
    """Cancel / Resume buttons; returns the job as it is after the click."""
    who = state.current_identity()
    c1, _ = st.columns([1, 5])
    if not rec.is_terminal and c1.button(
        "Cancel", key=f"cancel-{rec.id}", icon=":material/stop_circle:", disabled=rec.cancel_requested
    ):
        rec = backend_for(rec.id).cancel(rec.id, identity=who)
    if rec.status in RESUMABLE and c1.button(
        "Resume", key=f"resume-{rec.id}", type="primary", icon=":material/play_circle:"
    ):
        backend_for(rec.id).resume(rec.id, identity=who)
        st.rerun()  # the page must start polling again
    return rec


def _charts(rec: JobRecord, events: list[Any]) -> None:
    frame = metric_frame(events)
    if frame.empty:
        st.caption("No metrics yet: they appear here as soon as the job logs its first step.")
        return
    names = metric_names(frame)
    key_metric = _key_metric(rec.type)
    default = [n for n in (key_metric, "loss", "reward") if n in names] or names[:1]
    chosen = st.multiselect("Metrics", names, default=default, key=f"metrics-{rec.id}")
    if chosen:
        st.plotly_chart(metrics_figure(frame, chosen), key=f"chart-{rec.id}")
    st.caption(f"{frame['step'].max()} steps logged · the curve shows the newest attempt's value per step.")


def _frontier(rec: JobRecord, events: list[Any]) -> None:
    """The frontier of an ``align.sweep`` job (its frontier.json when written, else the metrics so far)."""
    frontier = sweep_frontier(events, rec.config)
    if not frontier["points"]:
        st.caption("Frontier: no point has finished yet (each point is a full training run and its audit).")
        return
    st.plotly_chart(frontier_figure(frontier["points"], frontier["setting"]), key=f"frontier-{rec.id}")
    st.caption(frontier_caption(frontier, len(rec.config.get("values") or [])))
    held = frontier_holdout_rows(frontier)
    if held:
        st.markdown("**Each point on held-out train prompts (choose here, not on the validation split)**")
        st.dataframe(pd.DataFrame(held), hide_index=True, width="stretch", key=f"frontier-holdout-{rec.id}")
        st.caption(
            "The verdict read off train prompts whose whole families were kept out of training, at greedy "
            "decoding, without generating (AUROC: harmful vs benign)."
        )


def _key_metric(type_name: str) -> str | None:
    jt = job_types().get(type_name)
    return jt.key_metric if jt else None


def _samples_logs_artefacts(rec: JobRecord, events: list[Any]) -> None:
    tab_s, tab_l, tab_a = st.tabs(["Latest samples", "Log", "Artefacts"])
    with tab_s:
        items = samples(events, last=5)
        if not items:
            st.caption("No text samples yet.")
        for s in items:
            with st.container(border=True):
                st.caption(f"step {s.get('step')} · attempt {s.get('attempt')}")
                st.markdown(f"**Prompt:** {s.get('prompt')}")
                st.markdown(f"**Completion:** {s.get('completion')}")
    with tab_l:
        lines = log_lines(events, last=300)
        st.code("\n".join(lines) or "(empty)", language=None)
        st.caption(f"Worker output: `{Path(rec.run_dir) / 'worker.log'}`")
    with tab_a:
        items = artefacts(events)
        if not items:
            st.caption("No artefacts yet (checkpoints appear after the first saved step).")
        for i, a in enumerate(items):
            label = f"{a['name']} (latest checkpoint)" if a.get("checkpoint") else a["name"]
            _download(label, a["path"], key=f"dl-{rec.id}-{i}")


# -- launch form ---------------------------------------------------------------------------------------
def _widget(spec: FieldSpec, key: str) -> Any:
    label = spec.name.replace("_", " ")
    hint = spec.help + (" Leave empty for none." if spec.optional else "")
    if spec.kind == "bool":
        return st.checkbox(label, value=bool(spec.default), help=hint, key=key)
    if spec.kind == "choice":
        idx = spec.choices.index(spec.default) if spec.default in spec.choices else 0
        return st.selectbox(label, spec.choices, index=idx, help=hint, key=key)
    if spec.kind in ("int", "float") and not spec.optional and spec.default is not None:
        num = int if spec.kind == "int" else float
        lo = None if spec.minimum is None or spec.exclusive[0] else num(spec.minimum)
        hi = None if spec.maximum is None or spec.exclusive[1] else num(spec.maximum)
        return st.number_input(
            label,
            value=num(spec.default),
            min_value=lo,
            max_value=hi,
            help=hint,
            key=key,
            step=1 if spec.kind == "int" else None,
            format=None if spec.kind == "int" else "%g",
        )
    if spec.kind == "json":
        return st.text_area(label, value=json.dumps(spec.default), help=hint + " (JSON)", key=key)
    return st.text_input(label, value="" if spec.default is None else str(spec.default), help=hint, key=key)


def launch_form() -> str | None:
    """Form generated from the job type's pydantic config, with a preset picker. Returns a new job id."""
    types = job_types()
    if not types:
        st.warning("No job types are registered.")
        return None
    type_name = st.selectbox("Job type", list(types), key="launch_type")
    jt = types[type_name]
    st.caption(jt.description)
    preset = st.selectbox("Preset", ["(defaults)", *jt.presets], key=f"launch_preset-{type_name}")
    base = jt.presets.get(preset, {}) if preset != "(defaults)" else {}
    specs = field_specs(jt.config_model, base)
    as_json = st.toggle("Edit the config as JSON", key="launch_json")
    backends = ["local"] + (["ray"] if _ray_installed() else [])
    with st.form(f"launch-{type_name}-{preset}"):
        if as_json:
            raw_json = st.text_area(
                "Config (JSON)",
                height=260,
                key=f"launch_json_text-{type_name}-{preset}",
                value=json.dumps({s.name: s.default for s in specs}, indent=2),
            )
        else:
            cols = st.columns(2)
            values = {}
            for i, spec in enumerate(specs):
                with cols[i % 2]:
                    values[spec.name] = _widget(spec, key=f"f-{type_name}-{preset}-{spec.name}")
        where = st.radio(
            "Run on",
            backends,
            horizontal=True,
            key="launch_backend",
            help="local: a process on this machine. ray: the cluster at RAY_ADDRESS.",
        )
        go_ = st.form_submit_button("Launch job", type="primary", icon=":material/rocket_launch:")
    if not go_:
        return None
    try:
        if as_json:
            try:
                config = json.loads(raw_json)
            except json.JSONDecodeError as exc:
                st.error(f"The config is not valid JSON: {exc}")
                return None
        else:
            config = form_to_config(specs, values)
        job_id = get_backend(where).submit(type_name, config, identity=state.current_identity())
    except ConfigError as exc:
        st.error(
            "The config has problems — fix these fields:\n"
            + "\n".join(f"- **{k}**: {v}" for k, v in exc.fields.items())
        )
        return None
    except Exception as exc:  # noqa: BLE001 - shown as a message
        state.show_error(exc)
        return None
    state.select_job(job_id)  # the Runs tab (drawn after this form) opens the new job
    st.success(f"Launched `{job_id}`. It is selected under **Runs**.")
    return job_id


def _ray_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


# -- comparison ----------------------------------------------------------------------------------------
def compare_runs(rows: list[dict[str, Any]]) -> None:
    """Overlay one metric of two (or more) runs."""
    ids = [r["id"] for r in rows]
    if len(ids) < 2:
        st.info("Run at least two jobs to compare their curves here.")
        return
    chosen = st.multiselect("Runs", ids, default=ids[:2], max_selections=4, key="compare_runs")
    frames = {j: metric_frame(polled_events(j)) for j in chosen}
    common = set.intersection(*(set(f["metric"].unique()) for f in frames.values())) if frames else set()
    if not common:
        st.caption("These runs share no metric.")
        return
    ordered = [m for m in metric_names(pd.DataFrame({"metric": sorted(common)})) if m in common]
    metric = st.selectbox("Metric", ordered, key="compare_metric")
    st.plotly_chart(overlay_figure(overlay_frame(frames, metric), metric), key="compare_chart")
