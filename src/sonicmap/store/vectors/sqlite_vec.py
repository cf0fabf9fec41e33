"""The ``sqlite-vec`` backend: SQLite (the embedded default).

A ``vec0`` virtual table per kind (``vec_tracks``, ``vec_artists``) of unit-normalised vectors
under ``distance_metric=l2`` (cosine distance = L2² / 2), searched by sqlite-vec's exact
brute-force scan; created on first use (not by Alembic), filled from the embeddings tables and
kept in step by triggers on them.
"""

from __future__ import annotations

import sys

import numpy as np
from sqlalchemy import Connection, bindparam, text

from sonicmap.store.vectors.base import VectorIndex
from sonicmap.store.vectors.core import DIM, KINDS, KindInfo, check_kind, stack, to_blob

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
    def _table_sql(info: KindInfo) -> str:
        return (
            f"CREATE VIRTUAL TABLE {info.index} USING "
            f"vec0(embedding float[{DIM}] distance_metric=l2, +vector blob)"
        )

    @staticmethod
    def _trigger_sql(info: KindInfo) -> dict[str, str]:
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
        found: dict[str, str] = dict(
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

    def _fill(self, conn: Connection, info: KindInfo) -> None:
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
        info = check_kind(kind)
        self._ensure(kind)
        with self.engine.connect() as conn:
            return int(
                conn.execute(text(f"SELECT count(*) FROM {info.index}_rowids")).scalar() or 0
            )

    def _candidates(
        self, info: KindInfo, kind: str, q: np.ndarray, n: int
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
        return [r[0] for r in rows], stack([r[2] for r in rows]), 0.5 * l2 * l2

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
