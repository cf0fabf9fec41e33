"""Post-scan sync, post-activation playlist refresh, and radio / artist / path playlists, against
the real Subsonic server."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from sonicmap.pipeline import playlists as pl
from sonicmap.pipeline import servers as srv
from sonicmap.store.schema import Artist, ServerPlaylist, Track

pytestmark = pytest.mark.integration


def cli(*args: str) -> Any:
    from sonicmap.cli import app

    return CliRunner().invoke(app, list(args))


def add(sm: Any, sup: Any, **options: Any) -> Any:
    return srv.add_server(
        sm.store, name="sup", kind="subsonic", url=sup.url, username="alice",
        secret={"type": "password", "source": "stored", "value": "correct horse"},
        options=options,
    )  # fmt: skip


def test_embedded_after_scan_hook_syncs_servers_that_ask(sm: Any, supysonic: Any) -> None:
    from sonicmap.worker.hooks import embedded_with_servers

    add(sm, supysonic)  # sync_after_scan is on by default
    hook = embedded_with_servers(sm.cfg)
    out = hook(sm.store, SimpleNamespace(status="failed"))
    assert "servers" not in out and srv.mapping_counts(sm.store, "sup")["songs"] == 0
    out = hook(sm.store, SimpleNamespace(status="completed"))
    assert out["servers"]["status"] == "completed"
    assert out["servers"]["servers"][0]["matched"]["path"] == 40
    srv.set_options(sm.store, "sup", sync_after_scan=False)
    assert "servers" not in hook(sm.store, SimpleNamespace(status="completed"))


def test_activation_refreshes_cluster_playlists_in_place_when_asked(
    cli_env: dict, sm: Any, supysonic: Any
) -> None:
    from sonicmap.pipeline.serversync import sync_server
    from sonicmap.remote import make_client

    info = add(sm, supysonic, refresh_playlists_on_activate=True)
    client = make_client(info)
    sync_server(sm.store, sm.cfg, info, client)
    first = pl.push(sm.store, info, client, pl.cluster_specs(sm.store, count=5))
    ids = {p["key"]: p["playlist_id"] for p in first["playlists"]}
    # a playlist sonicmap once made for a cluster the next model will not have
    stale_id = client.create_playlist("Old cluster", [])
    with sm.store.session() as ses:
        ses.add(
            ServerPlaylist(server_id=info.id, key="cluster:99", playlist_id=stale_id,
                           kind="cluster", name="Old cluster", params={"count": 5}, track_ids=[])
        )  # fmt: skip
    mine = client.create_playlist("Mine", [])

    res = cli("cluster", "-k", "2", "--force", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)["playlists"]["servers"][0]
    assert report["updated"] == 2 and report["created"] == 0
    assert {p["key"]: p["playlist_id"] for p in report["playlists"]} == ids
    assert report["deleted"] == ["Old cluster"]
    left = {p["id"] for p in client.playlists()}
    assert left == set(ids.values()) | {mine}
    # off (the default): an activation leaves the server alone
    srv.set_options(sm.store, "sup", refresh_playlists_on_activate=False)
    res = cli("cluster", "-k", "2", "--force", "--json")
    assert res.exit_code == 0 and "playlists" not in json.loads(res.stdout)


def test_radio_artist_and_path_playlists(cli_env: dict, sm: Any, supysonic: Any) -> None:
    res = cli(
        "servers", "add", "sup", "--kind", "subsonic", "--url", supysonic.url, "--user", "alice",
        "--password-env", "SUP_PASSWORD",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert cli("servers", "sync", "sup").exit_code == 0
    with sm.store.session() as ses:
        tracks = ses.execute(select(Track.id, Track.path).order_by(Track.id)).all()
        artist = ses.scalar(select(Artist.name).order_by(Artist.id))
    (a, a_path), (b, _) = tracks[0], tracks[-1]

    res = cli("playlists", "push", "--server", "sup", "--radio", a_path, "--count", "8", "--json")
    assert res.exit_code == 0, res.output
    radio = json.loads(res.stdout)["playlists"][0]
    assert radio["key"] == f"radio:{a}" and radio["songs"] == 8 and radio["action"] == "created"
    songs = supysonic.client().playlist_songs(radio["playlist_id"])
    assert srv.song_to_track(sm.store, "sup", songs[0]) == a  # the seed first

    res = cli("playlists", "push", "--server", "sup", "--path", str(a), str(b), "--count", "6",
              "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    path = json.loads(res.stdout)["playlists"][0]
    songs = supysonic.client().playlist_songs(path["playlist_id"])
    mapped = [srv.song_to_track(sm.store, "sup", s) for s in songs]
    assert mapped[0] == a and mapped[-1] == b and 2 <= len(mapped) <= 6

    res = cli("playlists", "push", "--server", "sup", "--artist", artist, "--count", "5",
              "--name", "Like them", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    mix = json.loads(res.stdout)["playlists"][0]
    assert mix["name"] == "Like them" and mix["kind"] == "artist" and mix["songs"] == 5

    res = cli("playlists", "list", "--json")
    assert {p["kind"] for p in json.loads(res.stdout)} == {"radio", "path", "artist"}


def test_sonicmap_scan_syncs_the_servers_and_says_so(cli_env: dict, supysonic: Any) -> None:
    res = cli(
        "servers", "add", "sup", "--kind", "subsonic", "--url", supysonic.url, "--user", "alice",
        "--password-env", "SUP_PASSWORD",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = cli("scan")
    assert res.exit_code == 0, res.output
    assert "server sync sup: 40 of 40 songs matched, 0 changed ids" in res.output
