"""``sonicmap cluster``, ``sonicmap clusters``, ``sonicmap models``: GMM clustering of artists."""

from __future__ import annotations

import sys
from typing import Any

import typer

from sonicmap.cli._common import emit_json, fail, get_config, get_store, handle_errors


def _print_table(headers: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers)
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r))
    Console().print(table)


def _model_item(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": m["id"],
        "status": m["status"],
        "k": m["k"],
        "created_at": m["created_at"],
        "trigger": m["trigger"],
        "bic": m["bic"],
        "n_artists": m["n_artists"],
        "training_seconds": m["training_seconds"],
        "error": m["error"],
    }


def _refresh_playlists() -> dict[str, Any] | None:
    """After an activation: refresh the cluster playlists of the servers that ask for it."""
    from sonicmap.worker.followups import refresh_playlists_after_activation

    return refresh_playlists_after_activation(get_store())


def register(app: typer.Typer) -> None:
    """Add ``cluster``, ``clusters`` and ``models`` to ``app``."""

    @app.command("cluster")
    @handle_errors
    def cluster(
        components: int | None = typer.Option(
            None, "--components", "-k", min=2, max=100, help="Fixed k (default: chosen by BIC)."
        ),
        force: bool = typer.Option(
            False, "--force", help="Retrain even when nothing changed since the active model."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    ) -> None:
        """Train a GMM on the artist vectors now (in this process) and activate it.

        Refused (exit 1) while a training is queued or running elsewhere, e.g. on a worker:
        that one activates its model when done.
        """
        from sonicmap.errors import ConflictError
        from sonicmap.pipeline.training import Coalesced, train_now

        def progress(stage: str, info: dict[str, Any]) -> None:
            if stage != "assignments":
                sys.stderr.write(f"{stage}...\n")

        out = train_now(
            get_store(),
            get_config(),
            n_components=components,
            reason="manual",
            force=force,
            progress=None if json_out else progress,
            origin="cli",
        )
        if isinstance(out, Coalesced):
            raise ConflictError(out.message())
        res = out.result
        refreshed = _refresh_playlists() if res.status != "skipped" else None
        if json_out:
            emit_json({**res.to_dict(), **({"playlists": refreshed} if refreshed else {})})
            return
        if res.status == "skipped":
            typer.echo(
                f"model {res.model_id} is up to date (nothing changed); use --force to retrain"
            )
            return
        typer.echo(
            f"model {res.model_id} active: k={res.k}, {res.n_artists} artists, "
            f"{res.training_seconds:.1f} s"
        )
        _print_table(
            ["cluster", "size", "label"],
            [[c.id, c.size, c.label] for c in res.clusters],
        )

    @app.command("clusters")
    @handle_errors
    def clusters(
        model: int | None = typer.Option(
            None, "--model", help="Model id (default: the active one)."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON list."),
    ) -> None:
        """Clusters of the active model. --json: a list of {id, label, size, artists}."""
        from sonicmap.pipeline import clustering

        items = clustering.list_clusters(get_store(), model_id=model)
        if json_out:
            emit_json(
                [{k: c[k] for k in ("id", "label", "size", "artists", "weight")} for c in items]
            )
            return
        if not items:
            typer.echo("no active model; train one with `sonicmap cluster`", err=True)
            return
        _print_table(
            ["id", "size", "label", "typical artists"],
            [[c["id"], c["size"], c["label"], ", ".join(c["artists"][:3])] for c in items],
        )

    @app.command("models")
    @handle_errors
    def models(
        action: str = typer.Argument("list", help="list | activate | delete"),
        model_id: int | None = typer.Argument(None, help="Model id (activate, delete)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """List models, activate one (rollback) or delete one (never the active one).

        --json with list: a list of {id, status, k, created_at, trigger, ...}.
        """
        from sonicmap.pipeline import clustering

        store = get_store()
        if action == "list":
            items = [_model_item(m) for m in clustering.list_models(store)]
            if json_out:
                emit_json(items)
                return
            _print_table(
                ["id", "status", "k", "created", "trigger", "artists"],
                [
                    [m["id"], m["status"], m["k"], m["created_at"], m["trigger"], m["n_artists"]]
                    for m in items
                ],
            )
            return
        if action not in ("activate", "delete"):
            raise fail(f"unknown action {action!r}; expected list, activate ID or delete ID")
        if model_id is None:
            raise fail(f"`sonicmap models {action}` needs a model id, e.g. `models {action} 3`")
        if action == "activate":
            out = _model_item(clustering.activate_model(store, model_id))
            refreshed = _refresh_playlists()
            if refreshed:
                out["playlists"] = refreshed
        else:
            out = clustering.delete_model(store, model_id)
        if json_out:
            emit_json(out)
        else:
            typer.echo(f"model {model_id} {'activated' if action == 'activate' else 'deleted'}")
