"""The ``sonicmap`` command line (typer). Thin: parse, call the pipeline, report.

Every command validates the configuration at start-up; every command that lists or reports
takes ``--json`` and then prints exactly one JSON document on stdout (``analyze`` streams one
object per line). Logs and progress go to stderr. Errors: one line ``error: ...``, exit 1.
"""

from __future__ import annotations

import sys

import typer

from sonicmap.cli import _common
from sonicmap.config import load_config
from sonicmap.errors import SonicmapError

app = typer.Typer(
    name="sonicmap",
    help="Map a music library by sound: analyse, embed, cluster artists, find similar music.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _startup(ctx: typer.Context) -> None:
    """Load and validate settings and gmm_config.yaml before any command runs."""
    try:
        cfg = load_config()
    except SonicmapError as exc:
        raise _common.fail(str(exc)) from None
    _common.set_config(cfg)
    _common.configure_logging(cfg.settings.log_level)


def _register_commands() -> None:
    from sonicmap.cli import analyze, cluster, core, paths, scan, serve, servers, similar, worker

    for module in (core, analyze, scan, similar, paths, cluster, worker, serve, servers):
        module.register(app)


_register_commands()


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # e.g. `sonicmap tracks --json | head`
        sys.exit(0)
