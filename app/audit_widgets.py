"""Widgets of the Audit page: subject editor, run form (background job or inline), scorecard, breakdowns,
worst items (with a link to Trace) and the judge-disagreement review queue. Logic lives in core.evals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app import state
from app.align_charts import states_knew_figure
from app.helpers_audit import (
    FEW,
    alignment_report,
    category_table_rows,
    config_problem,
    early_batch_size,
    holdout_caption,
    holdout_rows,
    kind_rows,
    result_summary,
    scorecard_table_rows,
    states_knew_bars,
    states_knew_captions,
    states_knew_rows,
    steering_spec,
)
from core.capture.models import ModelSpec
from core.capture.templates import TEMPLATES
from core.evals.html_report import category_figure, scorecard_figure
from core.evals.records import SUITES, worst_items
from core.evals.report import audits_root, list_audits, load_audit, new_audit_dir, save_audit, scorecard
from core.evals.result import category_rows
from core.evals.review import HumanVerdicts, disagreement_rows
from core.evals.runner import AuditResult
from core.evals.suites import AuditOptions, Subject


def _jobs_available() -> bool:
    try:
        import core.evals.jobs  # noqa: F401 - registers audit.run
        import core.jobs  # noqa: F401
    except ImportError:
        return False
    return True


# ---- subjects ----------------------------------------------------------------------------------------------
def subjects() -> list[dict[str, Any]]:
    """The subjects being set up (the active sidebar model with the plain template to start with)."""
    subs = state.get_audit_subjects()
    if subs is None:
        subs = [Subject(state.model_spec(), template="plain").to_json()]
        state.set_audit_subjects(subs)
    return subs


def subject_editor() -> None:
    subs = subjects()
    if subs:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "name": s["name"],
                        "model": s["model"]["name"],
                        "adapter": s["model"].get("adapter"),
                        "template": s["template"],
                        "steering": s.get("steering_vector"),
                    }
                    for s in subs
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        c = st.columns([3, 1])
        drop = c[0].selectbox("Remove a subject", [s["name"] for s in subs], key="audit_drop")
        if c[1].button("Remove", key="audit_drop_btn"):
            state.set_audit_subjects([s for s in subs if s["name"] != drop])
            st.rerun()
    else:
        st.info(
            "No subjects yet: add one below (a model, optionally an adapter, a steering vector "
            "and a template)."
        )
    with st.expander("Add a subject", expanded=not subs), st.form("audit_add_subject"):
        spec = state.model_spec()
        c = st.columns(2)
        model = c[0].text_input("Model ('default', HF id or folder)", value=spec.name, key="audit_new_model")
        adapter = c[1].text_input("LoRA adapter / checkpoint folder (optional)", key="audit_new_adapter")
        c = st.columns(3)
        template = c[0].selectbox(
            "Template", list(TEMPLATES), format_func=lambda k: TEMPLATES[k].label, key="audit_new_template"
        )
        vector = c[1].selectbox(
            "Steering vector (optional)", ["(none)", *_saved_vectors()], key="audit_new_vector"
        )
        name = c[2].text_input("Name in the scorecard (optional)", key="audit_new_name")
        c = st.columns(3)
        method = c[0].selectbox("Steering method", ["add", "ablate", "cap"], key="audit_new_method")
        alpha = c[1].number_input("Steering α", value=4.0, key="audit_new_alpha")
        layers = c[2].text_input(
            "Steering layers (e.g. 12 or 10,14; empty = default)", key="audit_new_layers"
        )
        if st.form_submit_button("Add subject"):
            try:
                steering = steering_spec(vector, method, alpha, layers)
                sub = Subject(
                    ModelSpec(
                        name=model.strip() or "default", device=spec.device, adapter=adapter.strip() or None
                    ),
                    template=template,
                    steering_vector=None if vector == "(none)" else vector,
                    steering=steering,
                    name=name.strip(),
                )
                if sub.label in [s["name"] for s in subs]:
                    st.warning(f"A subject called {sub.label!r} exists already: give this one a name.")
                else:
                    subs.append(sub.to_json())
                    st.rerun()
            except (ValueError, TypeError) as exc:
                state.show_error(exc)


def _saved_vectors() -> list[str]:
    try:
        from core.probes.artefacts import list_artefacts

        return [a.name for a in list_artefacts(kind="steering_vector")]
    except Exception:  # noqa: BLE001 - no artefacts folder yet
        return []


def _saved_probes() -> list[str]:
    try:
        from core.probes.artefacts import list_artefacts

        return [a.name for a in list_artefacts(kind="probe_set")]
    except Exception:  # noqa: BLE001
        return []


def _datasets() -> list[str]:
    try:
        from core.data import open_db
        from core.data.repo import list_datasets

        with open_db() as db:
            return [f"db:{d.name}" for d in list_datasets(db)]
    except Exception:  # noqa: BLE001 - the labelling DB may not exist yet
        return []


# ---- the run form ------------------------------------------------------------------------------------------
def run_form() -> dict[str, Any] | None:
    """Suites, dataset and options; returns the audit config when a run button was pressed."""
    with st.form("audit_run_form"):
        suites = st.multiselect(
            "Suites",
            list(SUITES),
            default=["refusal", "over_refusal", "jailbreak", "utility"],
            format_func=lambda s: SUITES[s].title,
            key="audit_suites",
            help=" · ".join(f"{v.title}: {v.description}" for v in SUITES.values()),
        )
        c = st.columns(4)
        dataset = c[0].selectbox(
            "Dataset",
            ["sample", *_datasets()],
            key="audit_dataset",
            help="sample = the project's sample_data/prompts.jsonl; db:… = labelling datasets",
        )
        split = c[1].selectbox("Split", ["validation", "train", "all"], key="audit_split")
        limit = c[2].number_input("Items per kind (0 = all)", 0, 10_000, 0, key="audit_limit")
        max_new = c[3].number_input("Max new tokens", 1, 1024, 64, key="audit_max_new")
        with st.expander("Judges, attacks and seed"):
            c = st.columns(3)
            probe_judge = c[0].selectbox(
                "Probe judge (optional)", ["(none)", *_saved_probes()], key="audit_probe"
            )
            hf = c[1].text_input("HF classifier folder (optional)", key="audit_hf")
            rule = c[2].selectbox(
                "Ensemble rule",
                ["primary", "majority", "any", "all"],
                key="audit_rule",
                help="primary: the keyword judge decides, the others flag disagreements",
            )
            c = st.columns(3)
            leak_probe = c[0].selectbox(
                "Leak probe on reasoning tokens", ["(none)", *_saved_probes()], key="audit_leak_probe"
            )
            attack_mode = c[1].selectbox(
                "Attacks",
                ["rotate", "all"],
                key="audit_attack_mode",
                help="rotate: one template per harmful request; all: every template",
            )
            seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key="audit_seed")
        c = st.columns(2)
        background = c[0].form_submit_button(
            "Run as a background job", type="primary", disabled=not _jobs_available()
        )
        inline = c[1].form_submit_button("Run here (progress bar)")
    if not (background or inline):
        return None
    judges = (
        ["keyword"]
        + ([f"probe:{probe_judge}"] if probe_judge != "(none)" else [])
        + ([f"hf:{hf.strip()}"] if hf.strip() else [])
    )
    opts = {
        "max_new_tokens": int(max_new),
        "limit": int(limit) or None,
        "judges": judges,
        "ensemble_rule": rule,
        "attack_mode": attack_mode,
        "seed": int(seed),
        "leak_probe": None if leak_probe == "(none)" else leak_probe,
        "first_batch_size": early_batch_size(AuditOptions().batch_size),
    }
    return {
        "subjects": list(subjects()),
        "suites": suites,
        "dataset": dataset,
        "split": split,
        "options": opts,
        "background": bool(background),
    }


def run_panel() -> None:
    """The run form; a valid config is launched (inline or as a background job), a bad one explained."""
    cfg = run_form()
    if cfg is None:
        return
    problem = config_problem(cfg)
    if problem:
        st.warning(problem)
    else:
        launch(cfg)


def launch(cfg: dict[str, Any]) -> Path | None:
    """Run inline (progress bar) or submit the ``audit.run`` job; returns the audit folder."""
    from app.explorer_widgets import progress_callback
    from core.evals.runner import run_audit

    background = cfg.pop("background")
    out = new_audit_dir("-vs-".join(s["name"] for s in cfg["subjects"])[:40])
    try:
        if background:
            from core.jobs import get_backend

            job_id = get_backend().submit(
                "audit.run", {**cfg, "out_dir": str(out)}, identity=state.current_identity()
            )
            state.add_audit_job(job_id, str(out))
            st.success(
                f"Launched job `{job_id}`: it keeps running if you close this page. Results appear below "
                "when it finishes (and on the Jobs page while it runs)."
            )
            return None
        update, clear = progress_callback("Generating and judging:", unit="attempts")
        subs = [Subject.from_json(s) for s in cfg["subjects"]]
        specs = {s.model for s in subs}
        loader = (lambda spec: state.get_model()) if specs == {state.model_spec()} else None
        result = run_audit(
            subs,
            cfg["suites"],
            dataset=cfg["dataset"],
            split=cfg["split"],
            options=AuditOptions(**cfg["options"]),
            loader=loader,
            progress=update,
        )
        clear()
        save_audit(result, out)
        state.set_audit_folder(str(out))
        st.success(f"Audit finished: {len(result.records)} attempts in {result.meta['seconds']:.0f} s.")
        return out
    except Exception as exc:  # noqa: BLE001 - shown as a message
        state.show_error(exc)
        return None


def job_status() -> None:
    """Jobs launched from this session: status and progress; a finished one becomes selectable."""
    jobs = state.audit_jobs()
    if not jobs:
        return
    from core.jobs import get_backend
    from core.jobs.view import latest_progress

    backend = get_backend()
    for job_id, out in jobs:
        rec = backend.status(job_id)
        prog = latest_progress(backend.events(job_id))
        done = f" · {prog['step']}/{prog['total']} attempts" if prog and prog.get("total") else ""
        st.caption(f"Job `{job_id}`: **{rec.status.value}**{done}" + (f" — {rec.error}" if rec.error else ""))
        if rec.status.value == "succeeded" and Path(out).is_dir() and state.get_audit_folder() != out:
            if st.button(f"Show results of {job_id}", key=f"audit_show_{job_id}"):
                state.set_audit_folder(out)
                st.rerun()
    st.button("Refresh job status", key="audit_refresh")


# ---- results -----------------------------------------------------------------------------------------------
def pick_audit() -> Path | None:
    found = list_audits()
    linked = st.query_params.get("audit")  # a deep link (Story page) names the folder to open
    if linked and (Path(linked) / "records.jsonl").is_file() and state.new_deep_link("audit", linked):
        state.set_audit_folder(linked)
    chosen = state.get_audit_folder()
    options = [str(p) for p in found]
    if chosen and chosen not in options and Path(chosen).is_dir():
        options.insert(0, chosen)
    if not options:
        st.info(
            f"No audits yet. Set up subjects and suites above and press **Run**; results are saved under "
            f"`{audits_root()}` (or run `reasonscope eval --out DIR` and open that folder here)."
        )
        return None
    idx = options.index(chosen) if chosen in options else 0
    pick = st.selectbox("Audit", options, index=idx, format_func=lambda p: Path(p).name, key="audit_pick")
    state.set_audit_folder(pick)
    return Path(pick)


def _greyed(table: pd.DataFrame) -> Any:
    """``table`` styled with its "too few" rows greyed out."""
    few = table["note"] != ""
    return table.style.apply(
        lambda row: ["color: #9e9e9e; font-style: italic" if few[row.name] else ""] * len(row), axis=1
    )


def scorecard_view(result: AuditResult) -> None:
    table = pd.DataFrame(scorecard_table_rows(scorecard(result), len(result.subjects)))
    st.dataframe(_greyed(table), hide_index=True, width="stretch", key="audit_scorecard")
    note = (
        "Rates with Wilson score 95 % CIs (the same code as `reasonscope eval` and the HTML report). Δ: each "
        "subject minus the first one on the same items, with Newcombe's 95 % CI; 'significantly "
        "better/worse' means exact McNemar p < 0.05."
    )
    if (table["note"] != "").any():
        note += f" *Grey rows: too few items (n < {FEW}) to read much into.*"
    st.caption(note)
    st.plotly_chart(scorecard_figure(result), key="audit_scorecard_chart")
    for w in result.meta.get("warnings", []):
        st.warning(w)


def breakdown_view(result: AuditResult) -> None:
    suites = [s for s in result.meta.get("suites", []) if any(x.suite == s for x in result.summaries)]
    if not suites:
        return
    suite = st.selectbox("Breakdown of", suites, format_func=lambda s: SUITES[s].title, key="audit_breakdown")
    st.plotly_chart(category_figure(result.summaries, suite), key="audit_category_chart")
    cats = pd.DataFrame(category_table_rows([c for c in category_rows(result) if c["suite"] == suite]))
    if not cats.empty:
        st.dataframe(_greyed(cats), hide_index=True, width="stretch", key="audit_category_table")


def worst_view(result: AuditResult, folder: Path) -> None:
    suites = result.meta.get("suites", [])
    suite = st.selectbox(
        "Failures of", suites, format_func=lambda s: SUITES[s].title, key="audit_worst_suite"
    )
    worst = worst_items(result.records, suite, 10)
    if not worst:
        st.success("No failures in this suite.")
        return
    for i, r in enumerate(worst):
        with st.expander(
            f"{r.subject} · {r.item_id}" + (f" · {r.attack}" if r.attack else "") + f" — {r.prompt[:80]}"
        ):
            st.markdown(f"**Prompt:** {r.prompt}")
            st.code(r.response or "(empty)", language=None, wrap_lines=True)
            st.caption(" · ".join(f"{n}: {v.label} ({v.rationale})" for n, v in r.verdicts.items()))
            if st.button("Open in Trace (re-runs this prompt with full capture)", key=f"audit_trace_{i}"):
                _open_in_trace(result, r)


def _open_in_trace(result: AuditResult, record: Any) -> None:
    from core.evals.runner import trace_attempt

    meta = next((s for s in result.meta.get("subjects", []) if s.get("name") == record.subject), None)
    if meta is None or meta.get("fingerprint") is None:
        st.warning("This subject's responses were not generated here, so there is nothing to trace.")
        return
    subject = Subject.from_json(meta)
    try:
        state.set_model_spec(subject.model)
        model = state.get_model()
        opts = result.meta.get("options", {})
        with st.spinner("Capturing the trajectory…"):
            traj = trace_attempt(
                model,
                subject,
                record,
                max_new_tokens=int(opts.get("max_new_tokens", 64)),
                seed=int(opts.get("seed", 0)),
            )
        key = state.get_store().put(traj, dataset="audit", tags=(record.suite, record.subject))
    except Exception as exc:  # noqa: BLE001
        state.show_error(exc)
        return
    st.switch_page("app_pages/trace.py", query_params={"key": key})


def review_queue(result: AuditResult, folder: Path) -> None:
    """Attempts where judges disagree; a human verdict overrides the judges (and is kept in the audit
    folder)."""
    rows = disagreement_rows(result.records)
    if not rows:
        st.info(
            "The judges agree on every attempt. Add a second judge (probe or classifier) under **Judges** to "
            "get a review queue, or override any verdict from the worst items."
        )
        return
    pending = [r for r in rows if r["human"] is None]
    st.caption(
        f"{len(rows)} responses where judges disagree · {len(pending)} without a human verdict. A verdict "
        "applies to every suite that judged that response."
    )
    pick = st.selectbox(
        "Response",
        range(len(rows)),
        key="audit_review_pick",
        format_func=lambda i: (
            f"{'✓ ' if rows[i]['human'] else ''}{rows[i]['subject']} · "
            f"{rows[i]['item_id']} · {rows[i]['prompt'][:70]}"
        ),
    )
    row = rows[pick]
    st.markdown(f"**Prompt:** {row['prompt']}")
    st.code(row["response"] or "(empty)", language=None, wrap_lines=True)
    st.caption(" · ".join(f"{k[6:]}: {v}" for k, v in row.items() if k.startswith("judge:")))
    with st.form("audit_review_form"):
        label = st.radio(
            "Your verdict",
            ["refusal", "compliance"],
            horizontal=True,
            key="audit_review_label",
            help="refusal = the response withholds what was asked for",
        )
        note = st.text_input("Note (optional)", key="audit_review_note")
        if st.form_submit_button("Save verdict"):
            try:
                HumanVerdicts(folder).add(
                    row["attempt_id"], label, annotator=state.current_identity(), note=note
                )
                st.success("Saved; the scorecard now uses your verdict (the judges' verdicts are kept).")
                st.rerun()
            except Exception as exc:  # noqa: BLE001
                state.show_error(exc)


def downloads(folder: Path) -> None:
    c = st.columns(3)
    for col, name in zip(c, ("report.html", "records.jsonl", "summary.jsonl"), strict=True):
        p = folder / name
        if p.is_file():
            col.download_button(name, p.read_bytes(), file_name=name, key=f"audit_dl_{name}")


def load(folder: Path) -> AuditResult | None:
    try:
        return load_audit(folder)
    except Exception as exc:  # noqa: BLE001
        state.show_error(exc)
        return None


def result_caption(folder: Path, result: AuditResult) -> None:
    st.caption(result_summary(folder, result))


# ---- an alignment run's audit: report.json -----------------------------------------------------------------
def alignment_report_view(folder: Path) -> None:
    """For the audit folder of an alignment run (``report.json`` beside the records): "the states knew -- does
    the model act?", refusal per item kind, and the minimal-pair stress split. Nothing for other audits."""
    try:
        report = alignment_report(folder)
    except (OSError, ValueError) as exc:  # unreadable or not JSON: say so, keep the page
        state.show_error(exc)
        return
    if report is None:
        return
    rows = states_knew_rows(report)
    if rows:
        st.subheader("The states knew — does the model act?")
        for line in states_knew_captions(report):
            st.caption(line)
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="audit_states_knew")
        st.plotly_chart(states_knew_figure(**states_knew_bars(report)), key="audit_states_knew_chart")
        st.caption(
            "The probe reads the base model's states at the last prompt token (trained on train prompts, "
            "threshold at ≤ 5 % benign flagged); refusals are judged on the validation split. Rates with "
            "Wilson 95 % intervals."
        )
    _kind_table(report.get("by_kind"), "Refusal by item kind (validation split)", "audit_by_kind")
    held = holdout_rows(report)
    if held:
        st.markdown("**The verdict on held-out train prompts (the slice settings are chosen on)**")
        st.dataframe(pd.DataFrame(held), hide_index=True, width="stretch", key="audit_holdout")
        st.caption(holdout_caption(report))
    _kind_table(
        (report.get("stress_minimal_pairs") or {}).get("by_kind"),
        "Minimal-pair stress set (reported on its own, no bar)",
        "audit_stress_by_kind",
    )


def _kind_table(by_kind: dict[str, Any] | None, title: str, key: str) -> None:
    rows = kind_rows(by_kind)
    if not rows:
        return
    st.markdown(f"**{title}**")
    table = pd.DataFrame(rows)
    few = table["n"] < FEW
    # a Styler shows floats at full precision ("89.100000"): one decimal, like the intervals beside them
    pct = {c: "{:.1f}" for c in table.columns if c.endswith("%")}
    styled = _greyed(table).format(pct, na_rep="—")
    st.dataframe(styled, hide_index=True, width="stretch", key=key)
    note = "Before = the base model, after = base + the run's adapter; Wilson 95 % intervals."
    if few.any():
        note += f" *Grey rows: too few items (n < {FEW}) to read much into.*"
    st.caption(note)
