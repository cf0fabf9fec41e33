"""The API's in-process read cache: artist vectors in memory and ready-encoded responses.

Hot read endpoints (similar artists, cluster detail) must answer in well under a millisecond of
CPU. Instead of three database round trips and a vector-index scan per request, each API process
keeps

* an **artist snapshot**: ids [shape=(n,), int64, ascending], vectors [shape=(n, 64), float32],
  their norms and the artists' names, loaded in one query. Similar artists are answered from it by
  the same exact k-NN code as the store's in-memory backend
  (:class:`sonicmap.store.vectors.MemoryIndex`: one matrix-vector product, ``argpartition``,
  float64 re-rank of the candidates, ties by id), ranked and blended exactly like
  :func:`sonicmap.pipeline.embeddings.similar_artists` (tested to give the same answer);
* a bounded LRU of **encoded response bodies** (bytes), keyed on the request's parameters.

Both are tagged with a **generation** that moves whenever the database may have changed, so a
reply never comes from data older than the last commit before the request:

* SQLite: ``PRAGMA data_version`` read on a connection of the cache's own. SQLite changes it for
  every commit made by any other connection (any process), so it costs a few microseconds and
  misses nothing; it also moves for writes that don't matter here (scan progress, job runs),
  which only costs a reload.
* PostgreSQL: ``txid_current_snapshot()`` (one round trip) changes whenever any write transaction
  of the server ends; only then is a second query run, ``count(*)`` and the newest row version
  (``max(xmin)``) of each table the answers depend on, and the generation moves only if that
  changed (writes to other tables or databases cost one extra query, no reload).
* Anything else (in-memory SQLite): no cache; every request takes the regular path.

Memory is bounded: one snapshot per process (≈ 300 bytes per artist: 256 for the vector, plus the
name; 10k artists ≈ 3 MB), cluster memberships of the active model loaded only when a request
blends them in, and the response LRU capped in entries and bytes (:data:`MAX_ENTRIES`,
:data:`MAX_BYTES`). A multi-process server (``--workers N``) holds one cache per process.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from sonicmap.store.schema import Artist, ArtistCluster, ArtistEmbedding, GmmCluster, GmmModel
from sonicmap.store.vectors import MemoryIndex, stack

log = logging.getLogger(__name__)

MAX_ENTRIES = 4096
"""Response bodies kept per process (least recently used dropped first)."""
MAX_BYTES = 16 * 1024 * 1024
"""Total size of the response bodies kept per process."""

# The tables whose content the cached answers depend on (PostgreSQL's second-level check).
_TABLES = tuple(
    t.__tablename__ for t in (Artist, ArtistEmbedding, GmmModel, GmmCluster, ArtistCluster)
)


# ------------------------------------------------------------------------------------------
# change stamps
# ------------------------------------------------------------------------------------------


class _Stamp:
    """Reads a value that differs whenever the database may have changed since the last read."""

    def read(self) -> Hashable:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _SqliteStamp(_Stamp):
    """``PRAGMA data_version`` on a dedicated connection (changes on other connections' commits)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: Any = None

    def read(self) -> Hashable:
        if self._conn is None:
            import sqlean

            self._conn = sqlean.connect(self.path, check_same_thread=False, isolation_level=None)
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _PgStamp(_Stamp):
    """Server-wide transaction snapshot; when it moves, count + newest row version per table."""

    FINE = "SELECT " + ", ".join(
        f"(SELECT count(*)::text || ':' || coalesce(max(xmin::text::bigint), 0)::text FROM {t})"
        for t in _TABLES
    )

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._conn: Any = None
        self._coarse: Any = None
        self._fine: Any = None

    def read(self) -> Hashable:
        if self._conn is None:
            import psycopg

            url = self.engine.url.set(drivername="postgresql")
            self._conn = psycopg.connect(
                url.render_as_string(hide_password=False), autocommit=True, connect_timeout=3
            )
        cur = self._conn.cursor()
        try:
            cur.execute("SELECT txid_current_snapshot()::text")
            coarse = cur.fetchone()[0]
            if coarse != self._coarse or self._fine is None:
                # Read the fine stamp after the coarse one: data committed later moves the coarse
                # stamp again, so nothing is missed.
                cur.execute(self.FINE)
                self._fine = tuple(cur.fetchone())
                self._coarse = coarse
        finally:
            cur.close()
        return self._fine

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
                self._coarse = self._fine = None


def _make_stamp(engine: Any) -> _Stamp | None:
    url = engine.url
    name = url.get_backend_name()
    if name == "sqlite":
        db = url.database
        if not db or db == ":memory:" or str(db).startswith("file:"):
            return None
        return _SqliteStamp(str(db))
    if name == "postgresql":
        return _PgStamp(engine)
    return None


# ------------------------------------------------------------------------------------------
# the artist snapshot
# ------------------------------------------------------------------------------------------


@dataclass
class ArtistSnapshot:
    """Every artist vector with its artist's name, as of one generation."""

    generation: int
    ids: np.ndarray  # [shape=(n,), int64], ascending
    vecs: np.ndarray  # [shape=(n, 64), float32]
    names: list[str]
    index: MemoryIndex
    active_model: int | None
    # artist id -> membership distribution under ``active_model`` (lazy; see ReadCache.memberships)
    memberships: dict[int, np.ndarray] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def row(self, artist_id: int) -> int | None:
        i = int(np.searchsorted(self.ids, artist_id))
        return i if i < len(self.ids) and int(self.ids[i]) == artist_id else None


# ------------------------------------------------------------------------------------------
# the cache
# ------------------------------------------------------------------------------------------


class ReadCache:
    """Per-process cache of the hot read endpoints (see the module docs).

    ``check()`` is called once per request: it returns the current generation (or None when the
    cache is unavailable and the request must take the regular path). ``snapshot(gen)`` and the
    response LRU (``get`` / ``put``) are then used with that generation.
    """

    def __init__(
        self,
        store: Any,
        *,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        enabled: bool = True,
    ) -> None:
        self.store = store
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._stamp = _make_stamp(store.engine) if enabled else None
        self.inline = isinstance(self._stamp, _SqliteStamp)
        """True when ``check()`` does no network I/O (may run on the event loop)."""
        self._stamp_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._lru_lock = threading.Lock()
        self._last: Hashable = object()
        self.generation = 0
        self._snap: ArtistSnapshot | None = None
        self._lru: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lru_bytes = 0
        self.loads = 0

    @property
    def available(self) -> bool:
        return self._stamp is not None

    def close(self) -> None:
        with self._stamp_lock:
            if self._stamp is not None:
                self._stamp.close()
        self._snap = None
        self.clear()

    # -- freshness --------------------------------------------------------------------------

    def check(self) -> int | None:
        """The current generation; None if the change stamp cannot be read (database down)."""
        if self._stamp is None:
            return None
        with self._stamp_lock:
            try:
                value = self._stamp.read()
            except Exception as exc:  # the regular path reports the error properly
                log.debug("read cache: change stamp unavailable: %s", exc)
                self._stamp.close()
                self._last = object()
                return None
            if value != self._last:
                self._last = value
                self.generation += 1
                self.clear()
            return self.generation

    # -- artist snapshot --------------------------------------------------------------------

    def ready_snapshot(
        self, generation: int, *, memberships: bool = False
    ) -> ArtistSnapshot | None:
        """The snapshot of ``generation`` (with its :meth:`memberships` if asked) if it is loaded
        already (no I/O), else None."""
        snap = self._snap
        if snap is None or snap.generation < generation:
            return None
        return None if memberships and snap.memberships is None else snap

    def snapshot(self, generation: int, *, memberships: bool = False) -> ArtistSnapshot:
        """The artist snapshot of ``generation`` (loaded from the database if older), with its
        :meth:`memberships` loaded too if asked."""
        snap = self.ready_snapshot(generation)
        if snap is None:
            with self._load_lock:
                snap = self.ready_snapshot(generation)
                if snap is None:
                    snap = self._snap = self._load(generation)
        if memberships:
            self.memberships(snap)
        return snap

    def _load(self, generation: int) -> ArtistSnapshot:
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(ArtistEmbedding.artist_id, ArtistEmbedding.vector, Artist.name)
                .join(Artist, Artist.id == ArtistEmbedding.artist_id)
                .order_by(ArtistEmbedding.artist_id)
            ).all()
            active = conn.execute(
                select(GmmModel.id)
                .where(GmmModel.status == "active")
                .order_by(GmmModel.id.desc())
                .limit(1)
            ).scalar()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = stack([r[1] for r in rows])
        names = [r[2] for r in rows]
        self.loads += 1
        log.debug("read cache: loaded artists=%d generation=%d", len(ids), generation)
        return ArtistSnapshot(
            generation=generation,
            ids=ids,
            vecs=vecs,
            names=names,
            index=MemoryIndex(ids, vecs),
            active_model=None if active is None else int(active),
        )

    def memberships(self, snap: ArtistSnapshot) -> dict[int, np.ndarray]:
        """Membership distributions under the snapshot's active model (artists with one only)."""
        if snap.memberships is not None:
            return snap.memberships
        from sonicmap.pipeline.embeddings import membership_distribution

        with snap._lock:
            if snap.memberships is None:
                out: dict[int, np.ndarray] = {}
                if snap.active_model is not None:
                    with self.store.engine.connect() as conn:
                        for a, b in conn.execute(
                            select(ArtistCluster.artist_id, ArtistCluster.probabilities).where(
                                ArtistCluster.model_id == snap.active_model
                            )
                        ):
                            p = membership_distribution(b)
                            if p is not None:
                                out[int(a)] = p
                snap.memberships = out
        return snap.memberships

    def similar_artists(
        self, snap: ArtistSnapshot, artist_id: int, k: int, *, membership_weight: float = 0.0
    ) -> list[tuple[int, str, float, float]] | None:
        """``[(id, name, score, similarity)]`` best first, as
        :func:`pipeline.embeddings.similar_artists`
        (same ranking: :func:`~sonicmap.pipeline.embeddings.rank_similar_artists`).

        None when the artist has no vector in the snapshot (unknown id, or not embedded): the
        caller takes the regular path, which says which. ``membership_weight > 0`` needs
        :meth:`memberships` to have been loaded (it is loaded here otherwise).
        """
        from sonicmap.pipeline.embeddings import rank_similar_artists
        from sonicmap.sequencing import similarity

        row = snap.row(artist_id)
        if row is None:
            return None
        q = snap.vecs[row]
        if not q.any():
            return []
        ranked = rank_similar_artists(
            snap.index.knn,
            q,
            artist_id,
            k,
            float(membership_weight),
            lambda _: self.memberships(snap),
        )
        # (every hit is one of the snapshot's ids: its row is found by bisection)
        rows = np.searchsorted(snap.ids, [aid for _, aid, *_ in ranked]).tolist()
        return [
            (aid, snap.names[i], score, similarity(dist))
            for (score, aid, *_, dist), i in zip(ranked, rows, strict=True)
        ]

    # -- encoded responses --------------------------------------------------------------------

    def get(self, generation: int, key: Hashable) -> bytes | None:
        with self._lru_lock:
            body = self._lru.get((generation, key))
            if body is not None:
                self._lru.move_to_end((generation, key))
            return body

    def put(self, generation: int, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes // 8:
            return
        with self._lru_lock:
            if generation != self.generation:
                return  # computed for a generation that is already gone
            k = (generation, key)
            old = self._lru.pop(k, None)
            if old is not None:
                self._lru_bytes -= len(old)
            self._lru[k] = body
            self._lru_bytes += len(body)
            while self._lru and (
                len(self._lru) > self.max_entries or self._lru_bytes > self.max_bytes
            ):
                _, dropped = self._lru.popitem(last=False)
                self._lru_bytes -= len(dropped)

    def clear(self) -> None:
        with self._lru_lock:
            self._lru.clear()
            self._lru_bytes = 0

    def stats(self) -> dict[str, int]:
        with self._lru_lock:
            return {
                "generation": self.generation,
                "entries": len(self._lru),
                "bytes": self._lru_bytes,
                "loads": self.loads,
            }
