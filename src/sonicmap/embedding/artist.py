"""Artist vectors: the duration-weighted mean of an artist's track vectors, re-normalised."""

from __future__ import annotations

import numpy as np

from sonicmap.embedding.layout import DIM
from sonicmap.errors import SonicmapError


def aggregate_artist(vectors: np.ndarray, durations: np.ndarray | None = None) -> np.ndarray:
    """Aggregate track vectors into one artist vector.

    Each track counts in proportion to its duration, so a 40-minute piece weighs more than a
    30-second interlude; missing, non-finite or non-positive durations count as the median of the
    known ones (or 1 when none is known). The weighted mean of the (unit) track vectors is then
    L2-normalised so that artist and track vectors live on the same sphere.

    Parameters
    ----------
    vectors : np.ndarray [shape=(n, 64)]
        Track vectors, n ≥ 1.
    durations : np.ndarray [shape=(n,)], seconds, optional

    Returns
    -------
    np.ndarray [shape=(64,), float32], unit L2 norm (all-zero only if the weighted mean is zero).
    """
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != DIM or v.shape[0] == 0:
        raise SonicmapError(
            f"aggregate_artist: expected track vectors of shape (n >= 1, {DIM}), got {v.shape}"
        )
    n = v.shape[0]
    if durations is None:
        w = np.ones(n)
    else:
        w = np.asarray(durations, dtype=np.float64).reshape(-1)
        if w.shape[0] != n:
            raise SonicmapError(
                f"aggregate_artist: got {n} vectors but {w.shape[0]} durations; expected one per track"
            )
        good = np.isfinite(w) & (w > 0)
        fill = float(np.median(w[good])) if good.any() else 1.0
        w = np.where(good, w, fill)
    v = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
    mean = (w[:, None] * v).sum(axis=0) / w.sum()
    norm = float(np.linalg.norm(mean))
    if norm > 0:
        mean /= norm
    out: np.ndarray = mean.astype(np.float32)
    return out
