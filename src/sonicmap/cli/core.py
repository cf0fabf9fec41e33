"""``sonicmap config`` and ``sonicmap db``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from sonicmap.cli._common import dumps, emit_json, get_config, handle_errors
from sonicmap.config import masked_dict

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

db_app = typer.Typer(
    help="Database schema: upgrade, downgrade, show the revision.", no_args_is_help=True
)


@handle_errors
def config_cmd(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Print the effective settings and GMM configuration (secrets masked)."""
    data = masked_dict(get_config())
    if json_out:
        emit_json(data)
        return
    for section, values in data.items():
        typer.echo(f"[{section}]")
        _print_tree(values, indent=2)


def _print_tree(values: dict[str, Any], indent: int) -> None:
    for key, value in values.items():
        if isinstance(value, dict):
            typer.echo(" " * indent + f"{key}:")
            _print_tree(value, indent + 2)
        else:
            typer.echo(" " * indent + f"{key}: {dumps(value)}")


def _engine() -> Engine:
    from sonicmap.store.db import make_engine

    return make_engine(get_config().settings.effective_database_url)


@db_app.command("upgrade")
@handle_errors
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from sonicmap.store import migrate

    engine = _engine()
    migrate.upgrade(engine, revision)
    typer.echo(f"database at revision {migrate.current_revision(engine)}", err=True)


@db_app.command("downgrade")
@handle_errors
def db_downgrade(
    revision: str = typer.Argument(..., help="Target revision ('base' = empty)."),
) -> None:
    """Revert migrations down to REVISION."""
    from sonicmap.store import migrate

    engine = _engine()
    migrate.downgrade(engine, revision)
    typer.echo(f"database at revision {migrate.current_revision(engine)}", err=True)


@db_app.command("current")
@handle_errors
def db_current(json_out: bool = typer.Option(False, "--json")) -> None:
    """Show the database's revision and the one this code expects."""
    from sonicmap.store import migrate

    engine = _engine()
    data: dict[str, Any] = {
        "current": migrate.current_revision(engine),
        "head": migrate.head_revision(),
    }
    data["up_to_date"] = data["current"] == data["head"]
    if json_out:
        emit_json(data)
    else:
        typer.echo(f"current: {data['current']}  head: {data['head']}")


def register(app: typer.Typer) -> None:
    app.command("config")(config_cmd)
    app.add_typer(db_app, name="db")
