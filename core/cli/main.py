"""The `reasonscope` command. Each area registers its sub-app here (one line each).

Every failure of every command becomes one line on stderr and a non-zero exit (``core.cli.boundary``);
``reasonscope --debug COMMAND …`` or ``REASONSCOPE_DEBUG=1`` shows the traceback too.
"""

from __future__ import annotations

from typing import Annotated

import typer

from core.cli.align import align_app
from core.cli.boundary import DEBUG_KEY, BoundaryGroup
from core.cli.data import data_app
from core.cli.evals import eval_cmd, report_cmd
from core.cli.foundation import model_app, store_app, trace_cmd
from core.cli.jobs import jobs_app
from core.cli.probes import probe_app, steer_cmd
from core.cli.story import story_app
from core.config import configure_numba_cache

app = typer.Typer(
    cls=BoundaryGroup,
    help="ReasonScope: see and change how a model reasons about safety.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="On failure, print the full traceback (also REASONSCOPE_DEBUG=1).")
    ] = False,
) -> None:
    if debug:
        ctx.meta[DEBUG_KEY] = True


app.add_typer(model_app, name="model")
app.add_typer(store_app, name="store")
app.command("trace")(trace_cmd)
# --- areas register below ---------------------------------------------------------------------
app.add_typer(data_app, name="data")
app.add_typer(jobs_app, name="jobs")
app.add_typer(align_app, name="align")
app.add_typer(probe_app, name="probe")
app.command("steer")(steer_cmd)
app.command("eval")(eval_cmd)
app.command("report")(report_cmd)
app.add_typer(story_app, name="story")


def main() -> None:
    """The ``reasonscope`` script (``[project.scripts]``); the boundary is the app's own group class."""
    configure_numba_cache()  # before any command imports umap (kernels compile once per install)
    app(prog_name="reasonscope")


if __name__ == "__main__":
    main()
