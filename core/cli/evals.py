"""``reasonscope eval`` (run an audit, write records + report) and ``reasonscope report`` (rebuild / show
one)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from core.cli.checks import check_output_folder, in_range
from core.cli.common import RemoteOpt
from core.errors import InputError
from core.evals.report import describe, load_audit, save_audit, write_report
from core.evals.runner import run_audit
from core.evals.suites import AuditOptions, Subject, parse_subject

SUITE_HELP = "Comma-separated: refusal, over_refusal, jailbreak, reasoning_leak, format, utility."
SUBJECT_HELP = (
    "Repeatable. A model ('default', HF id, folder) or key=value pairs: model=… adapter=DIR "
    "template=plain|alphaalign|think steer=VECTOR method=add|ablate|cap alpha=4 layers=12 name=LABEL. "
    "The first subject is the baseline of the comparisons."
)


def eval_cmd(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for records.jsonl, summary.jsonl, meta.json, report.html."),
    ],
    subject: Annotated[list[str] | None, typer.Option("--subject", "-s", help=SUBJECT_HELP)] = None,
    suite: Annotated[str, typer.Option(help=SUITE_HELP)] = "refusal,over_refusal,jailbreak,utility",
    split: Annotated[str, typer.Option(help="train | validation | all.")] = "validation",
    dataset: Annotated[
        str,
        typer.Option(
            help="'sample' (the training corpus), 'minimal-pairs' (the stress set), a JSONL file, "
            "or db:<dataset>."
        ),
    ] = "sample",
    limit: Annotated[
        int | None,
        typer.Option(
            callback=in_range(1),
            help="At most N items per item kind, sampled with --seed stratified across categories "
            "(quick runs).",
        ),
    ] = None,
    template: Annotated[str, typer.Option(help="Template of subjects given without template=.")] = "plain",
    max_new_tokens: Annotated[
        int, typer.Option(callback=in_range(1, 4096), help="Tokens generated per response (greedy).")
    ] = 64,
    batch_size: Annotated[
        int, typer.Option(callback=in_range(1, 512), help="Prompts generated together.")
    ] = 8,
    seed: Annotated[
        int, typer.Option(help="Seed of generation, attack assignment and the --limit sample.")
    ] = 0,
    judge: Annotated[
        list[str] | None,
        typer.Option(
            "--judge",
            help="Repeatable: keyword | probe:<probe set> | hf:<classifier folder>. The first decides "
            "unless --ensemble says otherwise. Default: keyword.",
        ),
    ] = None,
    ensemble: Annotated[str, typer.Option(help="primary | majority | any | all.")] = "primary",
    hf_positive_label: Annotated[
        str | None, typer.Option(help="Classifier label read as positive (name or index).")
    ] = None,
    hf_positive_means: Annotated[
        str, typer.Option(help="What that label means: refusal|compliance|unsafe|safe.")
    ] = "refusal",
    leak_probe: Annotated[
        str | None, typer.Option(help="Probe set scoring reasoning tokens (reasoning_leak suite).")
    ] = None,
    leak_probe_layer: Annotated[
        int | None,
        typer.Option(callback=in_range(0), help="Layer of the leak probe (default: its best layer)."),
    ] = None,
    attacks: Annotated[
        list[Path] | None, typer.Option("--attacks", help="Extra attack-template JSONL files (repeatable).")
    ] = None,
    attack_mode: Annotated[
        str, typer.Option(help="rotate (one template per request) | all (every template).")
    ] = "rotate",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | mps.")] = "auto",
    remote: RemoteOpt = None,
    html: Annotated[bool, typer.Option(help="Also write report.html.")] = True,
    max_empty_share: Annotated[
        float,
        typer.Option(
            help="Fail (exit 2) when more than this share of a subject's responses are empty (no text): its "
            "refusal rates would be meaningless."
        ),
    ] = 0.5,
    threads: Annotated[
        int | None,
        typer.Option(
            callback=in_range(1, 1024),
            help="torch CPU threads (default: torch's choice). On a busy "
            "shared machine 1 can be much faster than 2.",
        ),
    ] = None,
) -> None:
    """Audit one or more subjects and write JSONL records, summaries with CIs, metadata and an HTML report."""
    check_output_folder(out, "--out")  # before anything is generated
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    subjects = [_subject(s, template, device, remote) for s in subject or ["default"]]
    opts = AuditOptions(  # a bad value: one message naming the option and its range, before any model loads
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        seed=seed,
        limit=limit,
        attack_mode=attack_mode,
        attack_files=[str(a) for a in attacks or []],
        judges=judge or ["keyword"],
        ensemble_rule=ensemble,
        hf_positive_label=hf_positive_label,
        hf_positive_means=hf_positive_means,
        leak_probe=leak_probe,
        leak_probe_layer=leak_probe_layer,
        max_empty_share=max_empty_share,
    )
    bar = _Bar()
    try:
        result = run_audit(subjects, suite, dataset=dataset, split=split, options=opts, progress=bar)
    finally:
        bar.close()
    folder = save_audit(result, out, html=html)
    typer.echo(describe(result))
    typer.secho(
        f"\n{len(result.records)} attempts in {result.meta['seconds']:.0f} s -> {folder}"
        + (f" (open {folder / 'report.html'})" if html else ""),
        fg=typer.colors.GREEN,
        err=True,
    )


def report_cmd(
    folder: Annotated[Path, typer.Argument(help="An audit folder written by `reasonscope eval`.")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write the HTML (default: FOLDER/report.html).")
    ] = None,
) -> None:
    """Rebuild the offline HTML report of an audit (human verdicts applied) and print its scorecard."""
    path = write_report(folder, out)
    typer.echo(describe(load_audit(folder)))
    typer.secho(f"\nreport: {path}", fg=typer.colors.GREEN, err=True)


def _subject(text: str, template: str, device: str, where: str | None = None) -> Subject:
    """One ``--subject``; a malformed one (unclosed quote, alpha=abc, layers=x) is an InputError naming it."""
    try:
        return parse_subject(text, default_template=template, device=device, where=where or "local")
    except InputError:
        raise
    except ValueError as exc:  # shlex's "No closing quotation", float("abc"), int("x")
        raise InputError(f"--subject {text!r} is malformed: {exc}. {SUBJECT_HELP}") from exc


class _Bar:
    """tqdm on stderr, created on the first progress call (nothing is printed for instant runs)."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, desc="generating", unit="prompt", leave=False)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
