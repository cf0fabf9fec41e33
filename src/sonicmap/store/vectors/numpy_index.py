"""The ``numpy`` backend: anything else (PostgreSQL without pgvector).

The vectors are loaded into a :class:`~sonicmap.store.vectors.memory.MemoryIndex` per kind
(float32) and searched by one matrix-vector product plus ``argpartition``. A change counter in
``app_state`` (key ``vector_index.<kind>``), bumped by triggers on the embeddings tables, tells
every process that holds a copy when to reload.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, select, text

from sonicmap.store.schema import KeyValue
from sonicmap.store.vectors.base import VectorIndex
from sonicmap.store.vectors.core import KINDS, KindInfo, check_kind, stack
from sonicmap.store.vectors.memory import MemoryIndex
from sonicmap.store.vectors.pgvector import pg_trigger_exists

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)


class NumpyIndex(VectorIndex):
    """In-process brute force over a :class:`MemoryIndex` per kind, reloaded on change."""

    backend = "numpy"

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        # kind -> (generation, the vectors of that generation)
        self._data: dict[str, tuple[Any, MemoryIndex]] = {}

    @property
    def _pg(self) -> bool:
        return bool(self.engine.dialect.name == "postgresql")

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
                if pg_trigger_exists(conn, name):
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

    def _load(self, kind: str) -> tuple[Any, MemoryIndex]:
        info = KINDS[kind]
        with self.engine.connect() as conn:
            gen = self._generation(conn, kind)
            rows = conn.execute(
                text(f"SELECT {info.id_col}, vector FROM {info.table} ORDER BY {info.id_col}")
            ).all()
        mem = MemoryIndex(
            np.array([r[0] for r in rows], dtype=np.int64), stack([r[1] for r in rows])
        )
        log.debug("loaded vectors backend=numpy kind=%s n=%d generation=%s", kind, len(mem), gen)
        return gen, mem

    def _current(self, kind: str) -> tuple[Any, MemoryIndex]:
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
        check_kind(kind)
        self._ensure(kind)
        return len(self._current(kind)[1])

    def _candidates(
        self, info: KindInfo, kind: str, q: np.ndarray, n: int
    ) -> tuple[list[int], np.ndarray, np.ndarray]:
        return self._current(kind)[1].candidates(q, n)

    def _upsert(self, kind: str, ids: list[int], m: np.ndarray) -> None:
        with self._lock:
            gen, mem = self._current(kind)
            self._data[kind] = (gen, mem.with_vectors(ids, m))

    def _delete(self, kind: str, ids: list[int]) -> None:
        with self._lock:
            gen, mem = self._current(kind)
            self._data[kind] = (gen, mem.without(ids))
