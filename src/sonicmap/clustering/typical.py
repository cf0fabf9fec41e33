"""The most typical tracks of a cluster (pure): what a cluster playlist plays, in order."""

from __future__ import annotations

import math

import numpy as np


def typical_tracks(
    track_ids: np.ndarray,
    track_vectors: np.ndarray,
    track_artist: np.ndarray,
    artist_ids: np.ndarray,
    artist_vectors: np.ndarray,
    artist_weight: np.ndarray,
    count: int,
    *,
    max_per_artist: int | None = None,
) -> list[int]:
    """Track ids of a cluster, most typical first.

    The cluster's centre is the weighted mean of its member artists' unit vectors (weights: their
    membership probabilities); a track's typicality is the cosine similarity of its vector to
    that centre. Ties go to the smaller track id. No artist gets more than ``max_per_artist``
    tracks (default ``ceil(count / n_artists)``, at least 2) while others still have some: a
    cluster playlist spreads over the cluster.

    track_ids : [shape=(n,), int] the member artists' tracks
    track_vectors : [shape=(n, d), float32]
    track_artist : [shape=(n,), int] artist id of each track
    artist_ids, artist_weight : [shape=(m,)] member artists and their probabilities
    artist_vectors : [shape=(m, d), float32]
    """
    n = len(track_ids)
    if n == 0 or count <= 0:
        return []
    av = np.asarray(artist_vectors, dtype=np.float64)
    av = av / np.maximum(np.linalg.norm(av, axis=1, keepdims=True), 1e-12)
    w = np.asarray(artist_weight, dtype=np.float64)
    centre = (w[:, None] * av).sum(axis=0) / max(float(w.sum()), 1e-12)
    centre /= max(float(np.linalg.norm(centre)), 1e-12)
    tv = np.asarray(track_vectors, dtype=np.float64)
    sim = tv @ centre / np.maximum(np.linalg.norm(tv, axis=1), 1e-12)
    order = np.lexsort((np.asarray(track_ids), -sim))
    n_artists = max(1, len(set(np.asarray(artist_ids).tolist())))
    cap = max_per_artist or max(2, math.ceil(count / n_artists))
    taken: dict[int, int] = {}
    picked: list[int] = []
    spill: list[int] = []
    for i in order:
        a = int(track_artist[i])
        if taken.get(a, 0) < cap:
            taken[a] = taken.get(a, 0) + 1
            picked.append(int(track_ids[i]))
        else:
            spill.append(int(track_ids[i]))
        if len(picked) >= count:
            return picked
    return picked + spill[: count - len(picked)]
