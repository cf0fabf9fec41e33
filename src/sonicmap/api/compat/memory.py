"""The hot plugin answers from the process's in-memory snapshot (:mod:`.snapshot`): the songs
most like a seed, and a path between two songs, over the songs one server has."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sonicmap.api.compat.common import TRACK_NOT_FOUND, CompatError, song_row
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


def similar(snap: Any, smap: Any, song_id: str, n: int, cap: int | None) -> list[dict[str, Any]]:
    seed = smap.row_of_song.get(song_id)
    if seed is None:
        raise CompatError(404, TRACK_NOT_FOUND)
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
        for j, d in zip(rows.tolist(), dist.tolist(), strict=True):
            if j == seed or not smap.has[j]:
                continue
            rec, art = int(snap.recording[j]), int(snap.artist[j])
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
            cand.update(j for j in rows.tolist() if smap.has[j])
    if not (va.any() and vb.any()):
        return [(a, 0.0), (b, 0.0)]
    order = sorted(cand)
    idx = np.asarray(order, np.int64)
    pool = Pool(
        snap.ids[idx], snap.unit[idx], snap.artist[idx], snap.album[idx], snap.recording[idx]
    )
    plan = plan_path(pool, order.index(a), order.index(b), count)
    return [(order[r], d) for r, d in zip(plan.rows.tolist(), plan.distances.tolist(), strict=True)]
