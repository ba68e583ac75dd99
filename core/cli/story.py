"""`reasonscope story build | export`: the Story page's bundle, and its offline HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.cli.common import friendly_errors
from core.story.bundle import story_dir
from core.story.export import export_story
from core.story.jobs import StoryBuildConfig, assemble

story_app = typer.Typer(
    help="The stakeholder story: build its bundle, export it as one offline HTML file.", no_args_is_help=True
)


@story_app.command("build")
@friendly_errors
def build(
    run: Annotated[
        str | None, typer.Option(help="Finished alignment job id to reuse (default: the newest).")
    ] = None,
    probe: Annotated[str | None, typer.Option(help="Saved probe set (name or folder) to reuse.")] = None,
    model: Annotated[str, typer.Option(help="Model (default: the embedded default).")] = "default",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | mps")] = "cpu",
    method: Annotated[str, typer.Option(help="Alignment method if a run has to be made.")] = "alphaalign",
    preset: Annotated[str, typer.Option(help="Its preset.")] = "demo-cpu",
    max_new_tokens: Annotated[int, typer.Option(help="Tokens of the monitored generation.")] = 32,
) -> None:
    """Write the bundle under REASONSCOPE_HOME/story/, reusing the run and probe when given or found."""
    cfg = StoryBuildConfig(
        model=model,
        device=device,
        run=run,
        probe=probe,
        method=method,
        preset=preset,
        max_new_tokens=max_new_tokens,
    )
    m = assemble(cfg, say=lambda msg: typer.echo(f"· {msg}", err=True))
    typer.echo(
        f"story bundle: {story_dir()} (run {m.job_id}, probe {m.probe['name']}, layer {m.probe['layer']})"
    )


@story_app.command("export")
@friendly_errors
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "reasonscope-story.html"
    ),
) -> None:
    """One self-contained offline HTML file of the six steps (no network requests, plots embedded)."""
    path = export_story(out)
    typer.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB)")
