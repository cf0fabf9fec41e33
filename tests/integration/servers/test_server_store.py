"""Server records and the id-mapping lookups (both database backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sonicmap.errors import ConflictError, NotFoundError, SonicmapError
from sonicmap.pipeline import servers as srv
from sonicmap.store.db import Store
from sonicmap.store.schema import Artist, ServerArtist, ServerSong, Track


def _tracks(store: Store, n: int) -> tuple[list[int], list[int]]:
    with store.session() as ses:
        artists = [Artist(key=f"name:a{i}", name=f"A{i}") for i in range(2)]
        ses.add_all(artists)
        ses.flush()
        tracks = [
            Track(path=f"/m/{i}.flac", size=1, mtime=0.0, artist_id=artists[i % 2].id)
            for i in range(n)
        ]
        ses.add_all(tracks)
        ses.flush()
        return [t.id for t in tracks], [a.id for a in artists]


def _secret() -> dict[str, str]:
    return {"type": "password", "source": "env", "ref": "NAVI_PW"}


def test_add_list_get_remove(store: Store) -> None:
    a = srv.add_server(
        store,
        name="navi",
        kind="subsonic",
        url="http://h:4533/",
        username="u",
        secret=_secret(),
        options={"sync_after_scan": False},
    )
    assert a.url == "http://h:4533" and a.secret_description() == "env:NAVI_PW"
    with pytest.raises(ConflictError, match="'navi' already exists"):
        srv.add_server(
            store, name="navi", kind="subsonic", url="http://x", username="u", secret=_secret()
        )
    with pytest.raises(SonicmapError, match="kind 'plex'"):
        srv.add_server(store, name="p", kind="plex", url="http://x", username="u", secret=_secret())
    with pytest.raises(SonicmapError, match="must be http"):
        srv.add_server(
            store, name="p", kind="subsonic", url="ftp://x", username="u", secret=_secret()
        )
    stored = srv.add_server(
        store,
        name="jelly",
        kind="jellyfin",
        url="http://j",
        username=None,
        secret={"type": "api_key", "source": "stored", "value": "s3cr3t-value"},
        options={"refresh_playlists_on_activate": True},
    )
    d = stored.to_dict()
    assert "s3cr3t-value" not in repr(d) and d["secret"]["source"] == "stored"
    assert "s3cr3t-value" not in repr(stored) and "s3cr3t-value" not in str(stored)
    assert d["options"]["sync_after_scan"] is True and d["options"]["use_paths"] is True
    assert d["options"]["refresh_playlists_on_activate"] is True
    assert [s.name for s in srv.list_servers(store)] == ["jelly", "navi"]
    assert [s.name for s in srv.servers_with_option(store, "sync_after_scan")] == ["jelly"]
    assert srv.get_server(store, a.id).name == "navi"
    srv.remove_server(store, "navi")
    with pytest.raises(NotFoundError, match="no server 'navi'"):
        srv.get_server(store, "navi")


def test_song_and_artist_lookups_both_ways(store: Store) -> None:
    tids, aids = _tracks(store, 4)
    s = srv.add_server(
        store, name="navi", kind="subsonic", url="http://h", username="u", secret=_secret()
    )
    other = srv.add_server(
        store, name="gonic", kind="subsonic", url="http://g", username="u", secret=_secret()
    )
    with store.session() as ses:
        ses.add_all(
            [
                ServerSong(
                    server_id=s.id,
                    server_song_id="s0",
                    server_artist_id="ar0",
                    track_id=tids[0],
                    method="path",
                ),
                ServerSong(
                    server_id=s.id,
                    server_song_id="s1",
                    server_artist_id="ar1",
                    track_id=tids[1],
                    method="tags",
                ),
                # a duplicate copy of track 1 matched by a better method wins the reverse lookup
                ServerSong(
                    server_id=s.id,
                    server_song_id="s9",
                    server_artist_id="ar1",
                    track_id=tids[1],
                    method="mbid",
                ),
                ServerSong(server_id=s.id, server_song_id="unmatched", track_id=None),
                ServerSong(
                    server_id=other.id, server_song_id="s0", track_id=tids[3], method="path"
                ),
                ServerArtist(server_id=s.id, server_artist_id="ar0", name="A0", artist_id=aids[0]),
                ServerArtist(server_id=s.id, server_artist_id="ar1", name="A1", artist_id=aids[1]),
                ServerArtist(server_id=s.id, server_artist_id="ar-none", name="?"),
            ]
        )
    assert srv.song_to_track(store, "navi", "s0") == tids[0]
    assert srv.song_to_track(store, "gonic", "s0") == tids[3]  # namespaces never mix
    assert srv.song_to_track(store, s, "unmatched") is None
    assert srv.song_to_track(store, s.id, "nope") is None
    assert srv.songs_to_tracks(store, "navi", ["s1", "s9", "x"]) == {"s1": tids[1], "s9": tids[1]}
    assert srv.track_to_song(store, "navi", tids[1]) == "s9"
    assert srv.track_to_song(store, "navi", tids[2]) is None
    assert srv.tracks_to_songs(store, "navi", tids) == {tids[0]: "s0", tids[1]: "s9"}
    assert srv.server_artist_to_artist(store, "navi", "ar1") == aids[1]
    assert srv.server_artist_to_artist(store, "navi", "ar-none") is None
    assert srv.artist_to_server_artist(store, "navi", aids[0]) == "ar0"
    assert srv.artists_to_server_artists(store, "gonic", aids) == {}
    counts = srv.mapping_counts(store, "navi")
    assert counts["songs"] == 4 and counts["matched"] == 3
    assert counts["by_method"] == {"path": 1, "mbid": 1, "isrc": 0, "tags": 1, "title_duration": 0}
    with pytest.raises(NotFoundError):
        srv.song_to_track(store, "missing", "s0")
    # removing a server drops its mappings, not the other server's
    srv.remove_server(store, "navi")
    with store.session() as ses:
        left = ses.scalars(select(ServerSong.server_id)).all()
    assert left == [other.id]
