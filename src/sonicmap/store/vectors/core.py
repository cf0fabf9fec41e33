"""Vector basics shared by every index: kinds, the float32 blob codec, checks, exact re-rank.

Results are identical on every backend: each backend proposes candidates, which
:func:`exact_knn` re-ranks by the cosine distance computed in float64 from the stored float32
vectors, ties broken by id; the candidate set is widened until it holds the true top k (engines
round far below the margin).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sonicmap.errors import StoreError

DIM = 64
Kind = Literal["track", "artist"]
# Extra candidates fetched beyond k (+ excluded ids), so that the check below rarely has to widen
# the fetch (exactness never rests on it). Kept small: sqlite-vec's scan costs ~0.07 ms per extra
# candidate at 100k vectors (its per-chunk top-k selection is O(k)).
MARGIN = 2
# Candidates whose engine distance lies within this of the k-th re-ranked distance may be tied
# with it; if the candidate set ends inside that band it is widened. Engines compute in float32:
# sqlite-vec's L2² over unit vectors errs by at most ~64·2⁻²⁴·L2² (< 4e-6 in cosine distance for
# neighbours within cosine distance 1), pgvector's cosine similarly.
TIE_EPS = 1e-5

#: ``candidates(q, n)`` → the engine's ``n`` best: ids, their float32 vectors as stored
#: [shape=(m, 64)], engine cosine distances (ascending; NaN for zero-norm vectors, last).
Candidates = Callable[[np.ndarray, int], tuple[list[int], np.ndarray, np.ndarray]]


class VectorError(StoreError, ValueError):
    """A vector or a search request is malformed (shape, dtype, NaN, unknown kind, bad k)."""


@dataclass(frozen=True)
class KindInfo:
    table: str  # embeddings table (source of truth)
    id_col: str
    index: str  # derived index table


KINDS: dict[str, KindInfo] = {
    "track": KindInfo("track_embeddings", "track_id", "vec_tracks"),
    "artist": KindInfo("artist_embeddings", "artist_id", "vec_artists"),
}


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


def stack(blobs: Sequence[bytes]) -> np.ndarray:
    """[n] float32 blobs of 64 values → np.ndarray [shape=(n, 64), float32]."""
    if not blobs:
        return np.zeros((0, DIM), np.float32)
    return (
        np.frombuffer(b"".join(bytes(b) for b in blobs), dtype="<f4")
        .reshape(-1, DIM)
        .astype(np.float32)
    )


def row_norms(vecs: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row [shape=(n,), float32] (einsum: one thread, no BLAS pool)."""
    norms: np.ndarray = np.sqrt(np.einsum("ij,ij->i", vecs, vecs, dtype=np.float32))
    return norms


def check_kind(kind: str) -> KindInfo:
    try:
        return KINDS[kind]
    except KeyError:
        raise VectorError(f"unknown vector kind {kind!r}; expected 'track' or 'artist'") from None


def as_vector(v: Any, what: str = "query") -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    if a.shape != (DIM,):
        raise VectorError(f"{what} vector must have shape ({DIM},), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise VectorError(f"{what} vector holds NaN or inf")
    return a


def as_matrix(ids: Sequence[int], vectors: Any) -> tuple[list[int], np.ndarray]:
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


def cosine_distances(
    query: np.ndarray, vectors: np.ndarray, *, undefined: float = np.nan
) -> np.ndarray:
    """Cosine distance ``1 - cos`` in float64 (the figure every backend reports).

    query : np.ndarray [shape=(64,), float32]
    vectors : np.ndarray [shape=(n, 64), float32]
    undefined : the distance of a row of zero norm (of every row when the query has zero norm),
        whose angle is undefined: NaN by default (the indexes never return such rows); 1.0 counts
        it as orthogonal, as the path planner and the plugin answers do.
    returns : np.ndarray [shape=(n,), float64], rounded to 12 decimals.

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
        d: np.ndarray = np.round(1.0 - np.einsum("ij,j->i", v, q) / (vn * qn), 12)
    d[vn == 0] = undefined
    if qn == 0:
        d[:] = undefined
    return d


def check_query(query: Any, k: int) -> np.ndarray:
    """The query as float32 [shape=(64,)], after checking it and ``k``."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise VectorError(f"k must be a positive integer, got {k!r}")
    q = as_vector(query)
    if not np.any(q):
        raise VectorError("query vector is all zeros; cosine distance is undefined")
    return q


def exact_knn(
    candidates: Candidates, q: np.ndarray, k: int, exclude: Iterable[int]
) -> list[tuple[int, float]]:
    """The exact ``k`` nearest of the engine's vectors to ``q`` (checked by
    :func:`check_query`): ``[(id, cosine distance)]``, best first, ties by ascending id."""
    excl = {int(i) for i in exclude}
    n = int(k) + len(excl) + MARGIN
    while True:
        ids, vecs, engine_d = candidates(q, n)
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
        if len(rows) == k and engine_d[-1] > rows[-1][0] + TIE_EPS:
            break
        n *= 4
    return [(i, dist) for dist, i in rows]
