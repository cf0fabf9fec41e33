"""The plugin routes' in-memory view of the library: vectors in an IVF index, display rows and
each server's id mapping, so ``similar_tracks`` and ``find_path`` touch no database.

Jellyfin calls ``similar_tracks`` up to 20 times in a row inside one Instant Mix and Ampache gives
up after 7 s, so these two answers come from memory: one :class:`Snapshot` per API process (about
40 MB at 100,000 tracks), built in a background thread at start-up and again whenever the stored
tracks, embeddings or server mappings change. A change is seen by a cheap fingerprint query run at
most every :data:`CHECK_INTERVAL_S` seconds; until the first snapshot is ready (and while nothing
is embedded) the routes answer through the pipeline and the database, with the same results up
to the IVF's approximation (:mod:`sonicmap.embedding.ivf`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select

from sonicmap.embedding.ivf import IvfIndex
from sonicmap.library.identity import normalise_name
from sonicmap.store import schema as db
from sonicmap.store.db import Store

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 5.0
"""At most this long between a change in the database and the snapshot noticing it."""
NONE = -1


@dataclass
class ServerMap:
    """One server's songs over the snapshot's rows."""

    song_of_row: list[str | None]
    row_of_song: dict[str, int]
    has: np.ndarray  # [n] bool: the server has a song for this row


@dataclass
class Snapshot:
    stamp: tuple[Any, ...]
    ids: np.ndarray  # [n] int64 track ids
    unit: np.ndarray  # [n, 64] float32 unit vectors (zero rows for zero vectors)
    artist: np.ndarray  # [n] int64 (NONE unknown)
    album: np.ndarray  # [n] int64 (NONE unknown)
    recording: np.ndarray  # [n] int64 recording key (NONE: its own)
    title: list[str | None]
    artist_name: list[str | None]
    album_title: list[str | None]
    album_artist: list[str | None]
    ivf: IvfIndex
    servers: dict[int, tuple[int, Any, ServerMap]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def loaded_map(self, server_id: int, generation: int, synced: Any) -> ServerMap | None:
        """The mapping of one server if loaded for this sync of it (no database), else None."""
        got = self.servers.get(server_id)
        if got is not None and got[0] == generation and got[1] == synced:
            return got[2]
        return None

    def server_map(self, store: Store, server_id: int, generation: int, synced: Any) -> ServerMap:
        """The mapping of one server, loaded once per sync of that server."""
        got = self.loaded_map(server_id, generation, synced)
        if got is not None:
            return got
        with self.lock:
            got = self.servers.get(server_id)
            if got is not None and got[0] == generation and got[1] == synced:
                return got[2]
            row_of_track = {int(t): j for j, t in enumerate(self.ids.tolist())}
            with store.engine.connect() as conn:
                ss = db.ServerSong
                rows = conn.execute(
                    select(ss.server_song_id, ss.track_id, ss.method)
                    .where(ss.server_id == server_id, ss.track_id.is_not(None))
                    .order_by(ss.server_song_id)
                ).all()
            rank = {m: i for i, m in enumerate(("path", "mbid", "isrc", "tags", "title_duration"))}
            song_of_row: list[str | None] = [None] * len(self.ids)
            best: dict[int, tuple[int, str]] = {}
            row_of_song: dict[str, int] = {}
            for song, track, method in rows:
                j = row_of_track.get(int(track))
                if j is None:
                    continue
                row_of_song[str(song)] = j
                key = (rank.get(method or "", 9), str(song))
                if j not in best or key < best[j]:
                    best[j] = key
            for j, (_r, song) in best.items():
                song_of_row[j] = song
            has = np.array([s is not None for s in song_of_row], dtype=bool)
            m = ServerMap(song_of_row, row_of_song, has)
            self.servers[server_id] = (generation, synced, m)
            return m


def fingerprint(store: Store) -> tuple[Any, ...]:
    """What changes when tracks, their embeddings or the track rows change."""
    with store.engine.connect() as conn:
        emb = conn.execute(select(func.count(), func.max(db.TrackEmbedding.updated_at))).one()
        trk = conn.execute(select(func.count(), func.max(db.Track.updated_at))).one()
    return (tuple(emb), tuple(trk))


def build(store: Store, stamp: tuple[Any, ...]) -> Snapshot | None:
    """Read every embedded track into a new :class:`Snapshot` (None: nothing embedded)."""
    t0 = time.perf_counter()
    stmt = (
        select(
            db.Track.id,
            db.Track.title,
            db.Track.artist_id,
            db.Artist.name,
            db.Track.album_id,
            db.Album.title,
            db.Album.album_artist,
            db.TrackEmbedding.vector,
        )
        .join(db.TrackEmbedding, db.TrackEmbedding.track_id == db.Track.id)
        .outerjoin(db.Artist, db.Artist.id == db.Track.artist_id)
        .outerjoin(db.Album, db.Album.id == db.Track.album_id)
        .order_by(db.Track.id)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    if not rows:
        return None
    n = len(rows)
    vecs = np.frombuffer(b"".join(bytes(r[7]) for r in rows), dtype="<f4").reshape(n, -1)
    ivf = IvfIndex.build(vecs)
    unit = np.empty_like(ivf.vectors)
    unit[ivf.rows] = ivf.vectors
    keys: dict[tuple[int, str], int] = {}
    rec = np.full(n, NONE, np.int64)
    for j, r in enumerate(rows):
        title = normalise_name(r[1])
        if r[2] is not None and title:
            rec[j] = keys.setdefault((int(r[2]), title), len(keys))
    snap = Snapshot(
        stamp=stamp,
        ids=np.array([r[0] for r in rows], np.int64),
        unit=unit,
        artist=np.array([NONE if r[2] is None else r[2] for r in rows], np.int64),
        album=np.array([NONE if r[4] is None else r[4] for r in rows], np.int64),
        recording=rec,
        title=[r[1] for r in rows],
        artist_name=[r[3] for r in rows],
        album_title=[r[5] for r in rows],
        album_artist=[r[6] for r in rows],
        ivf=ivf,
    )
    log.info("plugin snapshot: %d tracks in %.1f s", n, time.perf_counter() - t0)
    return snap


class SnapshotHolder:
    """The process's current snapshot, refreshed in the background when the database changes."""

    def __init__(self, store: Store, *, builder: Callable[..., Snapshot | None] = build) -> None:
        self.store = store
        self._builder = builder
        self._snap: Snapshot | None = None
        self._servers: list[Any] | None = None
        self._checked = 0.0
        self._building = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Build the first snapshot in the background (the routes work without it meanwhile)."""
        self._refresh_async(force=True)

    def current(self) -> Snapshot | None:
        now = time.monotonic()
        if now - self._checked >= CHECK_INTERVAL_S:
            self._checked = now
            self._refresh_async()
        return self._snap

    def ready(self) -> tuple[Snapshot, list[Any]] | None:
        """The snapshot and the configured servers when both are in memory (never touches the
        database: safe on the event loop), else None."""
        snap = self.current()
        known = self._servers
        return None if snap is None or known is None else (snap, known)

    def servers(self) -> list[Any]:
        """The configured music servers (:class:`~sonicmap.pipeline.servers.ServerInfo`), as
        read at most :data:`CHECK_INTERVAL_S` ago."""
        self.current()
        if self._servers is None:
            from sonicmap.pipeline.servers import list_servers

            self._servers = list_servers(self.store)
        return self._servers

    def _refresh_async(self, *, force: bool = False) -> None:
        with self._lock:
            if self._building:
                return
            self._building = True
        threading.Thread(target=self._refresh, args=(force,), daemon=True).start()

    def _refresh(self, force: bool) -> None:
        try:
            from sonicmap.pipeline.servers import list_servers

            self._servers = list_servers(self.store)
            stamp = fingerprint(self.store)
            if force or self._snap is None or self._snap.stamp != stamp:
                self._snap = self._builder(self.store, stamp)
        except Exception as exc:  # database down or not migrated: answer from the database
            log.warning("plugin snapshot not refreshed: %s", exc)
        finally:
            with self._lock:
                self._building = False

    def refresh_now(self) -> Snapshot | None:
        """Build synchronously (tests and benchmarks)."""
        self._refresh(force=True)
        return self._snap
