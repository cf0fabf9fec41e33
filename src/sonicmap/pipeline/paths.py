"""Sonic paths and mixes from the store (shell over :mod:`sonicmap.sequencing`; called by the CLI,
the API, the music-server bridge and the web page alike).

* :func:`sonic_path` — ``count`` tracks from ``start`` to ``end`` in even steps.
* :func:`sonic_mix` — ``count`` tracks around seed tracks, artists and/or GMM clusters.

Both gather a candidate pool through the vector index (:func:`sonicmap.store.vectors.open_index`:
a few exact k-NN queries along the path, or per seed), read the pool's vectors and display rows in
one statement, let the pure planner choose, and answer with typed, immutable results whose
``to_dict()`` is the JSON of the CLI's ``--json`` and of the API. Every track carries
``similarity`` on the one scale of :func:`sonicmap.sequencing.similarity` (path: to the start
track; mix: to the nearest seed).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sqlalchemy import select

from sonicmap.embedding import DIM
from sonicmap.errors import NotEmbeddedError, NotFoundError, SonicmapError
from sonicmap.library.identity import normalise_name
from sonicmap.pipeline.embeddings import TRACK_INFO
from sonicmap.sequencing import Pool, plan_mix, plan_path, similarity, waypoints
from sonicmap.sequencing.pool import NONE
from sonicmap.store.schema import Artist, ArtistEmbedding, Track, TrackEmbedding
from sonicmap.store.vectors import open_index

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)

MAX_COUNT = 500
"""Largest ``count`` a path or a mix may ask for."""
PATH_ANCHORS = 3
"""k-NN queries spread evenly along a path (at least; one per 8 places for long paths) to gather
its candidates: few, since each sqlite-vec query scans the whole index (bench/paths.py: 2-6
queries of 60-120 neighbours give paths of the same smoothness)."""
PATH_NEIGHBOURS = 80
"""Candidates each of those queries brings."""
DEFAULT_MIX_MAX_PER_ARTIST = 3
DEFAULT_MIX_MAX_PER_ALBUM = 2
CLUSTER_SEED_ARTISTS = 5
"""A cluster seeds a mix with its most probable member artists (at most this many)."""

SeedKind = Literal["track", "artist", "cluster"]


@dataclass(frozen=True)
class Seed:
    """What a mix grows from: ``kind`` is ``track``, ``artist`` or ``cluster`` (of the active
    GMM model), ``id`` its id."""

    kind: SeedKind
    id: int

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id}


@dataclass(frozen=True)
class PlaylistTrack:
    """One track of a path or a mix.

    similarity : [0, 1] on the one scale (path: to the start track; mix: to the nearest seed)
    distance : the cosine distance behind ``similarity``
    step_similarity : path only: similarity to the track before (None for the first, and in mixes)
    seed : mix only: the seed this track is nearest to (None in paths)
    """

    id: int
    path: str
    title: str | None
    artist_id: int | None
    artist: str | None
    album_id: int | None
    album: str | None
    duration_s: float | None
    similarity: float
    distance: float
    step_similarity: float | None = None
    seed: Seed | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "title": self.title,
            "artist_id": self.artist_id,
            "artist": self.artist,
            "album_id": self.album_id,
            "album": self.album,
            "duration_s": self.duration_s,
            "similarity": self.similarity,
            "distance": self.distance,
            "step_similarity": self.step_similarity,
            "seed": None if self.seed is None else self.seed.to_dict(),
        }


@dataclass(frozen=True)
class SonicPath:
    """A path: ``tracks`` start with track ``start`` and end with track ``end`` (one track when
    they are equal); fewer than ``count`` only when the library has too few eligible tracks."""

    start: int
    end: int
    count: int
    max_per_artist: int | None
    max_per_album: int | None
    tracks: tuple[PlaylistTrack, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "count": self.count,
            "max_per_artist": self.max_per_artist,
            "max_per_album": self.max_per_album,
            "tracks": [t.to_dict() for t in self.tracks],
        }


@dataclass(frozen=True)
class SonicMix:
    """A mix: up to ``count`` tracks near the ``seeds``, none of them a seed track or in
    ``exclude`` (nor another copy of those recordings)."""

    seeds: tuple[Seed, ...]
    count: int
    exclude: tuple[int, ...]
    max_per_artist: int | None
    max_per_album: int | None
    tracks: tuple[PlaylistTrack, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seeds": [s.to_dict() for s in self.seeds],
            "count": self.count,
            "exclude": list(self.exclude),
            "max_per_artist": self.max_per_artist,
            "max_per_album": self.max_per_album,
            "tracks": [t.to_dict() for t in self.tracks],
        }


# --------------------------------------------------------------------------------------------
# Validation and look-ups
# --------------------------------------------------------------------------------------------


def _check_count(count: Any, low: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not low <= count <= MAX_COUNT:
        raise SonicmapError(f"count must be an integer from {low} to {MAX_COUNT}, got {count!r}")
    return count


def _check_cap(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SonicmapError(f"{name} must be a positive integer or None, got {value!r}")
    return value


# The display rows of similar tracks, plus duration and vector (embedded tracks only).
_ROWS = TRACK_INFO.add_columns(Track.duration_s, TrackEmbedding.vector).join(
    TrackEmbedding, TrackEmbedding.track_id == Track.id
)


def _rows(store: Store, ids: Iterable[int]) -> dict[int, Any]:
    """Display rows + vector blob of these (embedded) tracks, by id."""
    want = sorted({int(i) for i in ids})
    out: dict[int, Any] = {}
    with store.engine.connect() as conn:
        for k in range(0, len(want), 5000):
            for r in conn.execute(_ROWS, {"ids": want[k : k + 5000]}):
                out[int(r.id)] = r
    return out


def _missing_track(store: Store, track_id: int) -> SonicmapError:
    with store.read_session() as ses:
        if ses.get(Track, track_id) is None:
            return NotFoundError(f"track {track_id} does not exist")
    return NotEmbeddedError(
        f"track {track_id} has no embedding yet (not analysed, or analysis failed)"
    )


def _pool(rows: dict[int, Any]) -> Pool:
    """A planner pool from display rows (recording key = artist + folded title)."""
    ids = sorted(rows)
    keys: dict[tuple[int, str], int] = {}
    rec = np.full(len(ids), NONE, np.int64)
    for j, i in enumerate(ids):
        r = rows[i]
        title = normalise_name(r.title)
        if r.artist_id is not None and title:
            rec[j] = keys.setdefault((int(r.artist_id), title), len(keys))
    blob = b"".join(bytes(rows[i].vector) for i in ids)
    vecs = np.frombuffer(blob, dtype="<f4").reshape(len(ids), -1) if ids else np.zeros((0, 64))
    return Pool(
        np.asarray(ids, np.int64),
        vecs,
        np.array([NONE if rows[i].artist_id is None else rows[i].artist_id for i in ids], np.int64),
        np.array([NONE if rows[i].album_id is None else rows[i].album_id for i in ids], np.int64),
        rec,
    )


def _track(
    r: Any,
    distance: float,
    *,
    step: float | None = None,
    seed: Seed | None = None,
) -> PlaylistTrack:
    return PlaylistTrack(
        id=int(r.id),
        path=r.path,
        title=r.title,
        artist_id=r.artist_id,
        artist=r.artist,
        album_id=r.album_id,
        album=r.album,
        duration_s=None if r.duration_s is None else float(r.duration_s),
        similarity=float(similarity(float(distance))),
        distance=float(distance),
        step_similarity=None if step is None else float(similarity(float(step))),
        seed=seed,
    )


# --------------------------------------------------------------------------------------------
# Path
# --------------------------------------------------------------------------------------------


def sonic_path(
    store: Store,
    start: int,
    end: int,
    count: int = 25,
    *,
    max_per_artist: int | None = None,
    max_per_album: int | None = None,
    backend: str = "auto",
) -> SonicPath:
    """A path of ``count`` tracks (both ends included) from track ``start`` to track ``end``.

    The first track is ``start`` and the last ``end`` (a single track when ``start == end``); no
    track or recording (same artist and title) appears twice; steps are as even as the library
    allows (see :func:`sonicmap.sequencing.plan_path`); optional caps per artist and per album
    (the ends count towards them). Raises :class:`NotFoundError` naming an unknown track,
    :class:`NotEmbeddedError` (a :class:`ConflictError`) for one not yet embedded,
    :class:`SonicmapError` for ``count`` outside 2..:data:`MAX_COUNT` or a bad cap. ``backend``
    picks the vector index (:func:`sonicmap.store.vectors.open_index`).
    """
    count = _check_count(count, 2)
    cap_a = _check_cap("max_per_artist", max_per_artist)
    cap_b = _check_cap("max_per_album", max_per_album)
    start, end = int(start), int(end)
    ends = _rows(store, {start, end})
    for tid in (start, end):
        if tid not in ends:
            raise _missing_track(store, tid)
    a = np.frombuffer(bytes(ends[start].vector), dtype="<f4")
    b = np.frombuffer(bytes(ends[end].vector), dtype="<f4")
    ids: set[int] = {start, end}
    if start != end and np.any(a) and np.any(b) and count > 2:
        n_mid = count - 2
        n_anchor = min(n_mid, max(PATH_ANCHORS, math.ceil(n_mid / 8)))
        k = PATH_NEIGHBOURS
        index = open_index(store, backend=backend)
        for q in waypoints(a, b, n_anchor + 2)[1:-1]:
            ids.update(i for i, _ in index.knn("track", q.astype(np.float32), k))
    rows = ends if ids == set(ends) else _rows(store, ids)
    pool = _pool(rows)
    row_of = {int(t): j for j, t in enumerate(pool.ids)}
    if not (np.any(a) and np.any(b)):  # a zero vector has no direction: no path through it
        plan_rows = [row_of[start]] if start == end else [row_of[start], row_of[end]]
        dist = [0.0, 1.0][: len(plan_rows)]  # undefined angle: reported as orthogonal (0.5)
        steps = dist
    else:
        plan = plan_path(
            pool,
            row_of[start],
            row_of[end],
            count,
            max_per_artist=cap_a,
            max_per_album=cap_b,
        )
        plan_rows, dist, steps = plan.rows.tolist(), plan.distances.tolist(), plan.steps.tolist()
    tracks = tuple(
        _track(rows[int(pool.ids[r])], d, step=s if j else None)
        for j, (r, d, s) in enumerate(zip(plan_rows, dist, steps, strict=True))
    )
    return SonicPath(start, end, count, cap_a, cap_b, tracks)


# --------------------------------------------------------------------------------------------
# Mix
# --------------------------------------------------------------------------------------------


def _artist_vectors(store: Store, artist_ids: Sequence[int]) -> dict[int, np.ndarray]:
    with store.read_session() as ses:
        found = dict(
            ses.execute(
                select(ArtistEmbedding.artist_id, ArtistEmbedding.vector).where(
                    ArtistEmbedding.artist_id.in_(list(artist_ids))
                )
            ).all()
        )
        out = {}
        for aid in artist_ids:
            if aid not in found:
                if ses.get(Artist, aid) is None:
                    raise NotFoundError(f"artist {aid} does not exist")
                raise NotEmbeddedError(f"artist {aid} has no embedding yet (no analysed track)")
            out[aid] = np.frombuffer(bytes(found[aid]), dtype="<f4")
    return out


def _cluster_artists(store: Store, cluster_id: int) -> list[int]:
    from sonicmap.pipeline.clustering import cluster_detail

    detail = cluster_detail(store, cluster_id, limit=CLUSTER_SEED_ARTISTS)
    return [int(m["id"]) for m in detail["members"]]


def sonic_mix(
    store: Store,
    tracks: Sequence[int] = (),
    *,
    artists: Sequence[int] = (),
    clusters: Sequence[int] = (),
    count: int = 50,
    exclude: Iterable[int] = (),
    max_per_artist: int | None = DEFAULT_MIX_MAX_PER_ARTIST,
    max_per_album: int | None = DEFAULT_MIX_MAX_PER_ALBUM,
    backend: str = "auto",
) -> SonicMix:
    """A mix of ``count`` tracks around seed tracks, artists and/or clusters (at least one seed).

    Each seed is a query point (a track's or an artist's vector; a cluster of the active GMM model
    brings its :data:`CLUSTER_SEED_ARTISTS` most probable artists); the seeds share the mix in turn
    (see :func:`sonicmap.sequencing.plan_mix`). Never returns a seed track, an ``exclude``d track
    (ids of tracks that no longer exist are ignored), or another copy of their recordings; at most
    ``max_per_artist`` / ``max_per_album`` tracks per artist / album (None = no cap). Raises
    :class:`NotFoundError` naming an unknown seed, :class:`NotEmbeddedError` for one without a
    vector, :class:`SonicmapError` for no seed, ``count``
    outside 1..:data:`MAX_COUNT` or a bad cap. ``backend`` picks the vector index.
    """
    count = _check_count(count, 1)
    cap_a = _check_cap("max_per_artist", max_per_artist)
    cap_b = _check_cap("max_per_album", max_per_album)
    seeds = tuple(
        [Seed("track", int(t)) for t in dict.fromkeys(tracks)]
        + [Seed("artist", int(a)) for a in dict.fromkeys(artists)]
        + [Seed("cluster", int(c)) for c in dict.fromkeys(clusters)]
    )
    if not seeds:
        raise SonicmapError("a mix needs at least one seed: a track, an artist or a cluster")
    excluded = tuple(dict.fromkeys(int(i) for i in exclude))
    seed_tracks = [s.id for s in seeds if s.kind == "track"]
    known = _rows(store, [*seed_tracks, *excluded])
    for tid in seed_tracks:
        if tid not in known:
            raise _missing_track(store, tid)
    # query points, each with the seed it stands for
    points: list[tuple[Seed, np.ndarray]] = [
        (s, np.frombuffer(bytes(known[s.id].vector), dtype="<f4"))
        for s in seeds
        if s.kind == "track"
    ]
    artist_seeds = [s for s in seeds if s.kind == "artist"]
    cluster_members = {s.id: _cluster_artists(store, s.id) for s in seeds if s.kind == "cluster"}
    avec = _artist_vectors(
        store, list(dict.fromkeys([s.id for s in artist_seeds] + sum(cluster_members.values(), [])))
    )
    points += [(s, avec[s.id]) for s in artist_seeds]
    points += [(s, avec[a]) for s in seeds if s.kind == "cluster" for a in cluster_members[s.id]]
    points = [(s, v) for s, v in points if np.any(v)]
    never = set(seed_tracks) | set(excluded)

    index = open_index(store, backend=backend)
    per_seed = max(1, math.ceil(count / max(1, len(points))))
    fetch = 2 * per_seed + 8  # sqlite-vec: each candidate costs ~0.07 ms at 100k tracks
    while True:
        ids: set[int] = set(known)
        full = False
        for _, v in points:
            # (no exclude= here: a player's long list of played tracks would widen every scan;
            # the planner skips them, and the fetch widens if they held too many back)
            hits = index.knn("track", v, fetch)
            full |= len(hits) == fetch
            ids.update(i for i, _ in hits)
        rows = _rows(store, ids)
        pool = _pool(rows)
        row_of = {int(t): j for j, t in enumerate(pool.ids)}
        plan = plan_mix(
            pool,
            np.array([v for _, v in points], dtype=np.float64).reshape(len(points), DIM),
            count,
            exclude=[row_of[i] for i in never if i in row_of],
            max_per_artist=cap_a,
            max_per_album=cap_b,
        )
        if len(plan.rows) >= count or not full:
            break
        fetch *= 2  # the caps or exclusions held too many back
    out = tuple(
        _track(rows[int(pool.ids[r])], d, seed=points[int(s)][0])
        for r, s, d in zip(
            plan.rows.tolist(), plan.seed.tolist(), plan.distances.tolist(), strict=True
        )
    )
    return SonicMix(seeds, count, excluded, cap_a, cap_b, out)
