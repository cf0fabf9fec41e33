"""The hot plugin answers from the process's in-memory snapshot (:mod:`.snapshot`): the songs
most like a seed, and a path between two songs, over the songs one server has."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sonicmap.api.compat.common import ELIMINATE_DUPLICATES_PER_ARTIST, MAX_N, song_row
from sonicmap.api.compat.snapshot import NONE
from sonicmap.pipeline import paths
from sonicmap.sequencing import Pool, plan_path, waypoints


def row(snap: Any, smap: Any, j: int, distance: float | None) -> dict[str, Any]:
    return song_row(
        smap.song_of_row[j],
        snap.title[j],
        snap.artist_name[j],
        snap.album_title[j],
        snap.album_artist[j],
        distance,
    )


def similar_tracks(
    snap: Any, smap: Any, song_id: str, n: int, eliminate_duplicates: bool
) -> list[dict[str, Any]] | None:
    """The ``similar_tracks`` answer (``n`` clamped to 1..MAX_N, at most
    :data:`ELIMINATE_DUPLICATES_PER_ARTIST` songs per artist with ``eliminate_duplicates``);
    None when the seed is not in the snapshot."""
    n = max(1, min(MAX_N, n))
    cap = ELIMINATE_DUPLICATES_PER_ARTIST if eliminate_duplicates else None
    return similar(snap, smap, song_id, n, cap)


def similar(
    snap: Any, smap: Any, song_id: str, n: int, cap: int | None
) -> list[dict[str, Any]] | None:
    seed = smap.row_of_song.get(song_id)
    if seed is None:
        return None
    q = snap.unit[seed]
    if not q.any():
        return []
    fetch = 4 * n + 16
    while True:
        exhaustive = fetch >= len(snap.ids)
        rows, dist = snap.ivf.search(q, fetch, nprobe=len(snap.ivf.offsets) if exhaustive else None)
        out: list[dict[str, Any]] = []
        per_artist: dict[int, int] = {}
        seen = {int(snap.recording[seed])} - {NONE}
        # the candidates' columns as Python lists: one numpy call each, not one per candidate
        cols = (smap.has[rows].tolist(), snap.recording[rows].tolist(), snap.artist[rows].tolist())
        for j, d, has, rec, art in zip(rows.tolist(), dist.tolist(), *cols, strict=True):
            if j == seed or not has:
                continue
            if rec != NONE and rec in seen:
                continue
            if cap is not None and art != NONE and per_artist.get(art, 0) >= cap:
                continue
            seen.add(rec)
            per_artist[art] = per_artist.get(art, 0) + 1
            out.append(row(snap, smap, j, d))
            if len(out) == n:
                return out
        if exhaustive:
            return out
        fetch *= 4


def path_length(steps: int) -> int:
    """The songs of a ``find_path`` answer for ``max_steps``: both ends included, 2..MAX_COUNT."""
    return max(2, min(paths.MAX_COUNT, steps))


def find_path(
    snap: Any, smap: Any, start_id: str, end_id: str, steps: int
) -> dict[str, Any] | None:
    """The ``find_path`` answer ``{"path": [...], "total_distance": float}`` for two distinct
    songs; None when an end is not in the snapshot."""
    planned = path(snap, smap, start_id, end_id, path_length(steps))
    if planned is None:
        return None
    rows = [row(snap, smap, j, d) for j, d in planned]
    u = snap.unit[[j for j, _ in planned]].astype(np.float64)
    hops = np.clip(1.0 - np.einsum("ij,ij->i", u[1:], u[:-1]), 0.0, 2.0)
    total = float(hops.sum())
    return {"path": rows, "total_distance": round(total, 6) if np.isfinite(total) else 0.0}


def path(
    snap: Any, smap: Any, start_id: str, end_id: str, count: int
) -> list[tuple[int, float]] | None:
    """Rows and distances to the start of a path over the server's songs (None: unknown end)."""
    a, b = smap.row_of_song.get(start_id), smap.row_of_song.get(end_id)
    if a is None or b is None:
        return None
    va, vb = snap.unit[a], snap.unit[b]
    cand = {a, b}
    if va.any() and vb.any() and count > 2:
        n_mid = count - 2
        n_anchor = min(n_mid, max(paths.PATH_ANCHORS, math.ceil(n_mid / 6)))
        for q in waypoints(va, vb, n_anchor + 2)[1:-1]:
            rows, _ = snap.ivf.search(q, paths.PATH_NEIGHBOURS)
            cand.update(rows[smap.has[rows]].tolist())
    if not (va.any() and vb.any()):
        return [(a, 0.0), (b, 0.0)]
    order = sorted(cand)
    idx = np.asarray(order, np.int64)
    pool = Pool(
        snap.ids[idx], snap.unit[idx], snap.artist[idx], snap.album[idx], snap.recording[idx]
    )
    plan = plan_path(pool, order.index(a), order.index(b), count)
    return [(order[r], d) for r, d in zip(plan.rows.tolist(), plan.distances.tolist(), strict=True)]
