"""``sonicmap path`` and ``sonicmap mix`` end to end on a SQLite store (JSON, table, M3U8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sequencing_library import circle_vectors, fill
from sonicmap.cli import app
from sonicmap.store.db import open_store


@pytest.fixture
def ids(cli_state: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SONICMAP_DATABASE_URL", url)
    store = open_store(url)
    out = fill(store, circle_vectors(40), artist_of=[i // 4 for i in range(40)])
    store.dispose()
    return out


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_path_json_by_id_and_path(ids) -> None:
    res = run("path", str(ids[0]), "/music/0039.flac", "--count", "8", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    got = [t["id"] for t in out["tracks"]]
    assert out["start"] == ids[0] and out["end"] == ids[39] and out["count"] == 8
    assert len(got) == 8 and got[0] == ids[0] and got[-1] == ids[39] and len(set(got)) == 8
    first = out["tracks"][0]
    assert first["similarity"] == 1.0 and first["step_similarity"] is None
    assert {"path", "title", "artist", "album", "duration_s", "distance", "seed"} <= set(first)


def test_path_m3u8_relative_paths(ids, tmp_path: Path) -> None:
    target = tmp_path / "lists" / "walk.m3u8"
    res = run("path", str(ids[0]), str(ids[9]), "-n", "4", "--m3u8", str(target))
    assert res.exit_code == 0, res.output
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and len(lines) == 1 + 2 * 4
    assert lines[1] == "#EXTINF:200,Artist 0 - Song 0"
    assert lines[2] == "../../../music/0000.flac" or lines[2].endswith("music/0000.flac")
    assert (target.parent / lines[2]).resolve() == Path("/music/0000.flac").resolve()
    assert "Song 0" in res.stdout  # the table is printed too


def test_mix_json_seed_exclude_caps(ids) -> None:
    res = run(
        "mix",
        "--track",
        str(ids[20]),
        "--exclude",
        str(ids[21]),
        "--exclude",
        "999999",
        "--count",
        "6",
        "--max-per-artist",
        "1",
        "--json",
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    got = [t["id"] for t in out["tracks"]]
    assert len(got) == 6 and ids[20] not in got and ids[21] not in got
    assert len({t["artist_id"] for t in out["tracks"]}) == 6
    assert out["seeds"] == [{"kind": "track", "id": ids[20]}]
    assert all(t["seed"] == {"kind": "track", "id": ids[20]} for t in out["tracks"])
    res = run("mix", "--artist", "Artist 3", "-n", "5", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["seeds"] == [
        {"kind": "artist", "id": json.loads(res.stdout)["seeds"][0]["id"]}
    ]


def test_errors(ids) -> None:
    res = run("path", str(ids[0]), "777777")
    assert res.exit_code == 1 and "error: track 777777 does not exist" in res.stderr
    res = run("mix")
    assert res.exit_code == 1 and "at least one seed" in res.stderr
    res = run("path", str(ids[0]), str(ids[1]), "--count", "1")
    assert res.exit_code != 0
