"""Widgets of the Label page: database handle, annotator name, dataset picker, labelling queue, filterable
table with bulk relabel, conflict resolution, pair view, counts and agreement.

All reads and writes go through ``core.data`` (one transaction each); every label write names the version
the user saw, and a ``ConflictError`` is shown with both versions side by side instead of overwriting.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import label_io_widgets as lio
from app import state
from core.config import database_url
from core.data import LABELS, ConflictError, Database, ItemRecord, LabelChange, bulk, open_db, repo, review
from core.explore import palette
from core.samples.connect import find_trajectory, sync_store_datasets

TRACE_PAGE = "app_pages/trace.py"

LABEL_COLOURS = palette.LABEL_COLOURS  # the one palette (core.explore.palette)
QUEUE_KEYS = {"safe": "1", "unsafe": "2", "rethink": "3", "skip": "4"}  # keyboard shortcuts


@st.cache_resource(show_spinner="Opening the labelling database…")
def _open(url: str) -> Database:
    return open_db(url)


def get_db() -> Database:
    """The shared, migrated labelling database (one engine per URL for the whole server)."""
    return _open(database_url())


def db_or_none() -> Database | None:
    """``get_db()``, or None after showing why it cannot be opened (e.g. an unreachable REASONSCOPE_DB
    server)."""
    try:
        return get_db()
    except Exception as exc:  # noqa: BLE001 - shown as a message
        state.show_error(exc)
        return None


def flash_message() -> None:
    """The message left by the previous run (a save, an import), shown once."""
    if flash := state.pop_label_flash():
        st.success(flash)


def empty_state(db: Database, who: str | None) -> None:
    """No dataset yet: what to do, and the import panel."""
    st.info(
        "No datasets yet. Import a file (JSONL, CSV, TSV or Parquet — HarmBench, XSTest, AdvBench, "
        "JailbreakBench and StrongREJECT layouts are recognised), start from the bundled sample set, or "
        "create an empty dataset and add items from **Trace**."
    )
    lio.import_panel(db, who, None)


def tabs_panel(db: Database, dataset: str, who: str | None) -> None:
    """Queue, table, pairs, counts, import / export and history; only the open tab is drawn."""
    tabs = st.tabs(
        ["Queue", "Table", "Pairs", "Counts & agreement", "Import / export", "History"],
        key="label_tab",
        on_change="rerun",
    )
    if tabs[0].open:
        with tabs[0]:
            queue_panel(db, dataset, who)
    if tabs[1].open:
        with tabs[1]:
            table_panel(db, dataset, who)
    if tabs[2].open:
        with tabs[2]:
            pair_panel(db, dataset)
    if tabs[3].open:
        with tabs[3]:
            stats_panel(db, dataset, who)
    if tabs[4].open:
        with tabs[4]:
            lio.import_panel(db, who, dataset)
            st.divider()
            lio.export_panel(db, dataset)
    if tabs[5].open:
        with tabs[5]:
            history_panel(db, dataset, who)


def annotator_field() -> str | None:
    """The signed-in / remembered name; asks for one when unknown (labels need an author)."""
    who = state.current_identity()
    if who:
        st.caption(f"Labelling as **{who}** — every change is recorded with your name and the time.")
        return who
    st.text_input(
        "Your name (recorded with every label change)",
        key="label_name_input",
        on_change=state.adopt_annotator_name,
        args=("label_name_input",),
        placeholder="e.g. Ada Lovelace",
    )
    st.info("Type your name above to label items. You can browse without it.")
    return None


def sync_store(records: list[ItemRecord]) -> None:
    """Mirror new labels into the activation-store index, so Explore colours linked trajectories."""
    store = state.get_store()
    by_item: dict[tuple[str, str], list[str]] = {}
    for dataset in {r.dataset for r in records if not r.trajectory_key}:
        for m in store.query(dataset=dataset):
            by_item.setdefault((dataset, m.item_id or ""), []).append(m.key)
    for rec in records:
        keys = [rec.trajectory_key] if rec.trajectory_key else by_item.get((rec.dataset, rec.item_id), [])
        for key in keys:
            if store.has(key):
                store.annotate(key, label=rec.label)


def sync_trajectories(db: Database) -> None:
    """Stored trajectories (Home's demo load, Trace) the database does not have yet become items of the
    dataset of the same name, so Label and the store share one notion of a dataset."""
    try:
        report = sync_store_datasets(db, state.get_store())
    except Exception as exc:  # noqa: BLE001 - the page still works on what the database has
        state.show_error(exc)
        return
    if report.total:
        st.toast(report.summary())


def dataset_picker(db: Database, who: str | None) -> str | None:
    """Select (or create) the dataset to work on; None when there is none yet. Stored trajectories are
    brought in first (``sync_trajectories``)."""
    sync_trajectories(db)
    infos = repo.list_datasets(db)
    names = [d.name for d in infos]
    counts = {d.name: d for d in infos}
    state.apply_requested_label_dataset(names)  # set after create/import; applied before the widget
    cols = st.columns([3, 2])
    choice = None
    if names:
        choice = cols[0].selectbox(
            "Dataset",
            names,
            key="label_dataset",
            format_func=lambda n: f"{n} — {counts[n].n_items} items, {counts[n].n_labelled} labelled",
        )
    with cols[1].expander("New empty dataset"):
        name = st.text_input("Name", key="label_new_dataset")
        if st.button("Create", key="label_create_dataset", disabled=not who):
            try:
                repo.create_dataset(db, name, by=who)
            except Exception as exc:  # noqa: BLE001 - InputError shown as a message
                state.show_error(exc)
            else:
                state.request_label_dataset(name.strip())
                st.rerun()
    return choice


# ---- conflicts ---------------------------------------------------------------------------------------------


def remember_conflict(dataset: str, err: ConflictError, comment: str | None) -> None:
    state.set_label_conflict(
        {
            "dataset": dataset,
            "comment": comment,
            "rows": [
                {
                    "pk": c.current.pk,
                    "item_id": c.current.item_id,
                    "mine": c.attempted.new_label,
                    "seen": c.attempted.expected_version,
                    "theirs": c.current.label,
                    "version": c.current.version,
                    "by": c.current.updated_by or "someone",
                    "at": f"{c.current.updated_at:%Y-%m-%d %H:%M:%S} UTC",
                    "prompt": c.current.prompt,
                }
                for c in err.conflicts
            ],
        }
    )


def save_changes(
    db: Database,
    dataset: str,
    changes: list[LabelChange],
    who: str,
    comment: str | None,
    *,
    vote: bool = True,
) -> bool:
    """Apply label changes; on a conflict remember both versions for ``conflict_panel``. True if saved."""
    try:
        saved = repo.apply_label_changes(db, changes, annotator=who, comment=comment or None, vote=vote)
    except ConflictError as err:
        remember_conflict(dataset, err, comment)
        return False
    sync_store(saved)
    state.set_label_flash(f"Saved {len(saved)} label change(s).")
    return True


def conflict_panel(db: Database, dataset: str, who: str | None) -> None:
    """Both versions of every clashing item, and the two ways out. Nothing is overwritten silently."""
    pending = state.get_label_conflict()
    if not pending or pending["dataset"] != dataset:
        return
    with st.container(border=True):
        st.warning(
            f"{len(pending['rows'])} item(s) changed while you were editing — nothing of this save was "
            "written. Compare and decide:"
        )
        for row in pending["rows"]:
            a, b = st.columns(2)
            a.markdown(
                f"**Your change** to `{row['item_id']}`  \n→ **{row['mine'] or 'none'}** "
                f"(you were looking at version {row['seen']})"
            )
            b.markdown(
                f"**Now in the database**  \n**{row['theirs'] or 'none'}** — version {row['version']}, "
                f"by {row['by']} at {row['at']}"
            )
            st.caption(row["prompt"][:300])
        c = st.columns(2)
        if c[0].button("Keep theirs (discard my change)", key="conflict_keep"):
            state.clear_label_conflict()
            state.bump_label_table_gen()
            st.rerun()
        if c[1].button("Apply mine over theirs", key="conflict_mine", type="primary", disabled=not who):
            changes = [LabelChange(r["pk"], r["mine"], r["version"]) for r in pending["rows"]]
            note = "; ".join(
                f"overrode {r['by']}'s {r['theirs'] or 'none'} (v{r['version']})" for r in pending["rows"]
            )
            state.clear_label_conflict()
            if save_changes(db, dataset, changes, who or "", f"{pending['comment'] or ''} [{note}]".strip()):
                state.bump_label_table_gen()
            st.rerun()


# ---- queue -------------------------------------------------------------------------------------------------


def _trajectory_view(item: ItemRecord) -> None:
    """The captured trajectory's token × layer heatmap and a link to it on Trace, when this item has one in
    the store (linked, stored under this dataset and id, or traced with the same prompt)."""
    store = state.get_store()
    key = find_trajectory(store, item)
    if key is None:
        st.caption(
            "No captured trajectory for this item yet: trace its prompt on **Trace** and it shows here."
        )
        return
    if st.button("Open this trajectory in Trace", key=f"label_open_trace_{item.pk}"):
        st.switch_page(TRACE_PAGE, query_params={"key": key})
    from app import charts
    from core.explore.pooling import token_layer_scores

    traj = store.get(key)
    scores = token_layer_scores(traj, "norm")  # [n_layers, n_tokens]
    spans = [(s.name, s.start, s.end) for s in traj.spans]
    with st.expander("Model trajectory (hidden-state norm per layer and token)"):
        st.plotly_chart(
            charts.token_layer_heatmap(scores, traj.tokens, traj.layers, spans), key="queue_heatmap"
        )


def queue_panel(db: Database, dataset: str, who: str | None) -> None:
    """One item at a time: prompt, response, buttons safe / unsafe / rethink / skip (keys 1-4)."""
    mode = st.radio(
        "Queue",
        ["unlabelled", "unreviewed"],
        horizontal=True,
        key="label_queue_mode",
        format_func=lambda m: {
            "unlabelled": "Unlabelled items",
            "unreviewed": "Items I have not judged (second opinions)",
        }[m],
    )
    skipped = state.label_skipped(dataset, mode)
    item = review.next_in_queue(db, dataset, who or "", mode=mode, skip=skipped)
    left = review.queue_size(db, dataset, who or "", mode=mode, skip=skipped)
    st.caption(
        f"{left} item(s) left in this queue · {len(skipped)} skipped this session · keyboard: "
        + " · ".join(f"**{k}** {v}" for v, k in QUEUE_KEYS.items())
    )
    if item is None:
        st.success(
            "Queue empty — nothing left to label here." + (" Skipped items are waiting." if skipped else "")
        )
        if skipped and st.button("Bring back skipped items", key="queue_unskip"):
            state.clear_label_skipped(dataset, mode)
            st.rerun()
        return
    with st.container(border=True):
        meta = " · ".join(x for x in (item.category, item.kind, item.split, item.source) if x)
        st.markdown(
            f"**`{item.item_id}`** {('· ' + meta) if meta else ''} · current label: "
            f"**{item.label or 'none'}**" + (f" · pair `{item.pair_id}`" if item.pair_id else "")
        )
        st.markdown("**Prompt**")
        st.text(item.prompt)
        if item.response is not None:
            st.markdown("**Response**")
            st.text(item.response)
        _trajectory_view(item)
    comment = st.text_input("Comment (optional, kept in the history)", key="queue_comment")
    cols = st.columns(4)
    for col, (choice, key) in zip(cols, QUEUE_KEYS.items(), strict=True):
        if col.button(
            choice.capitalize(),
            key=f"queue_{choice}",
            shortcut=key,
            width="stretch",
            type="primary" if choice != "skip" else "secondary",
            disabled=not who and choice != "skip",
        ):
            if choice == "skip":
                skipped.append(item.pk)
            else:
                rec = repo.record_vote(db, item.pk, choice, annotator=who or "", comment=comment or None)
                sync_store([rec])
                state.set_label_flash(_vote_message(item, rec, choice))
            st.rerun()


def _vote_message(item: ItemRecord, rec: ItemRecord, choice: str) -> str:
    if rec.label == choice and item.label is None:
        return f"`{item.item_id}` → **{choice}**"
    if not repo.is_human(rec.updated_by):  # the label came with a file: this is the first person's judgement
        return (
            f"`{item.item_id}` came labelled **{rec.label}** ({rec.updated_by}); your **{choice}** is "
            "recorded as your own judgement of it (see Counts & agreement)."
        )
    return (
        f"`{item.item_id}` was already labelled **{rec.label}** by {rec.updated_by}; your **{choice}** is "
        "recorded as a second opinion (see Counts & agreement)."
    )


# ---- table -------------------------------------------------------------------------------------------------


def _frame(items: list[ItemRecord]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "select": [False] * len(items),
            "id": [i.item_id for i in items],
            "label": [i.label for i in items],
            "prompt": [i.prompt for i in items],
            "response": [i.response for i in items],
            "category": [i.category for i in items],
            "kind": [i.kind for i in items],
            "split": [i.split for i in items],
            "pair_id": [i.pair_id for i in items],
            "version": [i.version for i in items],
            "updated_by": [i.updated_by for i in items],
        }
    )


def _table_snapshot(
    db: Database, dataset: str, sig: tuple, query: dict[str, Any]
) -> tuple[list[ItemRecord], int]:
    """The rows as this session loaded them. Edits are checked against *these* versions, so a change someone
    else saved in between is reported as a conflict instead of being overwritten. A new snapshot (and a fresh
    editor) is taken when the filters change, after a save, or on Reload."""
    gen = state.label_table_gen()
    snap = state.get_label_table_snapshot()
    if snap is None or (snap["dataset"], snap["sig"], snap["gen"]) != (dataset, sig, gen):
        if snap is not None and snap["gen"] == gen:  # filters changed: drop the old editor's edits
            gen += 1
            state.set_label_table_gen(gen)
        snap = {
            "dataset": dataset,
            "sig": sig,
            "gen": gen,
            "items": repo.list_items(db, dataset, **query),
            "at": pd.Timestamp.now(tz="UTC").strftime("%H:%M:%S"),
        }
        state.set_label_table_snapshot(snap)
    st.caption(f"Loaded at {snap['at']} UTC. Saving checks that nobody changed these rows since.")
    return snap["items"], gen


def _relabelled(items: list[ItemRecord], label: str) -> list[LabelChange]:
    """Changes setting every item of ``items`` to ``label`` (``"none"`` clears the label)."""
    return [LabelChange(i.pk, None if label == "none" else label, i.version) for i in items]


def _save_table_changes(
    db: Database, dataset: str, changes: list[LabelChange], who: str | None, comment: str, gen: int
) -> None:
    """Save from the table; after a save a fresh editor (and snapshot) is taken. Reruns the page."""
    if save_changes(db, dataset, changes, who or "", comment):
        state.set_label_table_gen(gen + 1)
    st.rerun()


def _confirm_bulk_all(
    db: Database, dataset: str, items: list[ItemRecord], who: str | None, comment: str, gen: int
) -> None:
    """The confirmation step of "Set all N shown": says what will change and that History can undo it."""
    pending = state.get_label_bulk_pending()
    if not pending or (pending["dataset"], pending["gen"], pending["n"]) != (dataset, gen, len(items)):
        return
    label = pending["label"]
    changing = sum((i.label or "none") != label for i in items)
    with st.container(border=True):
        st.warning(
            f"Set all {len(items)} shown item(s) to **'{label}'**? {changing} of them change label. This is "
            "one step you can undo from the **History** tab."
        )
        a, b = st.columns(2)
        if a.button(f"Yes, set all {len(items)} to '{label}'", key="table_bulk_confirm", type="primary"):
            state.set_label_bulk_pending(None)
            try:
                _batch, saved = bulk.relabel_all(
                    db,
                    items,
                    None if label == "none" else label,
                    annotator=who or "",
                    comment=comment or None,
                )
            except ConflictError as err:
                remember_conflict(dataset, err, comment)
            else:
                sync_store(saved)
                state.set_label_flash(f"Saved {len(saved)} label change(s). Undo it from the History tab.")
                state.set_label_table_gen(gen + 1)
            st.rerun()
        if b.button("Cancel", key="table_bulk_cancel"):
            state.set_label_bulk_pending(None)
            st.rerun()


def table_panel(db: Database, dataset: str, who: str | None) -> None:
    """Filterable table: edit labels in place, or select rows and relabel them in bulk (one transaction)."""
    cats = sorted({c.category for c in review.counts_by_category(db, dataset)})
    f = st.columns([2, 2, 3, 1])
    labels = f[0].multiselect("Label", [*LABELS, repo.UNLABELLED], key="table_labels")
    categories = f[1].multiselect("Category", cats, key="table_categories")
    search = f[2].text_input("Search prompt / response / id", key="table_search")
    limit = f[3].number_input("Rows", 10, 5000, 500, step=50, key="table_limit")
    wanted = [("" if c == "(none)" else c) for c in categories] or None  # "(none)" = empty category
    items, gen = _table_snapshot(
        db,
        dataset,
        (tuple(labels), tuple(categories), search, int(limit)),
        dict(labels=labels or None, categories=wanted, search=search or None, limit=int(limit)),
    )
    if not items:
        st.info("No items match these filters.")
        return
    edited = st.data_editor(
        _frame(items),
        key=f"label_table_{dataset}_{gen}",
        hide_index=True,
        width="stretch",
        disabled=[
            "id",
            "prompt",
            "response",
            "category",
            "kind",
            "split",
            "pair_id",
            "version",
            "updated_by",
        ],
        column_config={
            "select": st.column_config.CheckboxColumn(
                "✓", help="Select rows for bulk relabel", width="small"
            ),
            "label": st.column_config.SelectboxColumn("label", options=list(LABELS), help="Edit, then Save"),
            "prompt": st.column_config.TextColumn("prompt", width="large"),
            "version": st.column_config.NumberColumn("v", help="Edit version (conflict detection)"),
        },
    )
    new_labels = [None if pd.isna(v) else str(v) for v in edited["label"]]
    changes = [
        LabelChange(i.pk, new, i.version) for i, new in zip(items, new_labels, strict=True) if new != i.label
    ]
    selected = [i for i, sel in zip(items, edited["select"], strict=True) if bool(sel)]
    comment = st.text_input("Comment for these changes (optional)", key="table_comment")
    c = st.columns([2, 2, 2, 2])
    if c[0].button(
        f"Save {len(changes)} label change(s)",
        key="table_save",
        type="primary",
        disabled=not (who and changes),
    ):
        _save_table_changes(db, dataset, changes, who, comment, gen)
    new_label = c[1].selectbox(
        "Bulk label", [*LABELS, "none"], key="table_bulk_label", label_visibility="collapsed"
    )
    target = selected or []
    if c[2].button(
        f"Set {len(target)} selected to '{new_label}'", key="table_bulk", disabled=not (who and target)
    ):
        _save_table_changes(db, dataset, _relabelled(target, new_label), who, comment, gen)
    if c[3].button(f"Set all {len(items)} shown to '{new_label}'…", key="table_bulk_all", disabled=not who):
        state.set_label_bulk_pending({"dataset": dataset, "label": new_label, "n": len(items), "gen": gen})
    _confirm_bulk_all(db, dataset, items, who, comment, gen)
    if st.button("Reload (discard unsaved edits)", key="table_reload"):
        state.set_label_table_gen(gen + 1)
        st.rerun()


# ---- pairs, counts, agreement -----------------------------------------------------------------------------


def pair_panel(db: Database, dataset: str) -> None:
    """Items sharing a pair_id side by side (e.g. a harmful request and its benign counterpart)."""
    found = review.pairs(db, dataset)
    if not found:
        st.info(
            "No pairs in this dataset. Items with the same `pair_id` (e.g. a harmful request and its benign "
            "counterpart, or a safe and an unsafe answer to one prompt) appear here side by side."
        )
        return
    by_id = {p.pair_id: p for p in found}
    pid = st.selectbox(
        f"Pair ({len(found)})",
        list(by_id),
        key="pair_pick",
        format_func=lambda k: f"{k} — " + " / ".join(i.label or "none" for i in by_id[k].items),
    )
    members = by_id[pid].items[:4]
    for col, item in zip(st.columns(len(members)), members, strict=True):
        with col.container(border=True):
            colour = LABEL_COLOURS[item.label or "unlabelled"]
            st.markdown(
                f"`{item.item_id}` · <span style='color:{colour}'>**{item.label or 'unlabelled'}**</span>"
                f" · {item.category or '—'} · {item.kind or ''}",
                unsafe_allow_html=True,
            )
            st.text(item.prompt)
            if item.response is not None:
                st.caption("Response")
                st.text(item.response)


def counts_figure(rows: list[review.CategoryCount]) -> go.Figure:
    """Stacked bars: items per category, split by label."""
    cats = sorted({r.category for r in rows})
    fig = go.Figure()
    for label in (*LABELS, repo.UNLABELLED):
        n = {r.category: r.n for r in rows if r.label == label}
        if n:
            fig.add_bar(name=label, x=cats, y=[n.get(c, 0) for c in cats], marker_color=LABEL_COLOURS[label])
    fig.update_layout(
        barmode="stack",
        height=360,
        margin={"t": 30, "b": 80},
        legend_title_text="label",
        xaxis_title="category",
        yaxis_title="items",
    )
    return fig


def stats_panel(db: Database, dataset: str, who: str | None) -> None:
    by_label = review.counts_by_label(db, dataset)
    for col, (k, v) in zip(st.columns(len(by_label)), by_label.items(), strict=True):
        col.metric(k, v)
    st.plotly_chart(counts_figure(review.counts_by_category(db, dataset)), key="label_counts_chart")
    people = review.annotators(db, dataset)
    st.subheader("Agreement between annotators")
    if len(people) < 2:
        st.info(
            "Agreement needs two annotators who judged the same items. Ask a colleague to work through the "
            "queue in **Items I have not judged** mode."
        )
        return
    names = list(people)
    a, b = st.columns(2)
    first = a.selectbox("Annotator A", names, index=0, key="kappa_a")
    second = b.selectbox("Annotator B", [n for n in names if n != first], index=0, key="kappa_b")
    result = review.agreement(db, dataset, first, second)
    m = st.columns(3)
    m[0].metric("Cohen's κ", "—" if result.kappa is None else f"{result.kappa:.3f}")
    m[1].metric("Items both labelled", result.n_common)
    m[2].metric("Raw agreement", "—" if result.observed is None else f"{result.observed:.0%}")
    st.caption(result.note + " κ corrects raw agreement for chance: 1 = perfect, 0 = chance level.")
    dis = review.disagreements(db, dataset, [first, second])
    if not dis:
        st.success("No disagreements between these two.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "id": d.item.item_id,
                    first: d.votes.get(first),
                    second: d.votes.get(second),
                    "current label": d.item.label,
                    "prompt": d.item.prompt[:120],
                }
                for d in dis
            ]
        ),
        hide_index=True,
        width="stretch",
        key="disagreements_table",
    )
    _resolve_form(db, dataset, who, dis)


def _resolve_form(db: Database, dataset: str, who: str | None, dis: list[Any]) -> None:
    """Settle one disagreement. The version checked is the one shown on the previous run (what the user saw
    when they chose), so a resolution saved by someone else meanwhile surfaces as a conflict."""
    shown = state.get_resolve_shown_versions()
    by_id = {d.item.item_id: d for d in dis}
    c = st.columns([2, 1, 1])
    pick = c[0].selectbox("Resolve item", list(by_id), key="resolve_item")
    label = c[1].selectbox("Final label", list(LABELS), key="resolve_label")
    state.set_resolve_shown_versions({d.item.pk: d.item.version for d in dis})
    if c[2].button("Resolve", key="resolve_btn", disabled=not who):
        d = by_id[pick]
        votes = ", ".join(f"{k}: {v}" for k, v in d.votes.items())
        save_changes(
            db,
            dataset,
            [LabelChange(d.item.pk, label, shown.get(d.item.pk, d.item.version))],
            who or "",
            f"resolved disagreement ({votes})",
            vote=False,
        )
        st.rerun()


def _undo_panel(db: Database, dataset: str, who: str | None) -> None:
    """The dataset's bulk relabels, each undoable (gives every item its previous label back)."""
    batches = [b for b in bulk.bulk_batches(db, dataset) if not b.undone]
    if not batches:
        return
    by_id = {b.batch: b for b in batches}
    c = st.columns([4, 1])
    pick = c[0].selectbox(
        "Bulk relabels", list(by_id), key="history_bulk_pick", format_func=lambda k: by_id[k].describe()
    )
    if c[1].button("Undo", key="history_bulk_undo", disabled=not who):
        try:
            report = bulk.undo_bulk(db, dataset, pick, annotator=who or "")
        except Exception as exc:  # noqa: BLE001 - InputError shown as a message
            state.show_error(exc)
            return
        sync_store(repo.list_items(db, dataset))
        state.set_label_flash(report.summary())
        state.bump_label_table_gen()
        st.rerun()


def history_panel(db: Database, dataset: str, who: str | None = None) -> None:
    _undo_panel(db, dataset, who)
    entries = repo.label_history(db, dataset=dataset, limit=500)
    if not entries:
        st.info("No label changes yet.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when (UTC)": f"{h.at:%Y-%m-%d %H:%M:%S}",
                    "who": h.annotator,
                    "item": h.item_id,
                    "kind": h.kind,
                    "from": h.old_label or "none",
                    "to": h.new_label or "none",
                    "comment": h.comment or "",
                }
                for h in entries
            ]
        ),
        hide_index=True,
        width="stretch",
        key="history_table",
    )
