"""Exact cosine k-nearest-neighbour search over track and artist vectors.

One interface (:class:`VectorIndex`, :mod:`.base`), three backends (one module each), a
store-free in-memory index (:class:`MemoryIndex`, :mod:`.memory`: ids + vectors → k-NN; the
numpy backend and the API's read cache compose it), and the shared basics (:mod:`.core`: the
float32 blob codec, checks, the exact re-rank):

``sqlite-vec``
    SQLite (the embedded default): a ``vec0`` virtual table per kind (``vec_tracks``,
    ``vec_artists``) of unit-normalised vectors under ``distance_metric=l2`` (cosine distance =
    L2² / 2), searched by sqlite-vec's exact brute-force scan.
``pgvector``
    PostgreSQL whose database has the ``vector`` extension (created by the migrations when the
    server offers it; never on a read): a table per kind with a ``vector(64)`` column, searched
    with ``<=>`` and no approximate index (a sequential scan, hence exact).
``numpy``
    Anything else (PostgreSQL without pgvector): the vectors are loaded into memory (float32) and
    searched by one matrix-vector product plus ``argpartition``.

The embeddings tables (``track_embeddings.vector``, ``artist_embeddings.vector``: 64 little-endian
float32, see :func:`to_blob`) are the source of truth. The index tables are derived data, created
on first use (not by Alembic, so migrations stay identical on both databases), filled from the
embeddings tables and then kept in step by triggers on those tables, so every writer (any process,
cascaded deletes included) is followed without calling the index. The numpy backend reloads when a
change counter (``app_state`` key ``vector_index.<kind>``, bumped by triggers) moves.

The index of a store is :attr:`sonicmap.store.db.Store.vectors` (:func:`open_index` for another
backend). Results are identical on every backend: each backend proposes candidates, which are re-ranked by
the cosine distance computed in float64 from the stored float32 vectors, ties broken by id; the
candidate set is widened until it holds the true top k (engines round far below the margin).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from sonicmap.store.vectors.base import VectorIndex
from sonicmap.store.vectors.core import (
    DIM,
    KINDS,
    Kind,
    KindInfo,
    VectorError,
    cosine_distances,
    from_blob,
    row_norms,
    stack,
    to_blob,
)
from sonicmap.store.vectors.memory import MemoryIndex
from sonicmap.store.vectors.numpy_index import NumpyIndex
from sonicmap.store.vectors.pgvector import PgVectorIndex
from sonicmap.store.vectors.sqlite_vec import SqliteVecIndex

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)

BACKENDS = ("sqlite-vec", "pgvector", "numpy")
_CLASSES: dict[str, type[VectorIndex]] = {
    "sqlite-vec": SqliteVecIndex,
    "pgvector": PgVectorIndex,
    "numpy": NumpyIndex,
}

__all__ = [
    "BACKENDS",
    "DIM",
    "KINDS",
    "Kind",
    "KindInfo",
    "MemoryIndex",
    "NumpyIndex",
    "PgVectorIndex",
    "SqliteVecIndex",
    "VectorError",
    "VectorIndex",
    "cosine_distances",
    "from_blob",
    "open_index",
    "pgvector_available",
    "resolve_backend",
    "row_norms",
    "stack",
    "to_blob",
]


def pgvector_available(engine: Any) -> bool:
    """True when this PostgreSQL database has the ``vector`` extension (a read: the extension is
    created by the migrations, see ``0004_pgvector``)."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first()
    if found is None:
        log.info("pgvector not installed in this database; using the numpy vector index")
    return found is not None


def resolve_backend(store: Store, backend: str = "auto") -> str:
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
            "the pgvector backend needs PostgreSQL with the 'vector' extension, which this "
            "database lacks (the migrations create it when the server offers it: install "
            "pgvector on the server, then run `sonicmap db upgrade`); use backend 'numpy' or 'auto'"
        )
    return backend


def open_index(store: Store, *, backend: str = "auto") -> VectorIndex:
    """The vector index of ``store`` (one instance per store and backend, shared by threads;
    kept by the store, so an index and the vectors it may hold live as long as it).

    backend : ``auto`` (default), ``sqlite-vec``, ``pgvector`` or ``numpy``.
    """
    cache = store.vector_indexes
    with store.vector_lock:
        if backend in cache:
            return cache[backend]
    name = resolve_backend(store, backend)
    with store.vector_lock:
        index = cache.get(name) or _CLASSES[name](store)
        cache[name] = index
        cache[backend] = index
    log.debug("vector index backend=%s", name)
    return index
