"""``sonicmap serve``: run the REST API with uvicorn."""

from __future__ import annotations

import os

import typer

from sonicmap.cli._common import fail, get_config, handle_errors

MAX_WORKERS = 4


def max_workers() -> int:
    """Upper bound on API worker processes: the CPU count, at most 4 (a Pi 4 has 4 cores)."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


@handle_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 = all)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(
        1, "--workers", min=1, help=f"API processes (capped at the CPU count and {MAX_WORKERS})."
    ),
) -> None:
    """Serve the REST API (docs at /docs, OpenAPI at /api/v1/openapi.json)."""
    import uvicorn

    cfg = get_config()
    cap = max_workers()
    if workers > cap:
        typer.echo(f"--workers {workers} capped to {cap}", err=True)
        workers = cap
    if host not in ("127.0.0.1", "localhost", "::1") and cfg.settings.api_key is None:
        typer.echo(
            "warning: serving on a non-loopback address without SONICMAP_API_KEY; "
            "mutating endpoints answer 403 until a key is set",
            err=True,
        )
    try:
        uvicorn.run(
            "sonicmap.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=cfg.settings.log_level.lower(),
            proxy_headers=True,
            access_log=cfg.settings.log_level == "DEBUG",
        )
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
