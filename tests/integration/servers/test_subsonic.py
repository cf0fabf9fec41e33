"""Sync and playlists against a real Subsonic server (supysonic, started by the tests).

supysonic refuses token authentication (it answers error 10, a missing ``p``), so every call
here also exercises the fallback to ``p=enc:``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from sonicmap.pipeline import playlists as pl
from sonicmap.pipeline import servers as srv
from sonicmap.pipeline.serversync import CHECKPOINT_KEY, sync_server
from sonicmap.store.repo import get_state
from sonicmap.store.schema import ServerSong, Track

pytestmark = pytest.mark.integration


def cli(*args: str) -> Any:
    from sonicmap.cli import app

    res = CliRunner().invoke(app, list(args))
    return res


def add_server(sup: Any, *extra: str) -> Any:
    res = cli(
        "servers", "add", "sup", "--kind", "subsonic", "--url", sup.url, "--user", "alice",
        "--password-env", "SUP_PASSWORD", "--json", *extra,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def truth(sm: Any, client: Any) -> dict[str, int]:
    """Server song id → the sonicmap track of the same file (by the path the server reports)."""
    with sm.store.session() as ses:
        by_path = {p: t for t, p in ses.execute(select(Track.id, Track.path))}
    out = {}
    for page, _ in client.iter_catalogue():
        for s in page:
            out[s.id] = by_path[str(Path(sm.music) / s.path)]
    return out


def stored_mapping(sm: Any) -> dict[str, int | None]:
    with sm.store.session() as ses:
        return dict(ses.execute(select(ServerSong.server_song_id, ServerSong.track_id)).all())


def test_sync_by_path_then_by_tags_only(cli_env: dict, sm: Any, supysonic: Any) -> None:
    added = add_server(supysonic)
    assert added["test"]["auth"] == "password"  # tokens refused → p=enc: fallback
    assert "correct horse" not in json.dumps(added)
    assert added["secret"] == {"type": "password", "source": "env", "ref": "SUP_PASSWORD"}

    res = cli("servers", "sync", "sup", "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    n = rep["server_songs"]
    assert n == 40 and rep["matched"]["path"] == n and rep["matched_total"] == n
    assert rep["unmatched_server"] == 0 and rep["unmatched_local"] == 0
    assert rep["changed_ids"] == 0 and rep["dropped"] == 0
    expected = truth(sm, supysonic.client())
    assert stored_mapping(sm) == expected
    # artists map both ways
    some_song = next(iter(expected))
    with sm.store.session() as ses:
        artist_of_track = ses.scalar(select(Track.artist_id).where(Track.id == expected[some_song]))
        server_artist = ses.scalar(
            select(ServerSong.server_artist_id).where(ServerSong.server_song_id == some_song)
        )
    assert srv.server_artist_to_artist(sm.store, "sup", server_artist) == artist_of_track
    assert rep["server_artists_matched"] == rep["server_artists"] > 0

    # tags only: >= 98 % matched and none matched wrongly
    res = cli("servers", "sync", "sup", "--tags-only", "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["matched"]["path"] == 0
    assert rep["matched_total"] >= 0.98 * n
    got = stored_mapping(sm)
    wrong = {s: t for s, t in got.items() if t is not None and t != expected[s]}
    assert wrong == {}
    assert rep["changed_ids"] == 0  # same server, same ids


def user_playlist_bytes(sup: Any, pid: str) -> tuple[bytes, bytes]:
    """The raw answers about a user's own playlist (getPlaylist, and its getPlaylists entry)."""
    from sonicmap.remote import http

    def raw(method: str, params: list[tuple[str, str]]) -> bytes:
        q = [("u", "alice"), ("p", "correct horse"), ("v", "1.12.0"), ("c", "test"), ("f", "json")]
        return http.request("t", "GET", f"{sup.url}/rest/{method}.view", params=q + params,
                            timeout=10).body  # fmt: skip

    listing = json.loads(raw("getPlaylists", []))["subsonic-response"]["playlists"]["playlist"]
    entry = next(p for p in listing if p["id"] == pid)
    return raw("getPlaylist", [("id", pid)]), json.dumps(entry, sort_keys=True).encode()


def test_push_twice_keeps_ids_and_leaves_users_playlists_alone(
    cli_env: dict, sm: Any, supysonic: Any
) -> None:
    add_server(supysonic)
    assert cli("servers", "sync", "sup").exit_code == 0
    client = supysonic.client()
    some = list(truth(sm, client))[:5]
    mine = client.create_playlist("My own mix", some)
    before = user_playlist_bytes(supysonic, mine)

    res = cli("playlists", "push", "--server", "sup", "--all-clusters", "--count", "6", "--json")
    assert res.exit_code == 0, res.output
    first = json.loads(res.stdout)
    assert first["created"] == 2 and first["updated"] == 0
    ids1 = {p["key"]: p["playlist_id"] for p in first["playlists"]}
    for p in first["playlists"]:
        assert p["songs"] == 6 and p["missing"] == 0
        assert client.playlist_songs(p["playlist_id"]) != []

    res = cli("playlists", "push", "--server", "sup", "--all-clusters", "--count", "4", "--json")
    assert res.exit_code == 0, res.output
    second = json.loads(res.stdout)
    assert second["updated"] == 2 and second["created"] == 0
    assert {p["key"]: p["playlist_id"] for p in second["playlists"]} == ids1
    for p in second["playlists"]:
        songs = client.playlist_songs(p["playlist_id"])
        assert len(songs) == 4  # new contents, same playlist
        rec = next(r for r in pl.list_pushed(sm.store, "sup") if r["key"] == p["key"])
        assert rec["playlist_id"] == p["playlist_id"] and rec["tracks"] == 4
    # the server holds the user's playlist and ours, nothing else; the user's byte-identical
    names = sorted(p["name"] for p in client.playlists())
    assert len(names) == 3 and "My own mix" in names
    assert user_playlist_bytes(supysonic, mine) == before

    res = cli("playlists", "list", "--json")
    assert [p["key"] for p in json.loads(res.stdout)] == ["cluster:0", "cluster:1"]


def test_rescan_with_new_ids_refreshes_playlists_in_place_then_wipe_recreates_once(
    cli_env: dict, sm: Any, supysonic: Any
) -> None:
    add_server(supysonic)
    assert cli("servers", "sync", "sup").exit_code == 0
    res = cli("playlists", "push", "--server", "sup", "--all-clusters", "--count", "5", "--json")
    pushed = {p["key"]: p["playlist_id"] for p in json.loads(res.stdout)["playlists"]}
    old_ids = set(stored_mapping(sm))

    # the server re-creates its catalogue: every song id changes, playlists stay
    supysonic.restart(reset_library=True)
    assert cli("servers", "set", "sup", "--url", supysonic.url).exit_code == 0  # a new port
    res = cli("servers", "sync", "sup", "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["matched"]["path"] == rep["server_songs"] == 40
    assert rep["changed_ids"] == 40 and rep["dropped"] == 40
    assert not (set(stored_mapping(sm)) & old_ids)
    assert rep["playlists"]["refreshed"] == 2 and rep["playlists"]["recreated"] == 0
    client = supysonic.client()
    for p in rep["playlists"]["playlists"]:
        assert p["playlist_id"] == pushed[p["key"]]
        assert len(client.playlist_songs(p["playlist_id"])) == 5  # under the new song ids

    # the server's database is wiped: playlists lost → re-created once, reported
    supysonic.restart(wipe=True)
    assert cli("servers", "set", "sup", "--url", supysonic.url).exit_code == 0
    res = cli("servers", "sync", "sup", "--json")
    rep = json.loads(res.stdout)
    assert rep["matched"]["path"] == 40 and rep["changed_ids"] == 40
    assert rep["playlists"]["recreated"] == 2
    recreated = {p["key"]: p["playlist_id"] for p in rep["playlists"]["playlists"]}
    assert set(recreated.values()).isdisjoint(pushed.values())
    res = cli("servers", "sync", "sup", "--json")
    rep = json.loads(res.stdout)
    assert rep["changed_ids"] == 0 and rep["playlists"]["unchanged"] == 2
    assert {p["key"]: p["playlist_id"] for p in rep["playlists"]["playlists"]} == recreated
    assert len(supysonic.client().playlists()) == 2


class FailAfter:
    """A client that stops (as a network failure would) after ``pages`` pages."""

    def __init__(self, inner: Any, pages: int) -> None:
        self.inner, self.pages = inner, pages

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def iter_catalogue(self, cursor: Any = None) -> Any:
        from sonicmap.errors import ServerError

        for i, item in enumerate(self.inner.iter_catalogue(cursor)):
            if i == self.pages:
                raise ServerError("sup", "cannot reach the server (connection reset)")
            yield item


def test_sync_resumes_where_it_stopped(sm: Any, supysonic: Any) -> None:
    from sonicmap.errors import ServerError

    info = srv.add_server(
        sm.store, name="sup", kind="subsonic", url=supysonic.url, username="alice",
        secret={"type": "password", "source": "stored", "value": "correct horse"},
    )  # fmt: skip
    with pytest.raises(ServerError, match="connection reset"):
        sync_server(sm.store, sm.cfg, info, FailAfter(supysonic.client(page_size=15), 2))
    with sm.store.session() as ses:
        ckpt = get_state(ses, CHECKPOINT_KEY.format(id=info.id))
    assert ckpt["cursor"] == {"via": "search3", "offset": 30} and ckpt["songs"] == 30
    assert len(stored_mapping(sm)) == 30
    rep = sync_server(sm.store, sm.cfg, info, supysonic.client(page_size=15))
    assert rep.resumed and rep.pages == 1  # only the last page fetched again
    assert rep.matched_total == rep.server_songs == 40
    assert stored_mapping(sm) == truth(sm, supysonic.client())
    rep = sync_server(sm.store, sm.cfg, info, supysonic.client(page_size=15))
    assert not rep.resumed and rep.pages == 3 and rep.changed_ids == 0


def test_missing_secret_is_named_not_shown(cli_env: dict, supysonic: Any, tmp_path: Path) -> None:
    os.environ.pop("NOPE_PW", None)
    res = cli(
        "servers", "add", "x", "--kind", "subsonic", "--url", supysonic.url, "--user", "alice",
        "--password-env", "NOPE_PW",
    )  # fmt: skip
    assert res.exit_code == 1
    assert "NOPE_PW" in res.output and "is not set" in res.output
    secret = tmp_path / "pw"
    secret.write_text("correct horse\n")
    res = cli(
        "servers", "add", "x", "--kind", "subsonic", "--url", supysonic.url, "--user", "alice",
        "--password-file", str(secret), "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = cli(
        "servers", "add", "y", "--kind", "subsonic", "--url", supysonic.url, "--user", "alice",
        "--password-env", "SUP_PASSWORD", "--store-secret",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    os.environ.pop("SUP_PASSWORD")  # the stored value is used from now on
    assert cli("servers", "test", "y").exit_code == 0
    res = cli("servers", "list", "--json")
    assert "correct horse" not in res.stdout
    listed = {s["name"]: s["secret"] for s in json.loads(res.stdout)}
    assert listed["x"]["ref"] == str(secret)
    assert listed["y"] == {"type": "password", "source": "stored", "ref": None}
