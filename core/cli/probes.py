"""`reasonscope probe train|eval|score|ls` and `reasonscope steer`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from tqdm import tqdm

from core import checks
from core.artefacts import locate
from core.capture.templates import build_messages
from core.capture.tracing import capture_prompt
from core.capture.trajectory import GenerationSettings
from core.cli.checks import check_choice, check_new_artefact, check_output_file, in_range, parse_layer_list
from core.cli.common import RemoteOpt, friendly_errors, load
from core.errors import InputError
from core.jsonl import read_prompt_file
from core.probes.artefacts import list_artefacts, load_probe_set, save_contrastive, save_probe_set
from core.probes.features import POSITIONS, binary_items, load_items
from core.probes.linear import DEFAULT_C, DEFAULT_MAX_FPR, operating_report
from core.probes.workflow import STAGES, ProbeRequest, features_for, pick_items, train_from_items
from core.steer.interventions import SteeringConfig, make_interventions, steered_generate, steering_meta
from core.steer.monitor import MonitorResult, check_threshold, monitor_generate
from core.steer.sweep import is_refusal
from core.steer.vectors import from_probe_set, load_vector, load_vector_file

probe_app = typer.Typer(
    help="Linear probes and the CRAFT contrastive head on hidden states.", no_args_is_help=True
)

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="'default', a Hugging Face id or a local folder.")
]
FileOpt = Annotated[
    Path | None, typer.Option("--file", help="JSONL of labelled items (default: sample_data).")
]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", help="Dataset name in the labelling database.")]


def _layers(spec: str | None) -> list[int] | None:
    return parse_layer_list(spec, "--layers")


class StageBars:
    """``(stage, done, total)`` -> one tqdm bar per stage, named and counted as ``STAGES`` says (items
    captured, layer fits). Counts go through ``update`` so tqdm measures the rate and the time left."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self.bars.get(stage)
        if bar is None or bar.total != total:
            label, unit = STAGES.get(stage, (stage, "it"))
            bar = self.bars[stage] = tqdm(total=total, desc=f"{self.desc}: {label}", unit=f" {unit}")
        if done > bar.n:
            bar.update(done - bar.n)
        if done >= total:
            bar.close()


def _bar(desc: str) -> StageBars:
    return StageBars(desc)


@probe_app.command("train")
@friendly_errors
def train(
    name: Annotated[str, typer.Option(help="Save the result under this artefact name.")],
    method: Annotated[str, typer.Option(help="logistic | diff_means | contrastive")] = "logistic",
    positions: Annotated[
        str, typer.Option(help="last_prompt | post_instruction | completion | reasoning | mean_all")
    ] = "post_instruction",
    layers: Annotated[str, typer.Option(help="'all' or comma-separated indices (linear probes).")] = "all",
    layer: Annotated[
        int | None,
        typer.Option(callback=in_range(0), help="Contrastive head: layer to pool (default: last)."),
    ] = None,
    items: Annotated[str | None, typer.Option(help="prompts | responses | all (default by method).")] = None,
    kinds: Annotated[str | None, typer.Option(help="Comma-separated item kinds to keep.")] = None,
    k: Annotated[int, typer.Option(callback=in_range(2, 100), help="Cross-validation folds.")] = 5,
    c: Annotated[float, typer.Option("--C", help="Inverse L2 strength (logistic).")] = DEFAULT_C,
    max_fpr: Annotated[
        float,
        typer.Option(
            help="Operating threshold: flag at most this share of benign train items (out-of-fold)."
        ),
    ] = DEFAULT_MAX_FPR,
    seed: int = 0,
    epochs: Annotated[
        int | None, typer.Option(callback=in_range(1, 100_000), help="Contrastive head: training epochs.")
    ] = None,
    max_new_tokens: Annotated[
        int,
        typer.Option(
            callback=in_range(0, 4096), help="Generate completions for prompt items first (0 = no)."
        ),
    ] = 0,
    file: FileOpt = None,
    dataset: DatasetOpt = None,
    overwrite: bool = False,
    model: ModelOpt = "default",
    remote: RemoteOpt = None,
    device: str = "auto",
) -> None:
    """Capture the dataset's states (cached), train per-layer probes with k-fold CV, save the artefact."""
    check_choice("--positions", positions, POSITIONS)
    check_new_artefact("contrastive" if method == "contrastive" else "probe_set", name, overwrite=overwrite)
    req = ProbeRequest(
        method=method,
        positions=positions,
        layers=_layers(layers),
        layer=layer,
        items=items,
        kinds=kinds.split(",") if kinds else None,
        k=k,
        C=c,
        max_fpr=max_fpr,
        seed=seed,
        max_new_tokens=max_new_tokens,
        contrastive={"epochs": epochs} if epochs else {},
    )
    ds_name, all_items = load_items(file=file, dataset=dataset)
    pick_items(all_items, req)  # no usable items: say so before the model loads
    m = load(model, device, remote=remote)
    result, fs = train_from_items(m, all_items, ds_name, req, _bar("probe"))
    typer.echo(
        f"dataset {ds_name} ({fs.dataset_hash}): {len(fs.train_items)} train / {len(fs.val_items)} "
        f"validation items, positions {fs.positions}"
    )
    if method == "contrastive":
        for split, mt in result.metrics.items():
            typer.echo(
                f"{split:>10}: macro-F1 {mt['macro_f1']:.3f}  accuracy {mt['accuracy']:.3f}  "
                f"nearest-prototype macro-F1 {mt['prototype_macro_f1']:.3f}  (n={mt['n']})"
            )
        path = save_contrastive(result, name, overwrite=overwrite)
    else:
        print_curve(result)
        path = save_probe_set(result, name, overwrite=overwrite)
    typer.echo(f"saved {path}")


def print_curve(ps) -> None:  # noqa: ANN001 - a ProbeSet
    typer.echo(
        f"{'layer':>5}  {'CV acc':>13}  {'CV AUROC':>13}  {'CV F1':>13}  {'val AUROC':>9}  {'val acc':>7}"
    )
    for layer in ps.layers:
        m = ps.metrics[layer]
        h = m.heldout or {}
        mark = "  <- best" if layer == ps.best_layer else ""
        typer.echo(
            f"{layer:>5}  "
            + "  ".join(f"{m.mean(x):.3f}±{m.std(x):.3f}" for x in ("accuracy", "auroc", "f1"))
            + f"  {h.get('auroc', float('nan')):>9.3f}  {h.get('accuracy', float('nan')):>7.3f}{mark}"
        )


EVAL_SPLITS = ("validation", "train", "all")
STEER_POSITIONS = ("all", "prompt", "generated")


@probe_app.command("eval")
@friendly_errors
def evaluate_cmd(
    name: Annotated[str, typer.Argument(help="Saved probe set name (or folder).")],
    split: Annotated[
        str | None,
        typer.Option(help="validation | train | all (default: validation if the data has one, else all)"),
    ] = None,
    file: FileOpt = None,
    dataset: DatasetOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of the table.")
    ] = False,
    model: ModelOpt = "default",
    remote: RemoteOpt = None,
    device: str = "auto",
) -> None:
    """Evaluate a saved linear probe set on labelled items: per layer AUROC, and at the saved operating
    threshold the share of harmful items flagged (TPR) and of benign items flagged (FPR)."""
    if split is not None and split not in EVAL_SPLITS:
        raise InputError(f"--split must be one of {', '.join(EVAL_SPLITS)}; got {split!r}.")
    locate(name, "probe_set")  # a probe set that does not exist fails before the model loads
    ds_name, items = load_items(file=file, dataset=dataset)
    items = binary_items(items)
    has_val = any(it.held_out for it in items)
    which = split or ("validation" if has_val else "all")
    if which != "all":
        items = [it for it in items if it.held_out == (which == "validation")]
    if not items:
        raise InputError(
            f"No harmful/benign prompt items in the {which} split of {ds_name}; pick --split all or another "
            "file."
        )
    m = load(model, device, remote=remote)
    ps = load_probe_set(name, fingerprint=m.fingerprint, model_name=m.name)
    req = ProbeRequest(
        **{k: v for k, v in ps.meta.get("request", {}).items() if k in ProbeRequest.model_fields}
    )
    # every item is scored here, whatever split it came from: fold them all into one evaluation set
    fs = features_for(
        m,
        items,
        ds_name,
        req.model_copy(update={"layers": list(ps.layers), "kinds": None}),
        None if as_json else _bar("eval"),
    )
    X = np.concatenate([fs.train, fs.val]) if len(fs.val_items) else fs.train
    rep = operating_report(ps, X, fs.y_train + fs.y_val, layers=fs.layers)
    if as_json:
        typer.echo(json.dumps(rep))
        return
    typer.echo(
        f"{name} on {ds_name} ({which}, {rep['n']['unsafe']} harmful / {rep['n']['safe']} benign), "
        f"saved threshold at the best layer {rep['best_layer']}: {rep['threshold']}"
    )

    def f(v: float | None) -> str:
        return "  n/a" if v is None else f"{v:.3f}"

    typer.echo(f"{'layer':>5}  {'AUROC':>6}  {'TPR':>6}  {'FPR':>6}  {'acc':>6}")
    for layer, mt in rep["layers"].items():
        mark = "  <- best" if int(layer) == rep["best_layer"] else ""
        typer.echo(
            f"{layer:>5}  {f(mt['auroc']):>6}  {f(mt['tpr']):>6}  "
            f"{f(mt['fpr']):>6}  {f(mt['accuracy']):>6}{mark}"
        )


@probe_app.command("score")
@friendly_errors
def score_cmd(
    name: Annotated[str, typer.Argument(help="Saved probe set name.")],
    prompt: Annotated[str, typer.Argument(help="Prompt to score.")],
    layer: Annotated[
        int | None, typer.Option(callback=in_range(0), help="Probe layer (default: the best layer).")
    ] = None,
    generate: Annotated[
        int,
        typer.Option(
            callback=in_range(0, 4096), help="Generate this many tokens, scoring each live (0 = prompt only)."
        ),
    ] = 0,
    threshold: float = 0.5,
    model: ModelOpt = "default",
    remote: RemoteOpt = None,
    device: str = "auto",
) -> None:
    """P(unsafe) of every token of a prompt (and, with --generate, of each generated token as it appears)."""
    threshold = check_threshold(threshold)  # numbers checked before the model loads
    settings = GenerationSettings(max_new_tokens=generate)
    msgs = build_messages(prompt)  # an empty prompt or an unknown probe set fail before the model loads
    locate(name, "probe_set")
    m = load(model, device, remote=remote)
    ps = load_probe_set(name, fingerprint=m.fingerprint, model_name=m.name)
    probe = ps.probe(layer)
    if generate <= 0:
        traj = capture_prompt(m, msgs, layers=[probe.layer])
        for tok, s in zip(traj.tokens, probe.score(traj.layer(probe.layer)), strict=True):
            typer.echo(f"{s:6.3f}  {tok!r}")
        return
    for ev in monitor_generate(m, msgs, probe, settings, threshold=threshold):
        if isinstance(ev, MonitorResult):
            where = (
                f"crossed {threshold} at token {ev.crossing}" if ev.crossing is not None else "never crossed"
            )
            typer.echo(f"\nmax P(unsafe) {ev.max_score:.3f}; {where}")
        elif ev.generated:
            typer.echo(f"{ev.score:6.3f}  {ev.text!r}{'  <- crossed' if ev.crossed else ''}")


@probe_app.command("ls")
@friendly_errors
def ls_cmd(
    kind: Annotated[str | None, typer.Option(help="probe_set | contrastive | steering_vector")] = None,
) -> None:
    """Saved probes, contrastive heads and steering vectors."""
    arts = list_artefacts(kind=kind)
    if not arts:
        typer.echo("No saved artefacts yet: train one with `reasonscope probe train --name NAME`.")
    for a in arts:
        when = dt.datetime.fromtimestamp(a.created_at).strftime("%Y-%m-%d %H:%M")
        typer.echo(
            f"{a.name:<28} {a.kind:<16} {when}  model {a.model_name or '?'} ({a.model_fingerprint[:8]})  "
            f"{a.summary}"
        )


@friendly_errors
def steer_cmd(
    prompt: Annotated[str | None, typer.Argument(help="One prompt (or use --prompts).")] = None,
    vector: Annotated[
        str, typer.Option(help="A .safetensors/.npy file, a saved vector name, or probe:NAME.")
    ] = "",
    alpha: Annotated[
        float, typer.Option(help="add: coefficient; ablate: fraction; cap: max projection.")
    ] = 1.0,
    layers: Annotated[str | None, typer.Option(help="Comma-separated layers (default: by method).")] = None,
    ablate: Annotated[
        bool, typer.Option(help="Directional ablation at every layer (Arditi et al.).")
    ] = False,
    cap: Annotated[bool, typer.Option(help="Cap the projection on the direction at alpha.")] = False,
    positions: Annotated[str, typer.Option(help="all | prompt | generated")] = "all",
    source_layer: Annotated[
        int | None,
        typer.Option(callback=in_range(0), help="Use this layer's direction at every target layer."),
    ] = None,
    prompts: Annotated[Path | None, typer.Option(help="JSONL with a 'prompt' field per line.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write completions here (JSONL).")] = None,
    max_new_tokens: Annotated[
        int, typer.Option(callback=in_range(1, 4096), help="Tokens generated per prompt.")
    ] = 64,
    seed: int = 0,
    baseline: Annotated[bool, typer.Option(help="Also generate the unsteered completion.")] = True,
    batch_size: Annotated[
        int, typer.Option(callback=in_range(1, 512), help="Prompts generated together.")
    ] = 8,
    model: ModelOpt = "default",
    remote: RemoteOpt = None,
    device: str = "auto",
) -> None:
    """Generate with a steering vector applied; prints or writes baseline and steered completions."""
    if (prompt is None) == (prompts is None):
        raise InputError("Give one PROMPT or --prompts FILE.jsonl (not both).")
    if not vector:
        raise InputError(
            "--vector is required: a .safetensors/.npy file, a saved vector name, or probe:NAME."
        )
    if ablate and cap:
        raise InputError("Choose --ablate or --cap, not both.")
    # every option and the prompts are checked before the model loads
    check_choice("--positions", positions, STEER_POSITIONS)
    cfg = SteeringConfig(
        method="ablate" if ablate else "cap" if cap else "add",
        alpha=alpha,
        layers=_layers(layers),
        positions=positions,
        source_layer=source_layer,
    )
    check_vector_spec(vector)
    if out is not None:
        check_output_file(out, "--out")
    settings = GenerationSettings(max_new_tokens=max_new_tokens, seed=seed)
    checks.whole("max_new_tokens", max_new_tokens, low=1, hint="Steering needs at least one generated token.")
    checks.whole("batch_size", batch_size, low=1, high=4096)
    rows = read_prompt_file(prompts) if prompts else [{"id": "1", "prompt": prompt}]
    chats = [build_messages(r["prompt"]) for r in rows]
    if Path(vector).suffix in (".npy", ".safetensors") and Path(vector).is_file():
        load_vector_file(vector)  # its values (finite, not absurdly large) checked before the model loads
    m = load(model, device, remote=remote)
    vec = resolve_vector(vector, m)
    make_interventions(vec, cfg, m)  # validate before generating anything
    meta = steering_meta(vec, cfg, m)
    typer.echo(f"steering: {meta['description']} · vector {vec.name}", err=True)
    steered = steered_generate(m, chats, vec, cfg, settings, batch_size=batch_size)
    base = (
        steered_generate(m, chats, None, None, settings, batch_size=batch_size)
        if baseline
        else [None] * len(rows)
    )
    records = [
        {
            "id": r.get("id", str(i)),
            "prompt": r["prompt"],
            "baseline": b,
            "completion": s,
            "refusal": is_refusal(s),
            "baseline_refusal": None if b is None else is_refusal(b),
            "steering": meta,
        }
        for i, (r, b, s) in enumerate(zip(rows, base, steered, strict=True))
    ]
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(rec) + "\n" for rec in records))
        n_ref = sum(r["refusal"] for r in records)
        typer.echo(
            f"wrote {len(records)} completions to {out} ({n_ref} keyword refusals steered"
            + (f", {sum(bool(r['baseline_refusal']) for r in records)} baseline)" if baseline else ")")
        )
    else:
        for rec in records:
            if baseline:
                typer.echo(f"--- baseline ---\n{rec['baseline']}")
            typer.echo(f"--- steered ---\n{rec['completion']}")


def check_vector_spec(spec: str) -> None:
    """The ``--vector`` names something that exists (checked before the model loads)."""
    if spec.startswith("probe:"):
        locate(spec[6:], "probe_set")
    elif Path(spec).suffix in (".npy", ".safetensors"):
        if "\x00" in spec or not Path(spec).is_file():
            raise InputError(f"--vector file {spec!r} not found.")
    else:
        locate(spec, "steering_vector")


def resolve_vector(spec: str, model):  # noqa: ANN001, ANN201 - LoadedModel -> SteeringVector
    """A file path, ``probe:NAME`` (a saved probe set's directions) or a saved steering-vector name."""
    if spec.startswith("probe:"):
        ps = load_probe_set(spec[6:], fingerprint=model.fingerprint, model_name=model.name)
        return from_probe_set(ps)
    p = Path(spec)
    if p.suffix in (".npy", ".safetensors") and p.exists():
        vec = load_vector_file(p, d_model=model.d_model)
        vec.check_model(model)
        return vec
    return load_vector(spec, fingerprint=model.fingerprint, model_name=model.name)
