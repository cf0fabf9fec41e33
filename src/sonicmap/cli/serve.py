"""``sonicmap serve``: run the REST API with uvicorn."""

from __future__ import annotations

import os
import sys

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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _can_open_browser() -> bool:
    """A graphical browser can be shown: macOS, Windows, or a Linux/BSD desktop session (a text
    browser on a headless Pi would take over the terminal)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@handle_errors
def ui(
    port: int = typer.Option(
        0, "--port", min=0, max=65535, help="TCP port on 127.0.0.1 (0 = any free port)."
    ),
    open_browser: bool = typer.Option(
        True, "--browser/--no-browser", help="Open the page in a browser when one is available."
    ),
) -> None:
    """Open the web page: serve it on 127.0.0.1 (embedded, one process), print its URL and open a
    browser. Stop with Ctrl+C."""
    import threading
    import time
    import webbrowser

    import uvicorn

    cfg = get_config()
    port = port or _free_port()
    url = f"http://127.0.0.1:{port}/"
    config = uvicorn.Config(
        "sonicmap.api.app:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="warning" if cfg.settings.log_level != "DEBUG" else "debug",
        access_log=False,
    )
    server = uvicorn.Server(config)

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            typer.echo(f"sonicmap is at {url}  (Ctrl+C stops it)")
            if open_browser and _can_open_browser():
                try:
                    webbrowser.open(url)
                except webbrowser.Error:
                    pass

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run()
    except OSError as exc:
        raise fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("ui")(ui)
