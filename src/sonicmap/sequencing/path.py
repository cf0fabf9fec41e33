"""A smooth path between two tracks.

Method (:func:`plan_path`): the path's ``count − 2`` inner places are spread evenly along the great
circle from the start's vector to the end's (:func:`waypoints`). Every candidate track is placed
along that arc by the angle of its projection onto the arc's plane, and may fill the places within
:data:`WINDOW` of its own position (plus, for places with few tracks nearby, the
:data:`MIN_LAYER` tracks whose positions are nearest). A dynamic programme over the places then
picks one track per place minimising ``Σ (step / ideal step)^POWER`` over the steps of the whole
path (ends included): a high power approximates the smallest possible largest step, so the path
detours through denser parts of the library instead of jumping across a gap the way
"nearest track to each waypoint" does, while still progressing evenly from start to end.

Repeats (the same track or recording twice) are forbidden between neighbouring places inside the
programme; other repeats and the per-artist / per-album caps are enforced by banning the offending
choice and solving again (at most :data:`MAX_REPAIRS` times), then by a greedy walk as the last
resort, so every returned path holds the rules whatever the library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sonicmap.sequencing.pool import Caps, Pool

MAX_REPAIRS = 24
"""Times the programme is re-solved with offending choices banned before the greedy walk."""
WINDOW = 1.5
"""How far (in places) from its own position along the arc a track may be placed."""
MIN_LAYER = 8
"""Each place may choose among at least this many tracks (the nearest by position)."""
POWER = 8
"""Exponent of the step cost: high = close to minimising the largest step."""


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
    out: np.ndarray = pts
    return out


def _angles(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Angles between unit rows of x [m, d] and y [k, d] → [m, k] radians."""
    angles: np.ndarray = np.arccos(np.clip(x @ y.T, -1.0, 1.0))
    return angles


def _positions(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Fraction of the arc from unit ``a`` to unit ``b`` [0 = a, 1 = b] at which each unit row of
    ``x`` [n, d] projects (angle in the arc's plane over the arc's angle; may fall outside 0..1)."""
    c = float(np.clip(a @ b, -1.0, 1.0))
    theta = float(np.arccos(c))
    v = waypoints(a, b, 3)[1] - np.cos(theta / 2) * a  # in-plane direction orthogonal to a
    nv = float(np.sqrt(v @ v))
    if theta < 1e-9 or nv < 1e-12:
        return np.full(len(x), 0.5)
    v /= nv
    pos: np.ndarray = np.arctan2(x @ v, x @ a) / theta
    return pos


def _layers(pos: np.ndarray, n_layers: int) -> list[np.ndarray]:
    """Indices (into ``pos``) allowed at each place 1..n_layers (positions in place units)."""
    t = pos * (n_layers + 1)
    d = np.abs(t[None, :] - np.arange(1, n_layers + 1, dtype=np.float64)[:, None])
    allowed = d <= WINDOW
    near = np.argsort(d, axis=1, kind="stable")[:, :MIN_LAYER]
    allowed[np.arange(n_layers)[:, None], near] = True
    return [np.flatnonzero(row) for row in allowed]


class _Programme:
    """The dynamic programme: the choice per place minimising the summed step costs, solved
    again after choices are banned.

    first : [m_0] cost from the start to each choice of place 0; steps[h] : [m_h, m_{h+1}] costs
    between consecutive places (inf = forbidden); last : [m_L-1] cost to the end. The forward
    pass is kept per place: the best cost of reaching place h depends on the bans at places ≤ h
    only, so a ban at place h re-solves from h on (the same numbers as solving from scratch).
    """

    def __init__(self, first: np.ndarray, steps: list[np.ndarray], last: np.ndarray) -> None:
        self.first, self.steps, self.last = first, steps, last
        self.banned = [np.zeros(len(first), dtype=bool)] + [
            np.zeros(st.shape[1], dtype=bool) for st in steps
        ]
        self.cost: list[np.ndarray] = [first] * len(self.banned)
        self.back: list[np.ndarray] = [np.zeros(0, np.int64)] * len(steps)
        self.any_banned = [False] * len(self.banned)
        self.cols = [np.arange(st.shape[1]) for st in steps]
        self.valid = 0  # places whose forward cost is up to date

    def ban(self, h: int, j: int) -> None:
        self.banned[h][j] = True
        self.any_banned[h] = True
        self.valid = min(self.valid, h)

    def solve(self) -> list[int] | None:
        """Choice index of each place; None if every way is blocked."""
        h0 = self.valid
        if h0 == 0:
            cost = np.where(self.banned[0], np.inf, self.first)
            self.cost[0] = cost
            h0 = 1
        cost = self.cost[h0 - 1]
        for h in range(h0 - 1, len(self.steps)):
            total = cost[:, None] + self.steps[h]
            arg = total.argmin(axis=0)
            cost = total[arg, self.cols[h]]
            if self.any_banned[h + 1]:
                cost[self.banned[h + 1]] = np.inf
            self.back[h] = arg
            self.cost[h + 1] = cost
        self.valid = len(self.banned)
        cost = cost + self.last
        j = int(np.argmin(cost))
        if not np.isfinite(cost[j]):
            return None
        picked = [j]
        for arg in reversed(self.back):
            j = int(arg[j])
            picked.append(j)
        return picked[::-1]


def _violations(seq: list[int], caps: Caps) -> list[int]:
    """Positions in ``seq`` that repeat a recording or break a cap (counting from ``caps``)."""
    if caps.max_artist is None and caps.max_album is None:  # repeats only: set look-ups
        rec, used = caps.rec, caps.used
        keys = rec[np.asarray(seq, dtype=np.int64)].tolist()
        bad = []
        for pos, key in enumerate(keys):
            if key in used:
                bad.append(pos)
            else:
                used.add(key)
        return bad
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
) -> PathPlan:
    """Plan a path of ``count`` tracks from pool row ``start`` to pool row ``end``.

    The path begins with ``start`` and ends with ``end`` (one row when they are the same row),
    never holds a track or a recording twice (the ends' recordings included), keeps at most
    ``max_per_artist`` / ``max_per_album`` tracks per artist / album (the ends count; they are
    kept even when they alone exceed a cap), and has fewer than ``count`` rows only when the pool
    has too few tracks passing those rules.

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
    eligible = np.flatnonzero(ok & caps.allowed()).astype(np.int64)
    rec = caps.rec
    n_layers = min(int(count) - 2, len(np.unique(rec[eligible])))
    if n_layers <= 0:
        return _plan([start, end], unit, a)

    x = unit[eligible]
    theta = float(np.arccos(np.clip(a @ b, -1.0, 1.0)))
    scale = max(theta / (n_layers + 1), 1e-3)  # the ideal step; costs are relative to it

    def cost(ang: np.ndarray) -> np.ndarray:
        return (ang / scale) ** POWER

    layers = _layers(_positions(a, b, x), n_layers)
    erec = rec[eligible]
    first = cost(_angles(a[None, :], x[layers[0]])[0])
    last = cost(_angles(x[layers[-1]], b[None, :])[:, 0])
    steps = []
    for h in range(n_layers - 1):
        p, q = layers[h], layers[h + 1]
        c = cost(_angles(x[p], x[q]))
        c[erec[p][:, None] == erec[q][None, :]] = np.inf  # same track or recording twice in a row
        steps.append(c)
    programme = _Programme(first, steps, last)
    layer_rows = [eligible[lay].tolist() for lay in layers]
    for _ in range(MAX_REPAIRS):
        pick = programme.solve()
        if pick is None:
            break
        seq = [layer_rows[h][j] for h, j in enumerate(pick)]
        bad = _violations(seq, caps.copy())
        if not bad:
            return _plan([start, *seq, end], unit, a)
        for h in bad:
            programme.ban(h, pick[h])
    way = waypoints(a, b, n_layers + 2)[1:-1]
    seq = _greedy(way @ x.T, eligible, caps.copy())
    return _plan([start, *seq, end], unit, a)


def _plan(rows: list[int], unit: np.ndarray, a: np.ndarray) -> PathPlan:
    r = np.asarray(rows, dtype=np.int64)
    x = unit[r]
    # rounded to 12 decimals like the vector index's distances: one direction gives exactly 0
    dist = np.round(np.clip(1.0 - x @ a, 0.0, 2.0), 12)
    steps = np.zeros(len(r))
    if len(r) > 1:
        steps[1:] = np.round(np.clip(1.0 - np.einsum("ij,ij->i", x[1:], x[:-1]), 0.0, 2.0), 12)
    return PathPlan(r, dist, steps)
