"""A mix (radio) around one or more seeds.

Method (:func:`plan_mix`): each seed ranks the pool by cosine distance to itself; the mix takes
from the seeds in turn (round robin), each time the seed's nearest track not yet used that passes
the rules, so several seeds share the mix evenly and each contributes its nearest neighbourhood.
Rules: never a seed, an excluded track, or another copy of their recordings; never a recording
twice; at most ``max_per_artist`` / ``max_per_album`` tracks per artist / album.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sonicmap.sequencing.pool import Caps, Pool


@dataclass(frozen=True)
class MixPlan:
    """rows : np.ndarray [shape=(m,), int64] pool rows in play order; seed : [shape=(m,), int64]
    index (into the seeds given) of the seed nearest each row; distances : [shape=(m,), float64]
    cosine distance of each row to that seed."""

    rows: np.ndarray
    seed: np.ndarray
    distances: np.ndarray


def plan_mix(
    pool: Pool,
    seeds: np.ndarray,
    count: int,
    *,
    exclude: Iterable[int] = (),
    max_per_artist: int | None = None,
    max_per_album: int | None = None,
) -> MixPlan:
    """Plan a mix of up to ``count`` pool rows around ``seeds``.

    seeds : np.ndarray [shape=(s, d)] seed vectors (seed tracks, artist vectors, cluster centres);
        rows of zero norm are ignored
    exclude : pool rows never picked, nor any other copy of their recordings (the seed tracks
        themselves when they are in the pool, and what was already played)
    Returns fewer than ``count`` rows only when the pool has too few passing the rules.
    Raises ValueError for ``count < 1``.
    """
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    unit, ok = pool.unit()
    s = np.asarray(seeds, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"seeds must have shape (s, d), got {s.shape}")
    sn = np.sqrt(np.einsum("ij,ij->i", s, s))
    live = np.flatnonzero(sn > 0)
    empty = MixPlan(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if len(pool) == 0 or len(live) == 0:
        return empty
    su = s[live] / sn[live, None]
    dist = np.round(np.clip(1.0 - unit @ su.T, 0.0, 2.0), 12)  # [n, live seeds], as the index
    caps = Caps(pool, max_per_artist, max_per_album)
    caps.used.update(int(caps.rec[int(i)]) for i in exclude)
    orders = [
        [int(i) for i in np.lexsort((pool.ids, dist[:, j])) if ok[i]] for j in range(len(live))
    ]
    pos = [0] * len(live)
    rows: list[int] = []
    while len(rows) < count:
        moved = False
        for j, order in enumerate(orders):
            while pos[j] < len(order) and not caps.allows(order[pos[j]]):
                pos[j] += 1
            if pos[j] < len(order):
                row = order[pos[j]]
                caps.take(row)
                rows.append(row)
                moved = True
                if len(rows) == count:
                    break
        if not moved:
            break
    r = np.asarray(rows, dtype=np.int64)
    if not len(r):
        return empty
    near = np.argmin(dist[r], axis=1)
    return MixPlan(r, live[near].astype(np.int64), dist[r, near])
