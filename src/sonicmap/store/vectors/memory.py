"""A store-free, in-memory exact cosine k-NN index: ids + vectors in, neighbours out.

The numpy backend of the store (:class:`~sonicmap.store.vectors.numpy_index.NumpyIndex`) keeps
one per kind; the API's read cache keeps one over its artist snapshot. No database, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from sonicmap.store.vectors.core import DIM, check_query, exact_knn, row_norms


class MemoryIndex:
    """Immutable exact cosine k-NN over a fixed set of vectors.

    ids : [shape=(n,)] distinct ids (kept in the given order; ascending is the usual one)
    vecs : np.ndarray [shape=(n, 64), float32]
    norms : their row norms (computed when not given)
    """

    __slots__ = ("ids", "norms", "vecs")

    def __init__(self, ids: Any, vecs: np.ndarray, norms: np.ndarray | None = None) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.vecs = vecs
        self.norms = row_norms(vecs) if norms is None else norms

    @classmethod
    def empty(cls) -> MemoryIndex:
        return cls(np.zeros(0, np.int64), np.zeros((0, DIM), np.float32))

    def __len__(self) -> int:
        return len(self.ids)

    def knn(self, query: Any, k: int, *, exclude: Iterable[int] = ()) -> list[tuple[int, float]]:
        """The ``k`` nearest vectors to ``query`` by cosine distance: ``[(id, distance)]``,
        best first, ties by ascending id; zero-norm vectors never returned (see
        :meth:`sonicmap.store.vectors.VectorIndex.knn`)."""
        return exact_knn(self.candidates, check_query(query, k), k, exclude)

    def candidates(self, q: np.ndarray, n: int) -> tuple[list[int], np.ndarray, np.ndarray]:
        """The ``n`` best by float32 cosine: ids, vectors, distances (NaN for zero norms)."""
        ids, vecs, norms = self.ids, self.vecs, self.norms
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

    def with_vectors(self, ids: Sequence[int], m: np.ndarray) -> MemoryIndex:
        """A new index with these ids' vectors set (added or replaced), ids ascending."""
        keep = ~np.isin(self.ids, ids)
        new_ids = np.concatenate([self.ids[keep], np.array(ids, dtype=np.int64)])
        new_vecs = np.concatenate([self.vecs[keep], m])
        order = np.argsort(new_ids, kind="stable")
        new_vecs = new_vecs[order]
        return MemoryIndex(new_ids[order], new_vecs, row_norms(new_vecs))

    def without(self, ids: Sequence[int]) -> MemoryIndex:
        """A new index without these ids."""
        keep = ~np.isin(self.ids, ids)
        return MemoryIndex(self.ids[keep], self.vecs[keep], self.norms[keep])
