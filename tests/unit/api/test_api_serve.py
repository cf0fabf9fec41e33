"""``sonicmap serve``: uvicorn is started with the app factory, workers capped."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from sonicmap.cli import _common
from sonicmap.cli import app as cli_app
from sonicmap.cli.serve import MAX_WORKERS, max_workers


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, clean_env) -> list[dict]:  # noqa: ANN001
    import uvicorn

    seen: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.append({"app": app, **kw}))
    _common.set_config(None)
    yield seen
    _common.set_config(None)


def test_serve_runs_the_factory_with_capped_workers(calls: list[dict]) -> None:
    res = CliRunner().invoke(cli_app, ["serve", "--port", "8123", "--workers", "99"])
    assert res.exit_code == 0, res.output
    (call,) = calls
    assert call["app"] == "sonicmap.api.app:create_app" and call["factory"] is True
    assert call["port"] == 8123 and call["host"] == "127.0.0.1"
    assert call["workers"] == max_workers() <= min(MAX_WORKERS, os.cpu_count() or 1)


def test_serve_rejects_a_bad_port(calls: list[dict]) -> None:
    res = CliRunner().invoke(cli_app, ["serve", "--port", "0"])
    assert res.exit_code != 0 and calls == []
