"""The store-backed vector index interface (:class:`VectorIndex`): one per store and backend.

The embeddings tables (``track_embeddings.vector``, ``artist_embeddings.vector``: 64 little-endian
float32, see :func:`~sonicmap.store.vectors.core.to_blob`) are the source of truth; each backend
derives its index from them and follows them (triggers), so every writer (any process, cascaded
deletes included) is followed without calling the index.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, text

from sonicmap.errors import NotFoundError
from sonicmap.store.vectors.core import (
    KINDS,
    KindInfo,
    as_matrix,
    check_kind,
    check_query,
    exact_knn,
    from_blob,
)

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)


class VectorIndex(ABC):
    """Exact cosine k-NN over ``track`` and ``artist`` vectors of one store."""

    backend: str = ""

    def __init__(self, store: Store) -> None:
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
        info = check_kind(kind)
        q = check_query(query, k)
        self._ensure(kind)
        return exact_knn(lambda q_, n: self._candidates(info, kind, q_, n), q, k, exclude)

    def knn_by_id(self, kind: str, id: int, k: int) -> list[tuple[int, float]]:
        """Neighbours of a stored item, excluding the item itself. Raises NotFoundError."""
        vec = self.get_vector(kind, id)
        return self.knn(kind, vec, k, exclude=(int(id),))

    def get_vector(self, kind: str, id: int) -> np.ndarray:
        """The stored vector of ``id`` (from the embeddings table). Raises NotFoundError."""
        info = check_kind(kind)
        with self.engine.connect() as conn:
            b = conn.execute(
                text(f"SELECT vector FROM {info.table} WHERE {info.id_col} = :i"), {"i": int(id)}
            ).scalar()
        if b is None:
            raise NotFoundError(f"{kind} {id} has no vector (unknown id, or not embedded yet)")
        return from_blob(b)

    def count(self, kind: str) -> int:
        """Number of vectors of ``kind`` the index searches."""
        info = check_kind(kind)
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {info.table}")).scalar() or 0)

    def upsert(self, kind: str, ids: Sequence[int], vectors: Any) -> None:
        """Bring the index in step with these ids' vectors right away.

        ids : [n] ids whose rows exist in the embeddings table
        vectors : array-like [shape=(n, 64)]
        Rows written to the embeddings tables reach the index on their own (triggers); this is for
        callers that want the open index updated without waiting for a change check.
        """
        check_kind(kind)
        ids, m = as_matrix(ids, vectors)
        if ids:
            self._ensure(kind)
            self._upsert(kind, ids, m)

    def delete(self, kind: str, ids: Sequence[int]) -> None:
        """Remove ids from the index (rows deleted from the embeddings table leave it on their own)."""
        check_kind(kind)
        ids = [int(i) for i in ids]
        if ids:
            self._ensure(kind)
            self._delete(kind, ids)

    def rebuild(self, kind: str) -> int:
        """Drop and refill the derived index of ``kind`` from the embeddings table; returns its size."""
        check_kind(kind)
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
        self, info: KindInfo, kind: str, q: np.ndarray, n: int
    ) -> tuple[list[int], np.ndarray, np.ndarray]:
        """The engine's ``n`` best: ids, their float32 vectors as stored [shape=(m, 64)], engine
        cosine distances (ascending; NaN for zero-norm vectors, last)."""

    @abstractmethod
    def _upsert(self, kind: str, ids: list[int], m: np.ndarray) -> None: ...

    @abstractmethod
    def _delete(self, kind: str, ids: list[int]) -> None: ...
