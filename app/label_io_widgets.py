"""Import (with a column-mapping step and a dry-run preview) and export widgets of the Label page."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import state
from core.data import FIELDS, LABELS, Database, ImportRejectedError
from core.data.importer import export_bytes, import_table, new_dataset_name
from core.data.io import RawTable, read_bytes
from core.data.mapping import PRESETS, ColumnMapping, detect_preset, resolve, validate_rows
from core.data.repo import list_datasets
from core.errors import ReasonScopeError

NONE = "—"
SAMPLE_FILE = Path(__file__).resolve().parents[1] / "sample_data" / "prompts.jsonl"


def _mapping_editor(table: RawTable) -> ColumnMapping:
    """Preset + per-field column choice + constants; defaults come from the detected preset."""
    detected = detect_preset(table.columns)
    options = ["(own schema / manual)", *PRESETS]
    preset = st.selectbox(
        "Preset",
        options,
        index=options.index(detected) if detected else 0,
        key="imp_preset",
        help="Known public-benchmark layouts. The mapping below can still be changed.",
    )
    base = PRESETS[preset].mapping if preset in PRESETS else ColumnMapping()
    if preset in PRESETS and PRESETS[preset].note:
        st.caption(PRESETS[preset].note)
    try:
        chosen, _ = resolve(table.columns, base, table.source)
    except ReasonScopeError:
        chosen = {}
    by_field = {f: c for c, f in chosen.items()}
    st.markdown("**Which column holds each field?**")
    columns: dict[str, str] = {}
    grid = st.columns(4)
    for n, fld in enumerate(FIELDS):
        opts = [NONE, *table.columns]
        default = by_field.get(fld, NONE)
        pick = grid[n % 4].selectbox(
            fld + (" *" if fld == "prompt" else ""),
            opts,
            index=opts.index(default),
            key=f"imp_map_{preset}_{fld}",
        )
        if pick != NONE:
            columns[pick] = fld
    c = st.columns(3)
    const_label = base.constants.get("label", NONE)
    label_opts = [NONE, *LABELS]
    label = c[0].selectbox(
        "Label for every row",
        label_opts,
        index=label_opts.index(const_label),
        key=f"imp_const_label_{preset}",
        disabled="label" in columns.values(),
    )
    source = c[1].text_input(
        "Source for every row",
        value=base.constants.get("source", ""),
        key=f"imp_src_{preset}",
        disabled="source" in columns.values(),
    )
    kind = c[2].text_input(
        "Kind for every row",
        value=base.constants.get("kind", ""),
        key=f"imp_kind_{preset}",
        disabled="kind" in columns.values(),
        help="harmful, benign_counterpart, borderline, jailbreak or response (sample_data schema)",
    )
    constants = {
        k: v
        for k, v in (("label", label), ("source", source), ("kind", kind))
        if v and v != NONE and k not in columns.values()
    }
    return ColumnMapping(columns, constants, base.label_values)


def import_panel(db: Database, who: str | None, current: str | None) -> None:
    """Upload -> map columns -> preview (validation, duplicates) -> import in one transaction."""
    if current is None and SAMPLE_FILE.is_file():
        if st.button(
            "Start from the bundled sample set (sample_data/prompts.jsonl)",
            key="imp_sample",
            disabled=not who,
        ):
            try:
                table = read_bytes(SAMPLE_FILE.read_bytes(), SAMPLE_FILE.name)
                report = import_table(db, table, "sample", annotator=who or "")
            except ReasonScopeError as exc:
                state.show_error(exc)
            else:
                state.set_label_flash(report.summary())
                state.request_label_dataset("sample")
                st.rerun()
    up = st.file_uploader(
        "Import a file (JSONL, CSV, TSV or Parquet; UTF-8; up to 50 MB)",
        type=["jsonl", "ndjson", "json", "csv", "tsv", "parquet", "pq"],
        key="imp_file",
    )
    if up is None:
        return
    try:
        table = read_bytes(up.getvalue(), up.name)
    except ReasonScopeError as exc:
        state.show_error(exc)
        return
    st.caption(f"{len(table.rows)} rows · columns: {', '.join(table.columns)}")
    mapping = _mapping_editor(table)
    target = st.text_input(
        "Import into dataset (a new one named after the file; type an existing name to merge into it)",
        value=new_dataset_name(db, up.name),
        key=f"imp_target_{up.name}",
    )
    if target.strip() in {d.name for d in list_datasets(db)}:
        st.warning(f"'{target.strip()}' already exists: its items are kept and only new ids are added.")
    try:
        preview = validate_rows(table.columns, table.rows[:5], mapping, table.source)
        report = import_table(
            db, table, target.strip() or "unnamed", annotator=who or "preview", mapping=mapping, dry_run=True
        )
    except ReasonScopeError as exc:
        state.show_error(exc)
        return
    st.dataframe(
        pd.DataFrame([r for _, r in preview.rows]), hide_index=True, width="stretch", key="imp_preview"
    )
    st.markdown(
        f"**Preview:** {len(report.imported)} new item(s), {len(report.skipped)} duplicate(s) to skip, "
        f"{len(report.rejected)} invalid row(s)."
        + (f" Ignored columns: {', '.join(report.ignored_columns)}." if report.ignored_columns else "")
    )
    if report.rejected:
        st.dataframe(
            pd.DataFrame([{"row": r.row, "id": r.item_id, "problem": r.reason} for r in report.rejected]),
            hide_index=True,
            width="stretch",
            key="imp_rejected",
        )
    if report.skipped:
        with st.expander(f"{len(report.skipped)} duplicate(s)"):
            st.dataframe(
                pd.DataFrame([{"row": s.row, "id": s.item_id, "reason": s.reason} for s in report.skipped]),
                hide_index=True,
                width="stretch",
                key="imp_skipped",
            )
    skip_bad = (
        st.checkbox(f"Skip the {len(report.rejected)} invalid row(s) and import the rest", key="imp_skip_bad")
        if report.rejected
        else False
    )
    can = bool(who) and bool(report.imported) and (skip_bad or not report.rejected)
    if st.button(
        f"Import {len(report.imported)} item(s) into '{target.strip()}'",
        key="imp_go",
        type="primary",
        disabled=not can,
    ):
        try:
            done = import_table(
                db,
                table,
                target.strip(),
                annotator=who or "",
                mapping=mapping,
                on_error="skip" if skip_bad else "abort",
            )
        except ImportRejectedError as exc:
            state.show_error(exc)
            return
        except ReasonScopeError as exc:
            state.show_error(exc)
            return
        state.set_label_flash(done.summary())
        state.request_label_dataset(target.strip())
        st.rerun()
    if not who:
        st.caption("Type your name first: imports record who brought the data in.")


def export_panel(db: Database, dataset: str) -> None:
    c = st.columns([1, 3])
    fmt = c[0].selectbox(
        "Format",
        ["jsonl", "csv", "parquet"],
        key="exp_fmt",
        help="All three re-import losslessly. CSV cells that a spreadsheet would run as a formula "
        "(= + - @ …) are prefixed with an apostrophe.",
    )
    try:
        data = export_bytes(db, dataset, fmt)
    except ReasonScopeError as exc:
        state.show_error(exc)
        return
    c[1].download_button(
        f"Download {dataset}.{fmt} ({len(data) / 1024:.1f} kB)",
        data,
        file_name=f"{dataset}.{fmt}",
        key="exp_download",
    )
