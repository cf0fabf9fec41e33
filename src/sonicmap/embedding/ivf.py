"""An inverted-file (IVF) index for fast cosine k-NN over unit vectors, in memory.

The vectors are partitioned by spherical k-means (Dhillon & Modha 2001: k-means whose centroids
are renormalised to unit length, so cosine similarity is the assignment criterion) into
``nlist ≈ √n`` lists stored contiguously. A query scores the ``nlist`` centroids, scans the
vectors of the ``nprobe`` best lists (a few percent of the library) and ranks them exactly; this
is the IVF-Flat scheme of Jégou et al. (2011), FAISS and AudioMuse-AI's own index. The answer is
approximate only in which lists are scanned: a true neighbour in an unprobed list can be missed
(recall is measured in ``bench/compat.py``). Below :data:`EXACT_BELOW` vectors the index is a
single list, i.e. exact brute force.

Pure numpy, no store: ``IvfIndex.build(vectors)`` then ``index.search(q, k)`` → row numbers.
Single-threaded (``einsum`` on float32, no BLAS pool), so several API threads never fight for a
Raspberry Pi's four cores through a spinning BLAS pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EXACT_BELOW = 4096
"""Libraries smaller than this are searched exhaustively (one list)."""
KMEANS_ITERATIONS = 8
KMEANS_SAMPLE = 50_000
"""k-means runs on at most this many vectors (a random sample); all are then assigned."""
MIN_PROBE_FRACTION = 0.05
"""``nprobe`` scans at least this fraction of the lists (and at least 8). At 100,000 tracks (316
lists) 5 % = 16 lists: recall@10 0.97 against exact search on ``bench/compat.py``'s vectors
(1,000 seeds; 19 lists: 0.99, 14: 0.95), for 16 % less CPU per ``similar_tracks`` answer."""


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", m, m))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.asarray(m / norms[:, None], dtype=np.float32)
    out[~np.isfinite(out)] = 0.0
    return out


def _assign(vectors: np.ndarray, centroids: np.ndarray, chunk: int = 16_384) -> np.ndarray:
    out = np.empty(len(vectors), dtype=np.int64)
    for i in range(0, len(vectors), chunk):
        out[i : i + chunk] = np.argmax(vectors[i : i + chunk] @ centroids.T, axis=1)
    return out


def spherical_kmeans(
    vectors: np.ndarray, k: int, *, iterations: int = KMEANS_ITERATIONS, seed: int = 0
) -> np.ndarray:
    """``k`` unit centroids of unit ``vectors`` (float32 [n, d]); deterministic for a seed."""
    rng = np.random.default_rng(seed)
    n = len(vectors)
    sample = vectors if n <= KMEANS_SAMPLE else vectors[rng.choice(n, KMEANS_SAMPLE, replace=False)]
    cents = sample[rng.choice(len(sample), k, replace=False)].copy()
    for _ in range(iterations):
        labels = _assign(sample, cents)
        sums = np.zeros_like(cents)
        np.add.at(sums, labels, sample)
        norms = np.sqrt(np.einsum("ij,ij->i", sums, sums))
        moved = norms > 0
        cents[moved] = sums[moved] / norms[moved, None]  # an empty list keeps its centroid
    return cents


@dataclass(frozen=True)
class IvfIndex:
    """Unit vectors grouped by list: ``vectors[offsets[j]:offsets[j + 1]]`` belong to list ``j``
    and ``rows`` maps them back to the caller's row numbers."""

    centroids: np.ndarray  # [nlist, d] float32, unit
    vectors: np.ndarray  # [n, d] float32, unit, grouped by list
    rows: np.ndarray  # [n] int64: original row of each grouped vector
    offsets: np.ndarray  # [nlist + 1] int64
    nprobe: int
    zero: np.ndarray | None = None
    """[n] bool: grouped vectors of zero norm (None: there are none)."""

    @classmethod
    def build(cls, vectors: np.ndarray, *, nlist: int | None = None, seed: int = 0) -> IvfIndex:
        """Index ``vectors`` [n, d] (any norm; zero rows are never returned by a search)."""
        unit = _unit(vectors)
        n = len(unit)
        if nlist is None:
            nlist = 1 if n < EXACT_BELOW else int(round(math.sqrt(n)))
        nlist = max(1, min(nlist, n))
        if nlist == 1:
            cents = np.zeros((1, unit.shape[1] if unit.ndim == 2 else 0), np.float32)
            labels = np.zeros(n, dtype=np.int64)
        else:
            cents = spherical_kmeans(unit, nlist, seed=seed)
            labels = _assign(unit, cents)
        order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels, minlength=nlist)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        nprobe = nlist if nlist == 1 else max(8, math.ceil(MIN_PROBE_FRACTION * nlist))
        grouped = np.ascontiguousarray(unit[order])
        zero: np.ndarray = ~np.any(grouped, axis=1)
        return cls(
            cents, grouped, order.astype(np.int64), offsets, nprobe, zero if zero.any() else None
        )

    def __len__(self) -> int:
        return len(self.rows)

    def search(
        self, q: np.ndarray, k: int, *, nprobe: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` rows most cosine-similar to ``q`` among the probed lists, best first, as
        ``(rows [m], cosine distances [m])`` with ``m ≤ k``; zero-norm rows never appear."""
        qv = np.asarray(q, dtype=np.float32).reshape(-1)
        qn = float(np.sqrt(qv @ qv))
        if qn == 0.0 or len(self.rows) == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0)
        qv = qv / qn
        nlist = len(self.offsets) - 1
        probe = min(nlist, nprobe or self.nprobe)
        if probe >= nlist:
            lists = np.arange(nlist)
        else:  # einsum, not @: a matrix-vector product this size would wake the BLAS threads
            lists = np.sort(
                np.argpartition(-np.einsum("ij,j->i", self.centroids, qv), probe - 1)[:probe]
            )
        lo, hi = self.offsets[lists].tolist(), self.offsets[lists + 1].tolist()
        # score each probed list in place (gathering them first copied ~1.5 MB per query)
        sims = np.concatenate(
            [np.einsum("ij,j->i", self.vectors[a:b], qv) for a, b in zip(lo, hi, strict=True)]
        )
        if self.zero is not None:
            dead = np.concatenate([self.zero[a:b] for a, b in zip(lo, hi, strict=True)])
            sims[dead] = -np.inf
            alive = len(sims) - int(dead.sum())
        else:
            alive = len(sims)
        m = min(k, alive)
        if m <= 0:
            return np.zeros(0, np.int64), np.zeros(0)
        top = np.argpartition(-sims, m - 1)[:m] if m < len(sims) else np.arange(len(sims))
        top = top[np.argsort(-sims[top], kind="stable")][:m]
        dist = np.clip(1.0 - sims[top].astype(np.float64), 0.0, 2.0)
        starts = np.cumsum([0, *(b - a for a, b in zip(lo, hi, strict=True))])
        which = np.searchsorted(starts, top, side="right") - 1
        grouped = np.asarray(lo, np.int64)[which] + (top - starts[which])
        return self.rows[grouped], dist
