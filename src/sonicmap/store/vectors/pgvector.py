"""The ``pgvector`` backend: PostgreSQL whose database has the ``vector`` extension (created by
the migrations when the server offers it).

A table per kind with a ``vector(64)`` column, searched with ``<=>`` and no approximate index (a
sequential scan, hence exact); created on first use, kept in step by triggers on the embeddings
tables.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, text

from sonicmap.store.vectors.base import VectorIndex
from sonicmap.store.vectors.core import DIM, KINDS, KindInfo, check_kind

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


def pg_trigger_exists(conn: Connection, name: str) -> bool:
    found = conn.execute(
        text("SELECT count(*) FROM pg_trigger WHERE tgname = :n AND NOT tgisinternal"), {"n": name}
    ).scalar()
    return bool(found)


class PgVectorIndex(VectorIndex):
    """A ``vector(64)`` table per kind on PostgreSQL, searched exactly with ``<=>``."""

    backend = "pgvector"

    @staticmethod
    def _ddl(info: KindInfo) -> list[str]:
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
            installed = bool(has_table) and pg_trigger_exists(conn, f"{info.index}_sync")
            if self._stale(conn, kind, installed=installed, rows_table=info.index):
                self._fill(conn, info)

    def _fill(self, conn: Connection, info: KindInfo) -> None:
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
        info = check_kind(kind)
        self._ensure(kind)
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {info.index}")).scalar() or 0)

    @staticmethod
    def _literal(v: np.ndarray) -> str:
        # repr of the float64 image of each float32 is parsed back (strtof) to the same float32.
        return "[" + ",".join(repr(float(x)) for x in v) + "]"

    def _candidates(
        self, info: KindInfo, kind: str, q: np.ndarray, n: int
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
