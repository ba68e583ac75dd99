"""The `reasonscope` command. Each area registers its sub-app here (one line each)."""

from __future__ import annotations

import typer

from core.cli.align import align_app
from core.cli.common import friendly_errors
from core.cli.data import data_app
from core.cli.evals import eval_cmd, report_cmd
from core.cli.foundation import model_app, store_app, trace_cmd
from core.cli.jobs import jobs_app
from core.cli.probes import probe_app, steer_cmd

app = typer.Typer(
    help="ReasonScope: see and change how a model reasons about safety.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(model_app, name="model")
app.add_typer(store_app, name="store")
app.command("trace")(friendly_errors(trace_cmd))
# --- areas register below ---------------------------------------------------------------------
app.add_typer(data_app, name="data")
app.add_typer(jobs_app, name="jobs")
app.add_typer(align_app, name="align")
app.add_typer(probe_app, name="probe")
app.command("steer")(steer_cmd)
app.command("eval")(friendly_errors(eval_cmd))
app.command("report")(friendly_errors(report_cmd))

if __name__ == "__main__":
    app()
