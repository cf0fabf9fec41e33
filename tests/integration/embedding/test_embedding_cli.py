"""``sonicmap similar`` end to end on a SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sonicmap.cli import app
from sonicmap.pipeline import embeddings as pe
from sonicmap.store.db import open_store


@pytest.fixture
def cli_store(cli_state: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from test_pipeline import populate

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SONICMAP_DATABASE_URL", url)
    store = open_store(url)
    lib = populate(store, n_artists=8)
    pe.refresh_embeddings(store, None)
    store.dispose()
    yield lib


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_similar_artist_json(cli_store) -> None:
    res = run("similar", "--artist", "ARTIST 1", "--limit", "3", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [r["name"] for r in out][0] == "Artist 5"
    assert all({"id", "name", "artist", "score"} <= set(r) for r in out)
    assert len(out) == 3 and "Artist 1" not in [r["name"] for r in out]


def test_similar_track_json_with_album_cap(cli_store) -> None:
    res = run(
        "similar", "--track", "/music/0/0/0.flac", "--limit", "5", "--max-per-album", "1", "--json"
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out) == 5 and "/music/0/0/0.flac" not in [r["path"] for r in out]
    assert len({r["album"] for r in out}) == 5
    assert out[0]["score"] >= out[-1]["score"] and {"id", "path", "artist", "score"} <= set(out[0])
    sims = [r["similarity"] for r in out]
    assert sims == sorted(sims, reverse=True) and all(0 <= x <= 1 for x in sims)


def test_similar_table_and_errors(cli_store) -> None:
    res = run("similar", "--artist", "Artist 2")
    assert res.exit_code == 0 and "Artist 6" in res.stdout
    res = run("similar", "--artist", "Nobody")
    assert res.exit_code == 1 and "error: no artist named 'Nobody'" in res.stderr
    res = run("similar")
    assert res.exit_code == 1 and "exactly one of --artist NAME or --track PATH" in res.stderr
