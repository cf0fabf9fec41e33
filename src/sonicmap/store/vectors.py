"""Exact cosine k-nearest-neighbour search over track and artist vectors.

One interface (:class:`VectorIndex`), three backends:

``sqlite-vec``
    SQLite (the embedded default): a ``vec0`` virtual table per kind (``vec_tracks``,
    ``vec_artists``) of unit-normalised vectors under ``distance_metric=l2`` (cosine distance =
    L2² / 2), searched by sqlite-vec's exact brute-force scan.
``pgvector``
    PostgreSQL whose server has the ``vector`` extension: a table per kind with a ``vector(64)``
    column, searched with ``<=>`` and no approximate index (a sequential scan, hence exact).
``numpy``
    Anything else (PostgreSQL without pgvector): the vectors are loaded into memory (float32) and
    searched by one matrix-vector product plus ``argpartition``.

The embeddings tables (``track_embeddings.vector``, ``artist_embeddings.vector``: 64 little-endian
float32, see :func:`to_blob`) are the source of truth. The index tables are derived data, created
on first use (not by Alembic, so migrations stay identical on both databases), filled from the
embeddings tables and then kept in step by triggers on those tables, so every writer (any process,
cascaded deletes included) is followed without calling the index. The numpy backend reloads when a
change counter (``app_state`` key ``vector_index.<kind>``, bumped by triggers) moves.

Results are identical on every backend: each backend proposes candidates, which are re-ranked by
the cosine distance computed in float64 from the stored float32 vectors, ties broken by id; the
candidate set is widened until it holds the true top k (engines round far below the margin).
"""

from __future__ import annotations

import logging
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import Connection, bindparam, select, text

from sonicmap.errors import NotFoundError, StoreError
from sonicmap.store.schema import KeyValue

log = logging.getLogger(__name__)

DIM = 64
Kind = Literal["track", "artist"]
BACKENDS = ("sqlite-vec", "pgvector", "numpy")
# Extra candidates fetched beyond k (+ excluded ids), so that the check below rarely has to widen
# the fetch (exactness never rests on it). Kept small: sqlite-vec's scan costs ~0.07 ms per extra
# candidate at 100k vectors (its per-chunk top-k selection is O(k)).
_MARGIN = 2
# Candidates whose engine distance lies within this of the k-th re-ranked distance may be tied
# with it; if the candidate set ends inside that band it is widened. Engines compute in float32:
# sqlite-vec's L2² over unit vectors errs by at most ~64·2⁻²⁴·L2² (< 4e-6 in cosine distance for
# neighbours within cosine distance 1), pgvector's cosine similarly.
_TIE_EPS = 1e-5


class VectorError(StoreError, ValueError):
    """A vector or a search request is malformed (shape, dtype, NaN, unknown kind, bad k)."""


@dataclass(frozen=True)
class _KindInfo:
    table: str  # embeddings table (source of truth)
    id_col: str
    index: str  # derived index table


KINDS: dict[str, _KindInfo] = {
    "track": _KindInfo("track_embeddings", "track_id", "vec_tracks"),
    "artist": _KindInfo("artist_embeddings", "artist_id", "vec_artists"),
}


# ------------------------------------------------------------------------------------------
# float32 blobs
# ------------------------------------------------------------------------------------------


def to_blob(v: Any) -> bytes:
    """Encode a vector as raw little-endian float32 bytes.

    v : array-like [shape=(n,)], any real dtype (converted to float32)
    returns : bytes of length 4 * n
    Raises :class:`VectorError` for a non-1-D or non-finite vector.
    """
    a = np.asarray(v, dtype="<f4")
    if a.ndim != 1:
        raise VectorError(f"expected a 1-D vector, got an array of shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise VectorError(
            f"expected finite values, got NaN or inf at index {int(np.argmin(np.isfinite(a)))}"
        )
    return a.tobytes()


def from_blob(b: bytes | bytearray | memoryview) -> np.ndarray:
    """Decode raw little-endian float32 bytes.

    returns : np.ndarray [shape=(len(b) // 4,), float32] (a fresh, writable array)
    """
    raw = bytes(b)
    if len(raw) % 4:
        raise VectorError(f"expected a multiple of 4 bytes of float32, got {len(raw)} bytes")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def _check_kind(kind: str) -> _KindInfo:
    try:
        return KINDS[kind]
    except KeyError:
        raise VectorError(f"unknown vector kind {kind!r}; expected 'track' or 'artist'") from None


def _as_vector(v: Any, what: str = "query") -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    if a.shape != (DIM,):
        raise VectorError(f"{what} vector must have shape ({DIM},), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise VectorError(f"{what} vector holds NaN or inf")
    return a


def _as_matrix(ids: Sequence[int], vectors: Any) -> tuple[list[int], np.ndarray]:
    ids = [int(i) for i in ids]
    m = (
        np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        if len(ids)
        else np.zeros((0, DIM), np.float32)
    )
    if m.shape != (len(ids), DIM):
        raise VectorError(f"expected vectors of shape ({len(ids)}, {DIM}), got {np.shape(vectors)}")
    if not np.all(np.isfinite(m)):
        raise VectorError("vectors hold NaN or inf")
    return ids, m


def cosine_distances(query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Cosine distance ``1 - cos`` in float64 (the figure every backend reports).

    query : np.ndarray [shape=(64,), float32]
    vectors : np.ndarray [shape=(n, 64), float32]
    returns : np.ndarray [shape=(n,), float64], rounded to 12 decimals; rows of zero norm get NaN.

    Each row is computed on its own (einsum: no BLAS kernel whose rounding depends on a row's
    position and the number of rows), and the rounding makes vectors of one direction (float32
    copies up to scale, whose exact distances differ by ~1e-16) tie exactly, so that every
    backend and every candidate set gives the same figure and ties are broken by id.
    """
    q = query.astype(np.float64)
    v = vectors.astype(np.float64)
    qn = float(np.sqrt(q @ q))
    vn = np.sqrt(np.einsum("ij,ij->i", v, v))
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.round(1.0 - np.einsum("ij,j->i", v, q) / (vn * qn), 12)
    d[vn == 0] = np.nan
    return d


# ------------------------------------------------------------------------------------------
# The interface
# ------------------------------------------------------------------------------------------


class VectorIndex(ABC):
    """Exact cosine k-NN over ``track`` and ``artist`` vectors of one store."""

    backend: str = ""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.engine = store.engine
        self._ready: set[str] = set()
        self._lock = threading.RLock()

    # -- public API -------------------------------------------------------------------------

    def knn(
        self, kind: str, query: Any, k: int, *, exclude: Iterable[int] = ()
    ) -> list[tuple[int, float]]:
        """The ``k`` nearest vectors to ``query`` by cosine distance.

        query : array-like [shape=(64,)], converted to float32
        k : number of neighbours (>= 1)
        exclude : ids left out of the result (e.g. the query item itself)
        returns : ``[(id, cosine_distance)]``, best first, ties broken by ascending id; fewer than
        ``k`` when the index holds fewer vectors. Vectors of zero norm are never returned.
        """
        info = _check_kind(kind)
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise VectorError(f"k must be a positive integer, got {k!r}")
        q = _as_vector(query)
        if not np.any(q):
            raise VectorError("query vector is all zeros; cosine distance is undefined")
        excl = {int(i) for i in exclude}
        self._ensure(kind)
        n = int(k) + len(excl) + _MARGIN
        while True:
            ids, vecs, engine_d = self._candidates(info, kind, q, n)
            d = cosine_distances(q, vecs) if len(ids) else np.zeros(0)
            rows = sorted(
                (float(dist), i)
                for i, dist in zip(ids, d.tolist(), strict=True)
                if i not in excl and dist == dist  # drop NaN (zero-norm vectors)
            )[: int(k)]
            if len(ids) < n or np.isnan(engine_d[-1]):
                break  # every vector (of non-zero norm) was a candidate
            # Unfetched vectors lie at or beyond the engine's last candidate; if that is clearly
            # past the k-th distance, nothing was cut. Otherwise a tie (or a near-tie hidden by
            # the engine's float32 rounding) may have been: widen and retry.
            if len(rows) == k and engine_d[-1] > rows[-1][0] + _TIE_EPS:
                break
            n *= 4
        return [(i, dist) for dist, i in rows]

    def knn_by_id(self, kind: str, id: int, k: int) -> list[tuple[int, float]]:
        """Neighbours of a stored item, excluding the item itself. Raises NotFoundError."""
        vec = self.get_vector(kind, id)
        return self.knn(kind, vec, k, exclude=(int(id),))

    def get_vector(self, kind: str, id: int) -> np.ndarray:
        """The stored vector of ``id`` (from the embeddings table). Raises NotFoundError."""
        info = _check_kind(kind)
        with self.engine.connect() as conn:
            b = conn.execute(
                text(f"SELECT vector FROM {info.table} WHERE {info.id_col} = :i"), {"i": int(id)}
            ).scalar()
        if b is None:
            raise NotFoundError(f"{kind} {id} has no vector (unknown id, or not embedded yet)")
        return from_blob(b)

    def count(self, kind: str) -> int:
        """Number of vectors of ``kind`` the index searches."""
        info = _check_kind(kind)
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {info.table}")).scalar() or 0)

    def upsert(self, kind: str, ids: Sequence[int], vectors: Any) -> None:
        """Bring the index in step with these ids' vectors right away.

        ids : [n] ids whose rows exist in the embeddings table
        vectors : array-like [shape=(n, 64)]
        Rows written to the embeddings tables reach the index on their own (triggers); this is for
        callers that want the open index updated without waiting for a change check.
        """
        _check_kind(kind)
        ids, m = _as_matrix(ids, vectors)
        if ids:
            self._ensure(kind)
            self._upsert(kind, ids, m)

    def delete(self, kind: str, ids: Sequence[int]) -> None:
        """Remove ids from the index (rows deleted from the embeddings table leave it on their own)."""
        _check_kind(kind)
        ids = [int(i) for i in ids]
        if ids:
            self._ensure(kind)
            self._delete(kind, ids)

    def rebuild(self, kind: str) -> int:
        """Drop and refill the derived index of ``kind`` from the embeddings table; returns its size."""
        _check_kind(kind)
        with self._lock:
            self._ready.discard(kind)
            self._rebuild(kind)
            self._ready.add(kind)
        return self.count(kind)

    # -- backend hooks ----------------------------------------------------------------------

    def _ensure(self, kind: str) -> None:
        if kind in self._ready:
            return
        with self._lock:
            if kind not in self._ready:
                self._setup(kind)
                self._ready.add(kind)

    def _stale(
        self,
        conn: Connection,
        kind: str,
        *,
        installed: bool,
        rows_table: str,
        src_where: str = "",
        quiet: bool = False,
    ) -> bool:
        """True when the derived index must be (re)built: missing or outdated pieces, or a row
        count that differs from the embeddings table (rows matching ``src_where``, an SQL
        condition; e.g. tables dropped and re-created by migrations)."""
        stale = not installed
        if installed:
            n_ix = conn.execute(text(f"SELECT count(*) FROM {rows_table}")).scalar()
            where = f" WHERE {src_where}" if src_where else ""
            n_src = conn.execute(text(f"SELECT count(*) FROM {KINDS[kind].table}{where}")).scalar()
            stale = n_ix != n_src
        if stale and not quiet:
            log.info("building vector index backend=%s kind=%s", self.backend, kind)
        return stale

    @abstractmethod
    def _setup(self, kind: str) -> None:
        """Create the derived structures if needed and make sure they match the source."""

    @abstractmethod
    def _rebuild(self, kind: str) -> None: ...

    @abstractmethod
    def _candidates(
        self, info: _KindInfo, kind: str, q: np.ndarray, n: int
    ) -> tuple[list[int], np.ndarray, np.ndarray]:
        """The engine's ``n`` best: ids, their float32 vectors as stored [shape=(m, 64)], engine
        cosine distances (ascending; NaN for zero-norm vectors, last)."""

    @abstractmethod
    def _upsert(self, kind: str, ids: list[int], m: np.ndarray) -> None: ...

    @abstractmethod
    def _delete(self, kind: str, ids: list[int]) -> None: ...


def _row_norms(vecs: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row [shape=(n,), float32] (einsum: one thread, no BLAS pool)."""
    return np.sqrt(np.einsum("ij,ij->i", vecs, vecs, dtype=np.float32))


def _stack(blobs: Sequence[bytes]) -> np.ndarray:
    """[n] float32 blobs of 64 values → np.ndarray [shape=(n, 64), float32]."""
    if not blobs:
        return np.zeros((0, DIM), np.float32)
    return (
        np.frombuffer(b"".join(bytes(b) for b in blobs), dtype="<f4")
        .reshape(-1, DIM)
        .astype(np.float32)
    )


# ------------------------------------------------------------------------------------------
# sqlite-vec
# ------------------------------------------------------------------------------------------


# Memory-map the database file for searches: sqlite-vec's scan then reads the vector chunks from
# the OS page cache without copying them through SQLite's small page cache (measured 25-40 %
# faster at 100k vectors). Address space only; the kernel shares and evicts the pages. SQLite maps
# at most the file's size; the limit must cover the whole file, since the vector chunks are
# usually written last (at 100k tracks they sit past 250 MB, behind the descriptors).
_MMAP_BYTES = 64 * 2**30 if sys.maxsize > 2**32 else 256 * 2**20
# sqlite-vec refuses KNN queries with k above this.
_VEC0_MAX_K = 4096
# An SQL condition on a float32 blob ``{v}``: its float32 L2 norm (as sqlite-vec computes it) is
# positive and finite, so that ``vec_normalize`` yields a unit vector. Vectors failing it (all
# zeros, or components beyond ~1e±19 whose squares under/overflow float32) stay out of vec0.
_SQL_DIRECTED = f"vec_distance_l2({{v}}, zeroblob({4 * DIM})) BETWEEN 1e-30 AND 1e30"


def _memory_map(conn: Connection) -> None:
    info = conn.connection.info
    if not info.get("sonicmap_mmap"):
        conn.exec_driver_sql(f"PRAGMA mmap_size={_MMAP_BYTES}")
        info["sonicmap_mmap"] = True


class SqliteVecIndex(VectorIndex):
    """``vec0`` virtual tables on SQLite, kept in step by triggers on the embeddings tables.

    The vec0 table holds the *unit-normalised* vectors (``vec_normalize``) under
    ``distance_metric=l2``: for unit vectors the cosine distance is ``L2² / 2``, and sqlite-vec's
    L2 scan is ~1.5× faster than its cosine scan (no per-row norms). Vectors without a direction
    (zero norm) are left out. An auxiliary column keeps each vector as stored (unnormalised) for
    the exact re-rank, so results are those of every other backend.
    """

    backend = "sqlite-vec"

    @staticmethod
    def _table_sql(info: _KindInfo) -> str:
        return (
            f"CREATE VIRTUAL TABLE {info.index} USING "
            f"vec0(embedding float[{DIM}] distance_metric=l2, +vector blob)"
        )

    @staticmethod
    def _trigger_sql(info: _KindInfo) -> dict[str, str]:
        """Trigger name → DDL, exactly as SQLite keeps it in ``sqlite_master`` (compared there to
        notice an index built by older code)."""
        t, c, ix = info.table, info.id_col, info.index
        new_ok = _SQL_DIRECTED.format(v="NEW.vector")
        return {
            f"{ix}_ai": f"CREATE TRIGGER {ix}_ai AFTER INSERT ON {t} WHEN {new_ok} BEGIN "
            f"INSERT INTO {ix}(rowid, embedding, vector) "
            f"VALUES (NEW.{c}, vec_normalize(NEW.vector), NEW.vector); END",
            f"{ix}_au": f"CREATE TRIGGER {ix}_au AFTER UPDATE OF vector, {c} ON {t} BEGIN "
            f"DELETE FROM {ix} WHERE rowid = OLD.{c}; "
            f"INSERT INTO {ix}(rowid, embedding, vector) "
            f"SELECT NEW.{c}, vec_normalize(NEW.vector), NEW.vector WHERE {new_ok}; END",
            f"{ix}_ad": f"CREATE TRIGGER {ix}_ad AFTER DELETE ON {t} BEGIN "
            f"DELETE FROM {ix} WHERE rowid = OLD.{c}; END",
        }

    def _setup(self, kind: str) -> None:
        info = KINDS[kind]
        with self.engine.connect() as conn:  # the usual case: a read finds everything in place
            if not self._needs_fill(conn, kind, quiet=True):
                return
        with self.engine.begin() as conn:
            # Take the write lock before looking again: of several processes finding the index
            # missing or outdated (e.g. API workers after an upgrade), one rebuilds and the others
            # wait for it (busy timeout), then find it built, instead of failing on a stale read.
            conn.execute(text(f"DELETE FROM {info.table} WHERE 0"))
            if self._needs_fill(conn, kind):
                self._fill(conn, info)

    def _needs_fill(self, conn: Connection, kind: str, *, quiet: bool = False) -> bool:
        info = KINDS[kind]
        expected = {info.index: self._table_sql(info), **self._trigger_sql(info)}
        found = dict(
            conn.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'trigger') "
                    "AND name IN :names"
                ).bindparams(bindparam("names", expanding=True)),
                {"names": list(expected)},
            ).all()
        )
        # an older definition (e.g. the first cosine table over raw vectors) is rebuilt once
        return self._stale(
            conn,
            kind,
            installed=found == expected,
            rows_table=f"{info.index}_rowids",
            src_where=_SQL_DIRECTED.format(v="vector"),
            quiet=quiet,
        )

    def _fill(self, conn: Connection, info: _KindInfo) -> None:
        triggers = self._trigger_sql(info)
        for name in triggers:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        conn.execute(text(f"DROP TABLE IF EXISTS {info.index}"))
        conn.execute(text(self._table_sql(info)))
        conn.execute(
            text(
                f"INSERT INTO {info.index}(rowid, embedding, vector) "
                f"SELECT {info.id_col}, vec_normalize(vector), vector FROM {info.table} "
                f"WHERE {_SQL_DIRECTED.format(v='vector')}"
            )
        )
        for sql in triggers.values():
            conn.execute(text(sql))

    def _rebuild(self, kind: str) -> None:
        with self.engine.begin() as conn:
            self._fill(conn, KINDS[kind])

    def count(self, kind: str) -> int:
        """Number of vectors searched (those of zero norm are not)."""
        info = _check_kind(kind)
        self._ensure(kind)
        with self.engine.connect() as conn:
            return int(
                conn.execute(text(f"SELECT count(*) FROM {info.index}_rowids")).scalar() or 0
            )

    def _candidates(
        self, info: _KindInfo, kind: str, q: np.ndarray, n: int
    ) -> tuple[list[int], np.ndarray, np.ndarray]:
        if n <= 0:
            return [], np.zeros((0, DIM), np.float32), np.zeros(0)
        if n <= _VEC0_MAX_K:
            sql = (
                f"SELECT rowid, distance, vector FROM {info.index} "
                "WHERE embedding MATCH ? AND k = ? ORDER BY distance"
            )
        else:  # beyond vec0's k limit: the same exact distances by a plain scan
            sql = (
                f"SELECT rowid, vec_distance_l2(embedding, ?) AS d, vector "
                f"FROM {info.index} ORDER BY d LIMIT ?"
            )
        qn = q.astype(np.float64)
        qn = (qn / np.sqrt(qn @ qn)).astype("<f4")
        with self.engine.connect() as conn:
            _memory_map(conn)
            rows = conn.exec_driver_sql(sql, (qn.tobytes(), int(n))).fetchall()
        # unit vectors: cosine distance = L2² / 2
        l2 = np.array([r[1] for r in rows], dtype=np.float64)
        return [r[0] for r in rows], _stack([r[2] for r in rows]), 0.5 * l2 * l2

    def _upsert(self, kind: str, ids: list[int], m: np.ndarray) -> None:
        ix = KINDS[kind].index
        with self.engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {ix} WHERE rowid = :i"), [{"i": i} for i in ids])
            conn.execute(
                text(
                    f"INSERT INTO {ix}(rowid, embedding, vector) SELECT :i, vec_normalize(:v), :v "
                    f"WHERE {_SQL_DIRECTED.format(v=':v')}"
                ),
                [{"i": i, "v": to_blob(v)} for i, v in zip(ids, m, strict=True)],
            )

    def _delete(self, kind: str, ids: list[int]) -> None:
        ix = KINDS[kind].index
        with self.engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {ix} WHERE rowid = :i"), [{"i": i} for i in ids])


# ------------------------------------------------------------------------------------------
# pgvector
# ------------------------------------------------------------------------------------------

# Decode 4 little-endian bytes per value into an exact float32 (IEEE 754 by arithmetic: sign,
# 8-bit exponent, 23-bit mantissa; every step is exact in float8). Finite values only.
_PG_DECODE_FN = """
CREATE OR REPLACE FUNCTION sonicmap_f32le_to_real(b bytea) RETURNS real[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
  SELECT array_agg(
           ((1 - 2 * s) * CASE WHEN e = 0 THEN m * 2.0::float8 ^ (-149)
                               ELSE (8388608 + m) * 2.0::float8 ^ (e - 150) END)::real
           ORDER BY i)
  FROM (SELECT i,
               get_byte(b, 4 * i + 3) >> 7 AS s,
               ((get_byte(b, 4 * i + 3) & 127) << 1) | (get_byte(b, 4 * i + 2) >> 7) AS e,
               ((get_byte(b, 4 * i + 2) & 127) << 16) | (get_byte(b, 4 * i + 1) << 8)
                 | get_byte(b, 4 * i) AS m
        FROM generate_series(0, length(b) / 4 - 1) AS i) AS parts
$fn$
"""


def _pg_trigger_exists(conn: Connection, name: str) -> bool:
    found = conn.execute(
        text("SELECT count(*) FROM pg_trigger WHERE tgname = :n AND NOT tgisinternal"), {"n": name}
    ).scalar()
    return bool(found)


class PgVectorIndex(VectorIndex):
    """A ``vector(64)`` table per kind on PostgreSQL, searched exactly with ``<=>``."""

    backend = "pgvector"

    @staticmethod
    def _ddl(info: _KindInfo) -> list[str]:
        t, c, ix = info.table, info.id_col, info.index
        return [
            _PG_DECODE_FN,
            f"CREATE TABLE IF NOT EXISTS {ix} (id integer PRIMARY KEY, embedding vector({DIM}) NOT NULL)",
            f"""CREATE OR REPLACE FUNCTION {ix}_sync() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
              IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.{c} <> NEW.{c}) THEN
                DELETE FROM {ix} WHERE id = OLD.{c};
              END IF;
              IF TG_OP <> 'DELETE' THEN
                INSERT INTO {ix}(id, embedding)
                VALUES (NEW.{c}, sonicmap_f32le_to_real(NEW.vector)::vector)
                ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding;
              END IF;
              RETURN NULL;
            END $fn$""",
            # (DROP + CREATE rather than CREATE OR REPLACE TRIGGER: PostgreSQL < 14 lacks it)
            f"DROP TRIGGER IF EXISTS {ix}_sync ON {t}",
            f"CREATE TRIGGER {ix}_sync AFTER INSERT OR DELETE OR UPDATE OF vector, {c} "
            f"ON {t} FOR EACH ROW EXECUTE FUNCTION {ix}_sync()",
        ]

    def _setup(self, kind: str) -> None:
        info = KINDS[kind]
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": info.index})
            has_table = conn.execute(text("SELECT to_regclass(:t)"), {"t": info.index}).scalar()
            installed = bool(has_table) and _pg_trigger_exists(conn, f"{info.index}_sync")
            if self._stale(conn, kind, installed=installed, rows_table=info.index):
                self._fill(conn, info)

    def _fill(self, conn: Connection, info: _KindInfo) -> None:
        for sql in self._ddl(info):
            conn.execute(text(sql))
        conn.execute(text(f"TRUNCATE {info.index}"))
        conn.execute(
            text(
                f"INSERT INTO {info.index}(id, embedding) "
                f"SELECT {info.id_col}, sonicmap_f32le_to_real(vector)::vector FROM {info.table}"
            )
        )
        conn.execute(text(f"ANALYZE {info.index}"))

    def _rebuild(self, kind: str) -> None:
        info = KINDS[kind]
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": info.index})
            self._fill(conn, info)

    def count(self, kind: str) -> int:
        info = _check_kind(kind)
        self._ensure(kind)
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {info.index}")).scalar() or 0)

    @staticmethod
    def _literal(v: np.ndarray) -> str:
        # repr of the float64 image of each float32 is parsed back (strtof) to the same float32.
        return "[" + ",".join(repr(float(x)) for x in v) + "]"

    def _candidates(
        self, info: _KindInfo, kind: str, q: np.ndarray, n: int
    ) -> tuple[list[int], np.ndarray, np.ndarray]:
        if n <= 0:
            return [], np.zeros((0, DIM), np.float32), np.zeros(0)
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT id, embedding <=> CAST(:q AS vector) AS d, embedding::real[] "
                    f"FROM {info.index} ORDER BY d LIMIT :n"
                ),
                {"q": self._literal(q), "n": int(n)},
            ).all()
        ids = [int(r[0]) for r in rows]
        dist = np.array([np.nan if r[1] is None else r[1] for r in rows], dtype=np.float64)
        vecs = np.array([r[2] for r in rows], dtype=np.float32).reshape(-1, DIM)
        return ids, vecs, dist

    def _upsert(self, kind: str, ids: list[int], m: np.ndarray) -> None:
        ix = KINDS[kind].index
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO {ix}(id, embedding) VALUES (:i, CAST(:v AS vector)) "
                    "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding"
                ),
                [{"i": i, "v": self._literal(v)} for i, v in zip(ids, m, strict=True)],
            )

    def _delete(self, kind: str, ids: list[int]) -> None:
        ix = KINDS[kind].index
        with self.engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {ix} WHERE id = ANY(:ids)"), {"ids": ids})


# ------------------------------------------------------------------------------------------
# numpy
# ------------------------------------------------------------------------------------------


class NumpyIndex(VectorIndex):
    """In-process brute force: vectors [shape=(n, 64), float32] in memory, reloaded on change.

    A change counter in ``app_state`` (key ``vector_index.<kind>``), bumped by triggers on the
    embeddings tables, tells every process that holds a copy when to reload.
    """

    backend = "numpy"

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        # kind -> (generation, ids [n] int64, vectors [n, 64] float32, norms [n] float32)
        self._data: dict[str, tuple[Any, np.ndarray, np.ndarray, np.ndarray]] = {}

    @property
    def _pg(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def _state_key(self, kind: str) -> str:
        return f"vector_index.{kind}"

    def _setup(self, kind: str) -> None:
        info = KINDS[kind]
        name = f"{info.index}_gen"
        key = self._state_key(kind)
        bump_pg = (
            "INSERT INTO app_state(key, value, updated_at) "
            f"VALUES ('{key}', json_build_object('generation', 1), now()) "
            "ON CONFLICT (key) DO UPDATE SET value = json_build_object('generation', "
            "COALESCE((app_state.value->>'generation')::bigint, 0) + 1), updated_at = now()"
        )
        with self.engine.begin() as conn:
            if self._pg:
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": name})
                if _pg_trigger_exists(conn, name):
                    return  # no DDL (and no table lock) when another process installed it
                conn.execute(
                    text(
                        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
                        f"AS $fn$ BEGIN {bump_pg}; RETURN NULL; END $fn$"
                    )
                )
                conn.execute(
                    text(
                        f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE OR "
                        f"TRUNCATE ON {info.table} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
                    )
                )
            else:
                bump = (
                    "INSERT INTO app_state(key, value, updated_at) "
                    f"VALUES ('{key}', json_object('generation', 1), CURRENT_TIMESTAMP) "
                    "ON CONFLICT (key) DO UPDATE SET value = json_object('generation', "
                    "COALESCE(json_extract(app_state.value, '$.generation'), 0) + 1), "
                    "updated_at = CURRENT_TIMESTAMP"
                )
                for op in ("INSERT", "UPDATE", "DELETE"):
                    conn.execute(
                        text(
                            f"CREATE TRIGGER IF NOT EXISTS {name}_{op.lower()} AFTER {op} ON "
                            f"{info.table} BEGIN {bump}; END"
                        )
                    )

    def _generation(self, conn: Connection, kind: str) -> Any:
        value = conn.execute(
            select(KeyValue.value).where(KeyValue.key == self._state_key(kind))
        ).scalar()
        return value.get("generation") if isinstance(value, dict) else value

    def _load(self, kind: str) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
        info = KINDS[kind]
        with self.engine.connect() as conn:
            gen = self._generation(conn, kind)
            rows = conn.execute(
                text(f"SELECT {info.id_col}, vector FROM {info.table} ORDER BY {info.id_col}")
            ).all()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vecs = _stack([r[1] for r in rows])
        norms = _row_norms(vecs)
        log.debug("loaded vectors backend=numpy kind=%s n=%d generation=%s", kind, len(ids), gen)
        return gen, ids, vecs, norms

    def _current(self, kind: str) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
        data = self._data.get(kind)
        if data is not None:
            with self.engine.connect() as conn:
                if self._generation(conn, kind) == data[0]:
                    return data
        with self._lock:
            data = self._load(kind)
            self._data[kind] = data
        return data

    def _rebuild(self, kind: str) -> None:
        self._setup(kind)
        with self._lock:
            self._data[kind] = self._load(kind)

    def count(self, kind: str) -> int:
        _check_kind(kind)
        self._ensure(kind)
        return len(self._current(kind)[1])

    def _candidates(
        self, info: _KindInfo, kind: str, q: np.ndarray, n: int
    ) -> tuple[list[int], np.ndarray, np.ndarray]:
        _gen, ids, vecs, norms = self._current(kind)
        n = min(n, len(ids))
        if n <= 0:
            return [], np.zeros((0, DIM), np.float32), np.zeros(0)
        # einsum, not BLAS: one thread, no spinning BLAS pool fighting other work for the cores
        # (a 2-thread OpenBLAS matvec measured 30x slower than this on a busy 2-core machine).
        with np.errstate(divide="ignore", invalid="ignore"):
            sim = np.einsum("ij,j->i", vecs, q) / (norms * np.float32(np.linalg.norm(q)))
        sim[norms == 0] = -np.inf
        top = np.argpartition(-sim, n - 1)[:n] if n < len(ids) else np.arange(len(ids))
        top = top[np.lexsort((ids[top], -sim[top]))]
        dist = 1.0 - sim[top].astype(np.float64)
        dist[~np.isfinite(dist)] = np.nan
        return ids[top].tolist(), vecs[top], dist

    def _upsert(self, kind: str, ids: list[int], m: np.ndarray) -> None:
        with self._lock:
            gen, old_ids, vecs, norms = self._current(kind)
            keep = ~np.isin(old_ids, ids)
            new_ids = np.concatenate([old_ids[keep], np.array(ids, dtype=np.int64)])
            new_vecs = np.concatenate([vecs[keep], m])
            order = np.argsort(new_ids, kind="stable")
            new_vecs = new_vecs[order]
            new_norms = _row_norms(new_vecs)
            self._data[kind] = (gen, new_ids[order], new_vecs, new_norms)

    def _delete(self, kind: str, ids: list[int]) -> None:
        with self._lock:
            gen, old_ids, vecs, norms = self._current(kind)
            keep = ~np.isin(old_ids, ids)
            self._data[kind] = (gen, old_ids[keep], vecs[keep], norms[keep])


# ------------------------------------------------------------------------------------------
# Choosing a backend
# ------------------------------------------------------------------------------------------

_CLASSES: dict[str, type[VectorIndex]] = {
    "sqlite-vec": SqliteVecIndex,
    "pgvector": PgVectorIndex,
    "numpy": NumpyIndex,
}
_cache_lock = threading.Lock()


def pgvector_available(engine: Any) -> bool:
    """True when ``CREATE EXTENSION IF NOT EXISTS vector`` succeeds on this PostgreSQL."""
    if engine.dialect.name != "postgresql":
        return False
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        return True
    except Exception as exc:  # missing package, or no privilege to create it
        log.info("pgvector unavailable, using the numpy vector index: %s", str(exc).splitlines()[0])
        return False


def resolve_backend(store: Any, backend: str = "auto") -> str:
    """``auto``: SQLite → sqlite-vec; PostgreSQL with the vector extension → pgvector; else numpy."""
    dialect = store.engine.dialect.name
    if backend == "auto":
        if dialect == "sqlite":
            return "sqlite-vec"
        return "pgvector" if pgvector_available(store.engine) else "numpy"
    if backend not in _CLASSES:
        raise VectorError(
            f"unknown vector backend {backend!r}; expected one of auto, {', '.join(BACKENDS)}"
        )
    if backend == "sqlite-vec" and dialect != "sqlite":
        raise VectorError(f"the sqlite-vec backend needs a SQLite database, not {dialect}")
    if backend == "pgvector" and not pgvector_available(store.engine):
        raise VectorError(
            "the pgvector backend needs PostgreSQL with the 'vector' extension "
            "(CREATE EXTENSION vector failed); use backend 'numpy' or 'auto'"
        )
    return backend


def open_index(store: Any, *, backend: str = "auto") -> VectorIndex:
    """The vector index of ``store`` (one instance per store and backend, shared by threads).

    backend : ``auto`` (default), ``sqlite-vec``, ``pgvector`` or ``numpy``.
    """
    # Cached on the store itself, so an index (and the vectors it may hold) lives as long as it.
    with _cache_lock:
        cache: dict[str, VectorIndex] = store.__dict__.setdefault("_vector_indexes", {})
        if backend in cache:
            return cache[backend]
    name = resolve_backend(store, backend)
    with _cache_lock:
        index = cache.get(name) or _CLASSES[name](store)
        cache[name] = index
        cache[backend] = index
    log.debug("vector index backend=%s", name)
    return index
