"""The sync's storage on both database backends (SQLite and PostgreSQL): first sync, re-sync,
every id changed, vanished songs, resumption. The server is an in-process stand-in for the client
protocol (pages of songs); the real servers are in test_subsonic / test_jellyfin."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from sonicmap.config import load_config
from sonicmap.errors import ServerError
from sonicmap.library.matching import RemoteSong
from sonicmap.pipeline import servers as srv
from sonicmap.pipeline.serversync import sync_server
from sonicmap.store.db import Store
from sonicmap.store.schema import Artist, ScanSession, ServerSong, Track

ROOT = "/m"


class Catalogue:
    """Songs in pages of 3; ``fail_after`` pages then a network error."""

    requests = 0
    server_seconds = 0.0
    username = "u"

    def __init__(self, songs: list[RemoteSong], fail_after: int | None = None) -> None:
        self.songs, self.fail_after = songs, fail_after

    def iter_catalogue(self, cursor: Any = None) -> Any:
        off = int((cursor or {}).get("offset", 0))
        n = 0
        while off < len(self.songs):
            if self.fail_after is not None and n == self.fail_after:
                raise ServerError("s", "cannot reach http://s (connection reset)")
            page = self.songs[off : off + 3]
            off += len(page)
            n += 1
            yield page, {"via": "search3", "offset": off}

    def playlists(self) -> list[dict[str, Any]]:
        return []


def songs(prefix: str, n: int) -> list[RemoteSong]:
    return [
        RemoteSong(f"{prefix}{i}", title=f"T{i}", artist=f"A{i % 2}", album="X",
                   artist_id=f"{prefix}ar{i % 2}", duration_s=100.0, path=f"A{i % 2}/X/{i:02d}.flac")
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture
def library(store: Store) -> Store:
    with store.session() as ses:
        ses.add(ScanSession(status="completed", roots=[ROOT]))
        ses.execute(
            insert(Artist), [{"id": a + 1, "key": f"name:a{a}", "name": f"A{a}"} for a in range(2)]
        )
        ses.execute(
            insert(Track),
            [{"id": i + 1, "path": f"{ROOT}/A{i % 2}/X/{i:02d}.flac", "size": 1, "mtime": 0.0,
              "title": f"T{i}", "duration_s": 100.5, "artist_id": i % 2 + 1,
              "tags": {"title": f"T{i}", "artist": f"A{i % 2}", "album": "X"}} for i in range(8)],
        )  # fmt: skip
    return store


def mapping(store: Store) -> dict[str, int | None]:
    with store.session() as ses:
        return dict(ses.execute(select(ServerSong.server_song_id, ServerSong.track_id)).all())


def test_sync_resync_new_ids_vanished_and_resume(library: Store, tmp_path: Any) -> None:
    cfg = load_config({"SONICMAP_DATA_DIR": str(tmp_path)})
    info = srv.add_server(
        library, name="s", kind="subsonic", url="http://s", username="u",
        secret={"type": "password", "source": "stored", "value": "p"},
    )  # fmt: skip
    rep = sync_server(library, cfg, info, Catalogue(songs("a", 8)))
    assert rep.matched["path"] == 8 and rep.unmatched_local == 0 and rep.pages == 3
    assert mapping(library) == {f"a{i}": i + 1 for i in range(8)}
    assert srv.artists_to_server_artists(library, "s", [1, 2]) == {1: "aar0", 2: "aar1"}
    rep = sync_server(library, cfg, info, Catalogue(songs("a", 8)))
    assert rep.changed_ids == 0 and rep.dropped == 0
    # every id new, two songs gone from the server
    rep = sync_server(library, cfg, info, Catalogue(songs("b", 6)))
    assert rep.changed_ids == 6 and rep.dropped == 8 and rep.unmatched_local == 2
    assert mapping(library) == {f"b{i}": i + 1 for i in range(6)}
    assert srv.server_artist_to_artist(library, "s", "aar0") is None
    assert srv.server_artist_to_artist(library, "s", "bar0") == 1
    # a sync cut after one page resumes at the second
    with pytest.raises(ServerError):
        sync_server(library, cfg, info, Catalogue(songs("c", 8), fail_after=1))
    rep = sync_server(library, cfg, info, Catalogue(songs("c", 8)))
    assert rep.resumed and rep.pages == 2 and rep.matched_total == 8
    assert mapping(library) == {f"c{i}": i + 1 for i in range(8)}
    assert rep.changed_ids == 6 and rep.dropped == 6
