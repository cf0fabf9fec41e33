"""A server that refuses, is not there, answers HTML or garbage, or never answers: one-line
errors naming the server and the cause, and nothing stored changes."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from sonicmap.store.schema import KeyValue, Server, ServerArtist, ServerPlaylist, ServerSong

pytestmark = pytest.mark.integration


def cli(*args: str) -> Any:
    from sonicmap.cli import app

    return CliRunner().invoke(app, list(args))


class _Handler(BaseHTTPRequestHandler):
    body = b""
    ctype = "text/plain"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", self.ctype)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[Any]:
    """Start a loopback HTTP server answering every GET with a fixed body."""
    started: list[ThreadingHTTPServer] = []

    def start(body: bytes, ctype: str) -> str:
        handler = type("H", (_Handler,), {"body": body, "ctype": ctype})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
        return f"http://127.0.0.1:{httpd.server_port}"

    yield start
    for h in started:
        h.shutdown()
        h.server_close()


@pytest.fixture
def silent() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}"
    finally:
        s.close()


def closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def snapshot(store: Any) -> Any:
    with store.session() as ses:
        return [
            sorted(tuple(r) for r in ses.execute(select(*m.__table__.columns)).all())
            for m in (Server, ServerSong, ServerArtist, ServerPlaylist, KeyValue)
        ]


def test_each_failure_is_one_line_and_changes_nothing(
    cli_env: dict, sm: Any, supysonic: Any, answering: Any, silent: str, monkeypatch: Any
) -> None:
    res = cli(
        "servers", "add", "sup", "--kind", "subsonic", "--url", supysonic.url, "--user", "alice",
        "--password-env", "SUP_PASSWORD",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert cli("servers", "sync", "sup").exit_code == 0
    assert cli("playlists", "push", "--server", "sup", "--all-clusters").exit_code == 0
    gone = closed_port()
    cases = {
        "wrong password": (
            supysonic.url,
            "server 'sup': Subsonic error 40: Wrong username or password.",
        ),
        "unreachable": (gone, f"server 'sup': cannot reach {gone} (connection refused)"),
        "html": (
            answering(b"<!DOCTYPE html><html><body>Welcome to nginx!</body></html>", "text/html"),
            "server 'sup': answered with an HTML page (HTTP 200), not the Subsonic API; check the URL",
        ),
        "garbage": (
            answering(b"\x00\x01 garbage \xff", "application/octet-stream"),
            "server 'sup': answered something that is not JSON (HTTP 200",
        ),
        "json but not subsonic": (
            answering(b'{"hello": "world"}', "application/json"),
            "server 'sup': answered JSON without a Subsonic response (HTTP 200); check the URL",
        ),
        "timeout": (silent, f"server 'sup': no answer from {silent} within 0.5 s (timeout)"),
    }
    for case, (url, expected) in cases.items():
        monkeypatch.setenv(
            "SUP_PASSWORD", "bad-secret-123" if case == "wrong password" else "correct horse"
        )
        assert cli("servers", "set", "sup", "--url", url).exit_code == 0
        before = snapshot(sm.store)  # (only the URL moved)
        for args in (
            ["servers", "sync", "sup", "--timeout", "0.5"],
            ["servers", "test", "sup", "--timeout", "0.5"],
            ["playlists", "push", "--server", "sup", "--all-clusters", "--timeout", "0.5"],
        ):
            res = cli(*args)
            assert res.exit_code == 1, (case, args, res.output)
            lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
            assert len(lines) == 1, (case, res.output)
            assert expected in lines[0], (case, lines[0])
            assert "correct horse" not in res.output and "bad-secret-123" not in res.output
            assert snapshot(sm.store) == before, (case, args)


def test_add_with_a_failing_test_stores_nothing(cli_env: dict, sm: Any, supysonic: Any) -> None:
    import os

    os.environ["BAD_PW"] = "nope"
    try:
        res = cli(
            "servers", "add", "sup", "--kind", "subsonic", "--url", supysonic.url, "--user",
            "alice", "--password-env", "BAD_PW",
        )  # fmt: skip
    finally:
        del os.environ["BAD_PW"]
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1].startswith("error: server 'sup': Subsonic error 40")
    assert json.loads(cli("servers", "list", "--json").stdout) == []
