"""A smooth path between two tracks.

Method (:func:`plan_path`): ``count − 2`` waypoints are spaced evenly along the great circle from
the start's vector to the end's (:func:`waypoints`); each waypoint gets its ``candidates`` nearest
tracks of the pool. A dynamic programme (Viterbi) over those layers then picks one track per layer
minimising the sum of squared step angles, start and end included, so the path moves in steps as
even as the library allows instead of jumping to whatever sits nearest each waypoint. Repeats
(the same track or recording twice) are forbidden between neighbouring layers inside the
programme; later repeats and per-artist / per-album caps are enforced by banning the offending
choice and solving again, with a greedy walk as the last resort, so every returned path holds
the rules whatever the library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sonicmap.sequencing.pool import Caps, Pool

MAX_REPAIRS = 8
"""Times the programme is re-solved with offending choices banned before the greedy walk."""


@dataclass(frozen=True)
class PathPlan:
    """rows : np.ndarray [shape=(m,), int64] pool rows in play order, start first, end last (one
    row when start = end); distances : [shape=(m,), float64] cosine distance of each row to the
    start; steps : [shape=(m,), float64] cosine distance of each row to the one before (0 first).
    """

    rows: np.ndarray
    distances: np.ndarray
    steps: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    n = float(np.sqrt(v @ v))
    if not n > 0:
        raise ValueError("a path end has a vector of zero norm; its direction is undefined")
    return v / n


def waypoints(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """``n`` unit points evenly spaced (by angle) on the great circle from ``a`` to ``b``.

    a, b : np.ndarray [shape=(d,)] non-zero (normalised here)
    n : number of points (>= 2 gives both ends: row 0 is a, row n−1 is b; 1 gives a)
    returns : np.ndarray [shape=(n, d), float64]
    Opposite ends (a great circle not unique) turn through a fixed direction orthogonal to ``a``.
    """
    u = _unit(a)
    w = _unit(b)
    c = float(np.clip(u @ w, -1.0, 1.0))
    theta = float(np.arccos(c))
    if n < 2:
        return u[None, :].copy()
    if theta < 1e-12:
        return np.repeat(u[None, :], n, axis=0)
    v = w - c * u
    nv = float(np.sqrt(v @ v))
    if nv < 1e-12:  # opposite: any orthogonal direction; take the axis least along u
        e = np.zeros_like(u)
        e[int(np.argmin(np.abs(u)))] = 1.0
        v = e - (e @ u) * u
        nv = float(np.sqrt(v @ v))
    v /= nv
    t = np.linspace(0.0, theta, n)
    pts = np.cos(t)[:, None] * u[None, :] + np.sin(t)[:, None] * v[None, :]
    pts[0], pts[-1] = u, w
    return pts


def _angles(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Angles between unit rows of x [m, d] and y [k, d] → [m, k] radians."""
    return np.arccos(np.clip(x @ y.T, -1.0, 1.0))


def _viterbi(
    a: np.ndarray,
    b: np.ndarray,
    layers: list[np.ndarray],
    unit: np.ndarray,
    rec: np.ndarray,
    banned: list[np.ndarray],
) -> list[int] | None:
    """Rows (one per layer) minimising Σ step² from a through the layers to b; None if no way."""
    prev_x = a[None, :]
    cost = np.zeros(1)
    prev_rec = np.array([np.iinfo(np.int64).min])
    back: list[np.ndarray] = []
    for rows, ban in zip(layers, banned, strict=True):
        x = unit[rows]
        step = _angles(prev_x, x) ** 2  # [prev, cur]
        step[prev_rec[:, None] == rec[rows][None, :]] = np.inf
        total = cost[:, None] + step
        arg = np.argmin(total, axis=0)
        cost = total[arg, np.arange(len(rows))]
        cost[ban] = np.inf
        back.append(arg)
        prev_x, prev_rec = x, rec[rows]
    cost = cost + _angles(prev_x, b[None, :])[:, 0] ** 2
    j = int(np.argmin(cost))
    if not np.isfinite(cost[j]):
        return None
    picked = []
    for rows, arg in zip(reversed(layers), reversed(back), strict=True):
        picked.append(int(rows[j]))
        j = int(arg[j])
    return picked[::-1]


def _violations(seq: list[int], caps: Caps) -> list[int]:
    """Positions in ``seq`` that repeat a recording or break a cap (counting from ``caps``)."""
    bad = []
    for pos, row in enumerate(seq):
        if caps.allows(row):
            caps.take(row)
        else:
            bad.append(pos)
    return bad


def _greedy(layers_sim: np.ndarray, eligible: np.ndarray, caps: Caps) -> list[int]:
    """Per waypoint, the nearest allowed track not used yet; waypoints without one are dropped."""
    seq = []
    for sims in layers_sim:
        for j in np.argsort(-sims, kind="stable"):
            row = int(eligible[j])
            if caps.allows(row):
                caps.take(row)
                seq.append(row)
                break
    return seq


def _fresh_caps(pool: Pool, start: int, end: int, cap_a: int | None, cap_b: int | None) -> Caps:
    caps = Caps(pool, cap_a, cap_b)
    caps.take(start)
    caps.take(end)
    return caps


def plan_path(
    pool: Pool,
    start: int,
    end: int,
    count: int,
    *,
    max_per_artist: int | None = None,
    max_per_album: int | None = None,
    candidates: int = 12,
) -> PathPlan:
    """Plan a path of ``count`` tracks from pool row ``start`` to pool row ``end``.

    The path begins with ``start`` and ends with ``end`` (one row when they are the same row),
    never holds a track or a recording twice (the ends' recordings included), keeps at most
    ``max_per_artist`` / ``max_per_album`` tracks per artist / album (the ends count; they are
    kept even when they alone exceed a cap), and has fewer than ``count`` rows only when the pool
    has too few tracks passing those rules.

    candidates : tracks considered per waypoint (more = smoother, slower)
    Raises ValueError for ``count < 2``, rows outside the pool, or an end of zero norm.
    """
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 2:
        raise ValueError(f"count must be an integer >= 2 (both ends included), got {count!r}")
    n = len(pool)
    for name, row in (("start", start), ("end", end)):
        if not 0 <= int(row) < n:
            raise ValueError(f"{name} row {row!r} is outside the pool of {n} tracks")
    start, end = int(start), int(end)
    unit, ok = pool.unit()
    a, b = _unit(pool.vectors[start]), _unit(pool.vectors[end])
    if start == end:
        return _plan([start], unit, a)

    caps = _fresh_caps(pool, start, end, max_per_artist, max_per_album)
    eligible = np.array([i for i in np.flatnonzero(ok) if caps.allows(int(i))], dtype=np.int64)
    rec = pool.recording_keys()
    n_layers = min(int(count) - 2, len(np.unique(rec[eligible])))
    if n_layers <= 0:
        return _plan([start, end], unit, a)

    way = waypoints(a, b, n_layers + 2)[1:-1]
    sims = way @ unit[eligible].T  # [layers, eligible] cosines
    m = min(int(candidates), len(eligible))
    top = np.argpartition(-sims, m - 1, axis=1)[:, :m] if m < len(eligible) else None
    layers = [
        eligible[np.arange(len(eligible)) if top is None else top[i]] for i in range(n_layers)
    ]
    banned = [np.zeros(len(rows), dtype=bool) for rows in layers]
    for _ in range(MAX_REPAIRS):
        seq = _viterbi(a, b, layers, unit, rec, banned)
        if seq is None:
            break
        bad = _violations(seq, _fresh_caps(pool, start, end, max_per_artist, max_per_album))
        if not bad:
            return _plan([start, *seq, end], unit, a)
        for pos in bad:
            banned[pos][layers[pos] == seq[pos]] = True
    seq = _greedy(sims, eligible, _fresh_caps(pool, start, end, max_per_artist, max_per_album))
    return _plan([start, *seq, end], unit, a)


def _plan(rows: list[int], unit: np.ndarray, a: np.ndarray) -> PathPlan:
    r = np.asarray(rows, dtype=np.int64)
    x = unit[r]
    dist = np.clip(1.0 - x @ a, 0.0, 2.0)
    steps = np.zeros(len(r))
    if len(r) > 1:
        steps[1:] = np.clip(1.0 - np.einsum("ij,ij->i", x[1:], x[:-1]), 0.0, 2.0)
    return PathPlan(r, dist, steps)
