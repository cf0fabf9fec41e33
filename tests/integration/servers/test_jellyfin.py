"""Jellyfin: sync, playlists and errors against an HTTP fake of its documented API
(``jellyfin_fake``: Jellyfin itself cannot run here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jellyfin_fake import FakeJellyfin, JellyfinState
from sqlalchemy import select
from typer.testing import CliRunner

from sonicmap.store.schema import ServerSong, Track

pytestmark = pytest.mark.integration

API_KEY = "0123456789abcdef0123456789abcdef"
USER_ID = "a" * 32


def cli(*args: str) -> Any:
    from sonicmap.cli import app

    return CliRunner().invoke(app, list(args))


@pytest.fixture
def jellyfin(server_library: Any) -> Iterator[FakeJellyfin]:
    """The library as Jellyfin lists it: absolute paths under its own /media/music folder."""
    state = JellyfinState(api_key=API_KEY, users={"alice": {"Id": USER_ID, "Pw": "jf pass"}})
    for t in server_library.tracks:
        rel = Path(t.path).relative_to(server_library.music).as_posix()
        state.add_audio(
            name=t.title, artist=t.artist, album=t.album, path=f"/media/music/{rel}",
            seconds=2.0, track_no=t.track_no,
        )  # fmt: skip
    fake = FakeJellyfin(state)
    try:
        yield fake
    finally:
        fake.stop()


def truth(sm: Any, fake: FakeJellyfin) -> dict[str, int]:
    with sm.store.session() as ses:
        by_path = {p: t for t, p in ses.execute(select(Track.id, Track.path))}
    return {
        a["Id"]: by_path[str(sm.music / a["Path"].removeprefix("/media/music/"))]
        for a in fake.state.audio
    }


def mapping(sm: Any) -> dict[str, int | None]:
    with sm.store.session() as ses:
        return dict(ses.execute(select(ServerSong.server_song_id, ServerSong.track_id)).all())


def test_sync_and_push_with_an_api_key(
    cli_env: dict, sm: Any, jellyfin: FakeJellyfin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JF_KEY", API_KEY)
    res = cli(
        "servers", "add", "jf", "--kind", "jellyfin", "--url", jellyfin.url, "--user", "alice",
        "--api-key-env", "JF_KEY", "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["test"]["user_id"] == USER_ID
    res = cli("servers", "sync", "jf", "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["matched"]["path"] == rep["server_songs"] == 40
    expected = truth(sm, jellyfin)
    assert mapping(sm) == expected

    res = cli("servers", "sync", "jf", "--tags-only", "--json")
    rep = json.loads(res.stdout)
    assert rep["matched"]["path"] == 0 and rep["matched_total"] >= 0.98 * 40
    assert {s: t for s, t in mapping(sm).items() if t is not None and t != expected[s]} == {}

    # a user's own playlist, then ours twice: same id, new contents, the user's untouched
    state = jellyfin.state
    mine = "b" * 32
    state.playlists[mine] = {
        "Name": "Mine", "UserId": USER_ID, "entries": [("e1", state.audio[0]["Id"])],
    }  # fmt: skip
    before = json.dumps(state.playlists[mine], sort_keys=True)
    res = cli("playlists", "push", "--server", "jf", "--cluster", "0", "--count", "6", "--json")
    assert res.exit_code == 0, res.output
    first = json.loads(res.stdout)["playlists"][0]
    assert first["action"] == "created" and first["songs"] == 6
    res = cli("playlists", "push", "--server", "jf", "--cluster", "0", "--count", "3", "--json")
    second = json.loads(res.stdout)["playlists"][0]
    assert second["action"] == "updated" and second["playlist_id"] == first["playlist_id"]
    assert len(state.playlists[first["playlist_id"]]["entries"]) == 3
    assert json.dumps(state.playlists[mine], sort_keys=True) == before
    assert len(state.playlists) == 2


def test_password_login_and_errors(
    cli_env: dict, sm: Any, jellyfin: FakeJellyfin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JF_PW", "jf pass")
    res = cli(
        "servers", "add", "jf", "--kind", "jellyfin", "--url", jellyfin.url, "--user", "alice",
        "--password-env", "JF_PW",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = cli("servers", "sync", "jf", "--json")
    assert json.loads(res.stdout)["matched_total"] == 40
    assert "POST /Users/AuthenticateByName" in jellyfin.state.requests
    monkeypatch.setenv("JF_PW", "not it")
    res = cli("servers", "sync", "jf")
    assert res.exit_code == 1
    assert res.output.strip() == (
        "error: server 'jf': refused the user name or password (HTTP 401)"
    )
    monkeypatch.setenv("JF_KEY", "wrong-key")
    res = cli(
        "servers", "add", "jf2", "--kind", "jellyfin", "--url", jellyfin.url, "--user", "alice",
        "--api-key-env", "JF_KEY",
    )  # fmt: skip
    assert res.exit_code == 1
    assert res.output.strip() == "error: server 'jf2': refused the API key (HTTP 401)"
    assert "wrong-key" not in res.output
