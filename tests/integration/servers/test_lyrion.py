"""Lyrion Music Server: sync, playlists, errors and the Lyrion plugins' route against an HTTP fake
of LMS's JSON-RPC API (``lyrion_fake``: Lyrion itself cannot run here)."""

from __future__ import annotations

import json
import re
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lyrion_fake import FakeLyrion, LyrionState
from sqlalchemy import select
from typer.testing import CliRunner

from sonicmap.store.schema import ServerSong, Track

pytestmark = pytest.mark.integration

USER, PASSWORD = "lms-admin", "lms pass"
SERVER_ROOT = "/srv/lms music"  # a space: LMS's file URLs are percent-encoded


def cli(*args: str) -> Any:
    from sonicmap.cli import app

    return CliRunner().invoke(app, list(args))


@pytest.fixture
def lyrion(server_library: Any) -> Iterator[FakeLyrion]:
    """The library as LMS lists it: file URLs under its own folder, integer ids."""
    state = LyrionState(user=USER, password=PASSWORD)
    for t in server_library.tracks:
        rel = Path(t.path).relative_to(server_library.music).as_posix()
        state.add_track(
            title=t.title, artist=t.artist, album=t.album, path=f"{SERVER_ROOT}/{rel}",
            seconds=2.0, track_no=t.track_no,
        )  # fmt: skip
    fake = FakeLyrion(state)
    try:
        yield fake
    finally:
        fake.stop()


def truth(sm: Any, fake: FakeLyrion) -> dict[str, int]:
    with sm.store.session() as ses:
        by_path = {p: t for t, p in ses.execute(select(Track.id, Track.path))}
    out = {}
    for t in fake.state.tracks:
        rel = urllib.parse.unquote(t["url"].removeprefix("file://"))
        out[str(t["id"])] = by_path[str(sm.music / rel.removeprefix(SERVER_ROOT + "/"))]
    return out


def mapping(sm: Any) -> dict[str, int | None]:
    with sm.store.session() as ses:
        return dict(ses.execute(select(ServerSong.server_song_id, ServerSong.track_id)).all())


def add(url: str, *extra: str) -> Any:
    return cli(
        "servers", "add", "lms", "--kind", "lyrion", "--url", url, "--user", USER,
        "--password-env", "LMS_PW", *extra,
    )  # fmt: skip


def test_sync_by_path_and_tags_then_playlists_keep_their_ids(
    cli_env: dict, sm: Any, lyrion: FakeLyrion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMS_PW", PASSWORD)
    res = add(lyrion.url, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["test"]["server_version"] == "8.5.2"
    res = cli("servers", "sync", "lms", "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["server_songs"] == len(lyrion.state.tracks) == 40
    assert rep["matched"]["path"] == 40  # 100 %: every file URL decoded to its path
    expected = truth(sm, lyrion)
    assert mapping(sm) == expected
    assert all(re.fullmatch(r"\d+", s) for s in expected)

    res = cli("servers", "sync", "lms", "--tags-only", "--json")
    rep = json.loads(res.stdout)
    assert rep["matched"]["path"] == 0 and rep["matched_total"] >= 0.98 * 40
    assert {s: t for s, t in mapping(sm).items() if t is not None and t != expected[s]} == {}

    # a user's playlist, then ours twice: same id, new contents, the user's untouched
    pls = lyrion.state.playlists
    first_song = lyrion.state.tracks[0]["id"]
    pls[7] = {"name": "Mine", "tracks": [first_song]}
    res = cli("playlists", "push", "--server", "lms", "--cluster", "0", "--count", "6", "--json")
    assert res.exit_code == 0, res.output
    first = json.loads(res.stdout)["playlists"][0]
    assert first["action"] == "created" and first["songs"] == 6
    pid = int(first["playlist_id"])
    assert len(pls[pid]["tracks"]) == 6
    res = cli("playlists", "push", "--server", "lms", "--cluster", "0", "--count", "3", "--json")
    second = json.loads(res.stdout)["playlists"][0]
    assert second["action"] == "updated" and second["playlist_id"] == first["playlist_id"]
    assert len(pls[pid]["tracks"]) == 3 and pls[pid]["name"] == first["name"]
    assert pls[7] == {"name": "Mine", "tracks": [first_song]} and len(pls) == 2
    # a playlist the user deleted on the server is re-created, under a new id
    del pls[pid]
    res = cli("playlists", "push", "--server", "lms", "--cluster", "0", "--count", "3", "--json")
    third = json.loads(res.stdout)["playlists"][0]
    assert third["action"] == "recreated" and int(third["playlist_id"]) in pls
    res = cli("playlists", "push", "--server", "lms", "--cluster", "0", "--name", "Mine")
    assert res.output.strip() == (
        "error: server 'lms': already has another playlist named 'Mine' (id 7); "
        "not renaming over it"
    )
    assert pls[7] == {"name": "Mine", "tracks": [first_song]}
    # a name an LMS playlist already has is refused, never written over; so is a missing folder
    res = cli("playlists", "push", "--server", "lms", "--cluster", "1", "--name", "Mine")
    assert res.exit_code == 1 and pls[7] == {"name": "Mine", "tracks": [first_song]}
    assert res.output.strip() == (
        "error: server 'lms': already has a playlist named 'Mine' (id 7); "
        "rename or delete it, or push under another name"
    )
    lyrion.state.playlist_folder = False
    res = cli("playlists", "push", "--server", "lms", "--cluster", "1")
    assert res.exit_code == 1 and "is LMS's playlist folder set?" in res.output


def test_catalogue_pages_resume_from_their_cursor(lyrion: FakeLyrion) -> None:
    from sonicmap.remote.lyrion import LyrionClient

    client = LyrionClient(name="lms", url=lyrion.url, username=USER, secret=PASSWORD, page_size=7)
    pages = list(client.iter_catalogue())
    assert [len(p) for p, _ in pages] == [7, 7, 7, 7, 7, 5]
    every = [s for p, _ in pages for s in p]
    assert len({s.id for s in every}) == 40
    song = every[0]
    src = next(t for t in lyrion.state.tracks if str(t["id"]) == song.id)
    assert song.path is not None and song.path.startswith(SERVER_ROOT + "/")
    assert song.path == urllib.parse.unquote(src["url"].removeprefix("file://"))
    assert (song.title, song.artist, song.album) == (src["title"], src["artist"], src["album"])
    assert song.artist_id == str(src["artist_id"]) and song.duration_s == 2.0
    assert song.track_no == int(src["tracknum"]) and song.disc_no == 1
    rest = list(client.iter_catalogue(pages[2][1]))
    assert [s.id for p, _ in rest for s in p] == [s.id for p, _ in pages[3:] for s in p]


def test_errors_are_one_line_and_name_the_server(
    cli_env: dict, sm: Any, lyrion: FakeLyrion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMS_PW", "not it")
    res = add(lyrion.url)
    assert res.exit_code == 1
    assert res.output.strip() == (
        "error: server 'lms': refused the user name or password "
        "(HTTP 401; LMS password protection is on)"
    )
    assert "not it" not in res.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    res = add(closed)
    assert res.exit_code == 1
    assert res.output.strip().startswith("error: server 'lms': cannot reach http://127.0.0.1:")
    assert "connection refused" in res.output and len(res.output.strip().splitlines()) == 1
    # a web server that is not LMS: 404 at /jsonrpc.js
    res = add(lyrion.url + "/not-lms")
    assert res.exit_code == 1
    assert (
        res.output.strip() == "error: server 'lms': has no /jsonrpc.js (HTTP 404); is this Lyrion?"
    )
    # garbage, then JSON that is no slim.request answer
    monkeypatch.setenv("LMS_PW", PASSWORD)
    lyrion.state.garbage = b"\x00\x01 not json"
    res = add(lyrion.url)
    assert res.exit_code == 1
    assert res.output.strip() == (
        "error: server 'lms': answered something that is not JSON (HTTP 200, text/plain), "
        "not Lyrion's JSON-RPC; check the URL"
    )
    lyrion.state.garbage = b'{"id": 1}'
    res = add(lyrion.url)
    assert res.output.strip() == (
        "error: server 'lms': answered JSON without a slim.request result to 'serverstatus'; "
        "is this Lyrion?"
    )
    assert "lms" not in cli("servers", "list").output  # nothing was stored


def test_plugin_route_answers_lms_integer_ids_after_a_lyrion_sync(
    cli_env: dict, sm: Any, lyrion: FakeLyrion, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from sonicmap.api import create_app
    from sonicmap.config import AppConfig, load_settings, parse_gmm_config

    monkeypatch.setenv("LMS_PW", PASSWORD)
    assert add(lyrion.url).exit_code == 0
    res = cli("servers", "sync", "lms", "--json")
    assert json.loads(res.stdout)["matched_total"] == 40
    settings = load_settings(
        {
            "SONICMAP_DATA_DIR": str(tmp_path / "api"),
            "SONICMAP_API_KEY": "k" * 32,
            "SONICMAP_COMPAT_TOKENS": "lms=tok-lms",
            "SONICMAP_LIBRARY_ROOTS": str(sm.music),
        }
    )
    cfg = AppConfig(settings=settings, gmm=parse_gmm_config({}))
    own = set(mapping(sm))
    seed = str(lyrion.state.tracks[0]["id"])
    with TestClient(create_app(cfg, store=sm.store), raise_server_exceptions=False) as c:
        r = c.get(
            "/api/similar_tracks",
            params={"item_id": seed, "n": 10, "eliminate_duplicates": "true"},
            headers={"Accept": "application/json", "Authorization": "Bearer tok-lms"},
        )
    assert r.status_code == 200, r.text
    rows = r.json()
    ids = [row["item_id"] for row in rows]
    assert ids and all(re.fullmatch(r"\d+", i) for i in ids)
    assert set(ids) <= own and seed not in ids


def test_a_server_without_password_protection_needs_no_secret(
    cli_env: dict, sm: Any, lyrion: FakeLyrion
) -> None:
    lyrion.state.password = None
    res = cli("servers", "add", "lms", "--kind", "lyrion", "--url", lyrion.url, "--json")
    assert res.exit_code == 0, res.output
    added = json.loads(res.stdout)
    assert added["secret"] == {"type": "password", "source": "none", "ref": None}
    assert added["test"]["auth"] == "none"
    assert cli("servers", "test", "lms").output.strip() == "lms: ok (lyrion 8.5.2, auth none)"
    res = cli("servers", "sync", "lms", "--json")
    assert json.loads(res.stdout)["matched"]["path"] == 40
    # a user without a password is still an error, as for every kind
    res = cli("servers", "add", "lms2", "--kind", "lyrion", "--url", lyrion.url, "--user", "x")
    assert res.exit_code == 1 and "give exactly one of --password-env" in res.output
    lyrion.state.password = PASSWORD  # protection switched on later: a clear 401
    res = cli("servers", "sync", "lms")
    assert res.output.strip() == (
        "error: server 'lms': asks for a password (HTTP 401; LMS password protection is on): "
        "give --user and --password-env or --password-file"
    )
