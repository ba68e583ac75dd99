"""`reasonscope data …`: import, export, list, stats, label, history of labelled datasets."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from core.cli.checks import check_finite, in_range
from core.cli.common import friendly_errors
from core.data import open_db
from core.data.hub import load_hub_table
from core.data.importer import export_dataset, import_table
from core.data.io import read_file
from core.data.mapping import build_mapping
from core.data.repo import get_dataset, get_item, label_history, list_datasets, set_label
from core.data.review import agreement, annotators, counts_by_category, counts_by_label, disagreements

data_app = typer.Typer(
    help="Labelled datasets (safe / unsafe / rethink): import, export, stats, labels.", no_args_is_help=True
)

DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Dataset name.")]


def _default_annotator() -> str:
    try:
        return os.environ.get("REASONSCOPE_USER") or getpass.getuser()
    except OSError:
        return "cli"


AnnotatorOpt = Annotated[
    str | None,
    typer.Option(
        "--annotator",
        "-a",
        help="Who is acting (recorded in the history); default $REASONSCOPE_USER or your login.",
    ),
]


def _print_report(report, *, shown: int = 20) -> None:  # noqa: ANN001 - ImportReport
    typer.echo(report.summary())
    if report.mapping:
        typer.echo("  mapping: " + ", ".join(f"{c} → {f}" for c, f in report.mapping.items()))
    if report.ignored_columns:
        typer.echo("  ignored columns: " + ", ".join(report.ignored_columns))
    for s in report.skipped[:shown]:
        typer.echo(f"  skipped row {s.row} (id={s.item_id}): {s.reason}")
    for r in report.rejected[:shown]:
        typer.secho(
            f"  rejected row {r.row}{f' (id={r.item_id})' if r.item_id else ''}: {r.reason}",
            fg=typer.colors.YELLOW,
        )
    more = max(0, len(report.skipped) - shown) + max(0, len(report.rejected) - shown)
    if more:
        typer.echo(f"  … {more} more lines not shown")


@data_app.command("import")
@friendly_errors
def import_cmd(
    file: Annotated[str, typer.Argument(help="JSONL / CSV / TSV / Parquet file (or a hub id with --hub).")],
    dataset: DatasetOpt,
    map_: Annotated[
        list[str] | None, typer.Option("--map", help="COLUMN=FIELD, e.g. Behavior=prompt (repeat).")
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="harmbench | xstest | advbench | jailbreakbench | strongreject")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="FIELD=VALUE for every row, e.g. label=safe.")
    ] = None,
    label_map: Annotated[
        list[str] | None, typer.Option(help="Translate label values: harmful=unsafe (repeat).")
    ] = None,
    annotator: AnnotatorOpt = None,
    skip_bad_rows: Annotated[
        bool, typer.Option(help="Import the valid rows and report the invalid ones.")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate and report only; write nothing.")] = False,
    max_mb: Annotated[
        float | None,
        typer.Option(help="Size limit in MB (default 50 or REASONSCOPE_MAX_IMPORT_MB)."),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl | csv | tsv | parquet (default: extension).")
    ] = None,
    hub: Annotated[
        bool, typer.Option(help="FILE is a Hugging Face dataset id (needs `datasets` and network).")
    ] = False,
    split: Annotated[str, typer.Option(help="Hub split (with --hub).")] = "train",
    config: Annotated[str | None, typer.Option(help="Hub config name (with --hub).")] = None,
) -> None:
    """Import items: validate every row first, then write them in one transaction (all or nothing)."""
    if max_mb is not None:
        check_finite("--max-mb", max_mb, low=0.001)
    mapping = build_mapping(preset, map_ or [], set_ or [], label_map or [])
    if hub:
        table = load_hub_table(file, split=split, config=config)
    else:
        table = read_file(file, fmt=fmt, max_bytes=int(max_mb * 1024 * 1024) if max_mb else None)
    db = open_db()
    bar = tqdm(total=0, desc="import", unit="item", disable=dry_run)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        report = import_table(
            db,
            table,
            dataset,
            annotator=annotator or _default_annotator(),
            mapping=mapping,
            on_error="skip" if skip_bad_rows else "abort",
            dry_run=dry_run,
            progress=progress,
        )
    finally:
        bar.close()
        db.close()
    _print_report(report)


@data_app.command("export")
@friendly_errors
def export_cmd(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    file: Annotated[Path, typer.Argument(help="Output file: .jsonl, .csv, .tsv or .parquet.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="Override the format given by the extension.")
    ] = None,
) -> None:
    """Write a dataset to a file that `data import` reads back unchanged (CSV cells are formula-escaped)."""
    with open_db() as db:
        info = get_dataset(db, dataset)
        path = export_dataset(db, dataset, file, fmt=fmt)
    typer.echo(f"Wrote {info.n_items} item(s) of {dataset!r} to {path}")


@data_app.command("ls")
@friendly_errors
def ls_cmd() -> None:
    """List datasets with item and label counts."""
    with open_db() as db:
        infos = list_datasets(db)
        url = db.url
    if not infos:
        typer.echo(f"No datasets yet in {url}. Import one: reasonscope data import FILE --dataset NAME")
        return
    typer.echo(f"{'dataset':<30} {'items':>7} {'labelled':>9}  created")
    for d in infos:
        typer.echo(
            f"{d.name:<30} {d.n_items:>7} {d.n_labelled:>9}  {d.created_at:%Y-%m-%d} by {d.created_by or '?'}"
        )


@data_app.command("stats")
@friendly_errors
def stats_cmd(dataset: Annotated[str, typer.Argument(help="Dataset name.")]) -> None:
    """Counts by label and category, annotators, and Cohen's κ between the two most active annotators."""
    with open_db() as db:
        by_label = counts_by_label(db, dataset)
        by_cat = counts_by_category(db, dataset)
        people = annotators(db, dataset)
        agree = agreement(db, dataset, *list(people)[:2]) if len(people) >= 2 else None
        n_dis = len(disagreements(db, dataset))
    typer.echo(
        f"{dataset}: {sum(by_label.values())} items — " + ", ".join(f"{k} {v}" for k, v in by_label.items())
    )
    cats: dict[str, dict[str, int]] = {}
    for c in by_cat:
        cats.setdefault(c.category, {})[c.label] = c.n
    for cat, counts in cats.items():
        typer.echo(f"  {cat:<32} " + "  ".join(f"{k}={v}" for k, v in counts.items()))
    if people:
        typer.echo("annotators: " + ", ".join(f"{k} ({v} votes)" for k, v in people.items()))
    if agree is not None:
        typer.echo(f"agreement {agree.annotator_a} vs {agree.annotator_b}: {agree.note}")
    if n_dis:
        typer.echo(f"{n_dis} item(s) with disagreeing votes: resolve them on the Label page.")


@data_app.command("label")
@friendly_errors
def label_cmd(
    item_id: Annotated[str, typer.Argument(help="Item id within the dataset.")],
    label: Annotated[str, typer.Argument(help="safe | unsafe | rethink | none (clears it)")],
    dataset: DatasetOpt,
    annotator: AnnotatorOpt = None,
    comment: Annotated[str | None, typer.Option(help="Why (kept in the history).")] = None,
    expected_version: Annotated[
        int | None,
        typer.Option(
            callback=in_range(1),
            help="Refuse if the item is no longer at this version (as shown by `data history`).",
        ),
    ] = None,
) -> None:
    """Set one item's label; the change and its author go into the history."""
    new = None if label.lower() in ("none", "null", "") else label.lower()
    with open_db() as db:
        item = get_item(db, dataset, item_id)
        rec = set_label(
            db,
            item.pk,
            new,
            expected_version=expected_version or item.version,
            annotator=annotator or _default_annotator(),
            comment=comment,
        )
    typer.echo(f"{dataset}/{item_id}: {item.label or 'none'} → {rec.label or 'none'} (version {rec.version})")


@data_app.command("history")
@friendly_errors
def history_cmd(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    item_id: Annotated[str | None, typer.Option("--item", help="Only this item.")] = None,
    limit: Annotated[int, typer.Option(callback=in_range(1), help="Show at most this many changes.")] = 50,
) -> None:
    """The label history (newest first): who changed what, when, and why."""
    with open_db() as db:
        pk = get_item(db, dataset, item_id).pk if item_id else None
        entries = label_history(db, dataset=dataset, item_pk=pk, limit=limit)
    if not entries:
        typer.echo("No label changes yet.")
    for h in entries:
        typer.echo(
            f"{h.at:%Y-%m-%d %H:%M:%S} {h.annotator:<16} {h.kind:<6} {h.item_id}: {h.old_label or 'none'} → "
            f"{h.new_label or 'none'}" + (f"  # {h.comment}" if h.comment else "")
        )
