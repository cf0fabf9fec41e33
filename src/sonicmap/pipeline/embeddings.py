"""Track and artist embeddings in the store, and similarity search (shell over
:mod:`sonicmap.embedding`; called by the CLI, the worker and the API alike).

* :func:`refresh_embeddings` — (re)embed tracks from their stored descriptors and re-aggregate the
  artists they touch (called after every scan). If the stored layout version (``app_state`` key
  ``embedding.layout``) differs from :data:`~sonicmap.embedding.LAYOUT_VERSION`, or other block
  weights are asked for, everything is re-embedded first (:func:`reembed_all`) — from the stored
  descriptors, never by re-analysing audio.
* :func:`similar_tracks` / :func:`similar_artists` — exact cosine k-NN through
  :func:`sonicmap.store.vectors.open_index`, never returning the seed, with per-artist / per-album
  caps for tracks (over-fetch, filter, widen until enough), scores in [0, 1]
  (``1 − cosine_distance / 2``; 1 = identical direction).

Similar artists may blend in GMM cluster-membership overlap: with ``membership_weight=w > 0`` and
an active model whose ``artist_clusters`` rows hold both artists' probability vectors ``p``, ``q``,
the score is ``(1 − w)·cosine_score + w·BC(p, q)`` where ``BC = Σ_k sqrt(p_k q_k)`` is the
Bhattacharyya coefficient (1 = same membership, 0 = disjoint clusters). Candidates are over-fetched
by cosine (``max(3k, k + 20)``) and re-ranked; artists without a membership vector keep their cosine
score. The default ``w = 0`` is pure cosine.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import bindparam, delete, func, select

from sonicmap.embedding import DEFAULT_WEIGHTS, LAYOUT_VERSION, aggregate_artist, embed_tracks
from sonicmap.errors import NotFoundError, SonicmapError
from sonicmap.sequencing import similarity
from sonicmap.store.repo import get_state, put_embeddings, set_state
from sonicmap.store.schema import (
    Album,
    Artist,
    ArtistCluster,
    ArtistEmbedding,
    GmmModel,
    Track,
    TrackEmbedding,
    TrackFeatures,
)
from sonicmap.store.vectors import from_blob, open_index

if TYPE_CHECKING:
    from sonicmap.config import AppConfig
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)

STATE_KEY = "embedding.layout"
"""``app_state`` key holding ``{"version": LAYOUT_VERSION, "weights": {...}}`` of stored vectors."""
BATCH = 5000
"""Tracks embedded per database round trip (bounds memory on a Raspberry Pi)."""


def _chunks(ids: Sequence[int], n: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), n):
        yield list(ids[start : start + n])


def _effective_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    w = dict(DEFAULT_WEIGHTS)
    w.update({k: float(v) for k, v in (weights or {}).items()})
    return w


def _genres_of(tags: Any) -> list[str]:
    """Genre tags from a stored ``tracks.tags`` dict (``genres`` list, or a ``genre`` string)."""
    if not isinstance(tags, Mapping):
        return []
    g = tags.get("genres")
    if g is None:
        g = tags.get("genre")
    if isinstance(g, str):
        return [g]
    return [x for x in g if isinstance(x, str)] if isinstance(g, list | tuple) else []


# --------------------------------------------------------------------------------------------
# Writing vectors
# --------------------------------------------------------------------------------------------


def _embed_batch(
    store: Store, ids: list[int], weights: Mapping[str, float] | None
) -> tuple[set[int], int]:
    """Embed one batch of tracks; drop stale vectors of tracks without descriptors.

    Returns (artist ids touched, tracks embedded).
    """
    touched: set[int] = set()
    with store.session() as ses:
        rows = ses.execute(
            select(Track.id, Track.artist_id, Track.tags, TrackFeatures.features)
            .outerjoin(TrackFeatures, TrackFeatures.track_id == Track.id)
            .where(Track.id.in_(ids))
        ).all()
        have = [r for r in rows if isinstance(r.features, Mapping)]
        without = [r.id for r in rows if not isinstance(r.features, Mapping)]
        touched.update(r.artist_id for r in rows if r.artist_id is not None)
        if without:
            ses.execute(delete(TrackEmbedding).where(TrackEmbedding.track_id.in_(without)))
        if have:
            vecs = embed_tracks(
                [r.features for r in have], [_genres_of(r.tags) for r in have], weights=weights
            )
            put_embeddings(ses, "track", [r.id for r in have], vecs, layout_version=LAYOUT_VERSION)
    return touched, len(have)


def _stale_artists(store: Store) -> set[int]:
    """Artists whose stored vector no longer matches their embedded tracks (count or version),
    or who have embedded tracks but no vector, or a vector but no embedded track left."""
    with store.session() as ses:
        counts = dict(
            ses.execute(
                select(Track.artist_id, func.count())
                .join(TrackEmbedding, TrackEmbedding.track_id == Track.id)
                .where(Track.artist_id.is_not(None))
                .group_by(Track.artist_id)
            ).all()
        )
        stored = {
            a: (n, v)
            for a, n, v in ses.execute(
                select(
                    ArtistEmbedding.artist_id,
                    ArtistEmbedding.n_tracks,
                    ArtistEmbedding.layout_version,
                )
            ).all()
        }
    stale = {a for a in counts if a not in stored}
    stale |= {a for a, (n, v) in stored.items() if v != LAYOUT_VERSION or counts.get(a, 0) != n}
    return stale


def _aggregate(store: Store, artist_ids: Iterable[int]) -> int:
    """Recompute (or delete) the vectors of these artists from their track vectors."""
    ids = sorted({int(a) for a in artist_ids})
    written = 0
    for chunk in _chunks(ids, 1000):
        with store.session() as ses:
            rows = ses.execute(
                select(Track.artist_id, Track.duration_s, TrackEmbedding.vector)
                .join(TrackEmbedding, TrackEmbedding.track_id == Track.id)
                .where(Track.artist_id.in_(chunk))
                .order_by(Track.artist_id, Track.id)
            ).all()
            by_artist: dict[int, tuple[list[bytes], list[float]]] = defaultdict(lambda: ([], []))
            for r in rows:
                blobs, durs = by_artist[r.artist_id]
                blobs.append(r.vector)
                durs.append(math.nan if r.duration_s is None else float(r.duration_s))
            gone = [a for a in chunk if a not in by_artist]
            if gone:
                ses.execute(delete(ArtistEmbedding).where(ArtistEmbedding.artist_id.in_(gone)))
            if not by_artist:
                continue
            aids = sorted(by_artist)
            vecs = np.empty((len(aids), 64), dtype=np.float32)
            n_tracks, totals = [], []
            for j, a in enumerate(aids):
                blobs, durs = by_artist[a]
                m = np.vstack([from_blob(b) for b in blobs])
                d = np.asarray(durs)
                vecs[j] = aggregate_artist(m, d)
                n_tracks.append(len(blobs))
                totals.append(float(np.nansum(d)))
            put_embeddings(
                ses,
                "artist",
                aids,
                vecs,
                layout_version=LAYOUT_VERSION,
                n_tracks=n_tracks,
                total_duration_s=totals,
            )
            written += len(aids)
    return written


def reembed_all(
    store: Store,
    cfg: AppConfig | None = None,
    *,
    weights: Mapping[str, float] | None = None,
    batch_size: int = BATCH,
) -> set[int]:
    """Re-embed every analysed track from its stored descriptors and re-aggregate every artist.

    Used when the layout version (or the block weights) changed. Returns the artist ids whose
    vectors were rewritten or removed.
    """
    with store.session() as ses:
        ids = list(ses.scalars(select(Track.id).order_by(Track.id)))
        artists_before = set(ses.scalars(select(ArtistEmbedding.artist_id)))
    touched: set[int] = set()
    n = 0
    for chunk in _chunks(ids, batch_size):
        t, k = _embed_batch(store, chunk, weights)
        touched |= t
        n += k
    with store.session() as ses:  # vectors of tracks that no longer exist
        ses.execute(delete(TrackEmbedding).where(TrackEmbedding.track_id.not_in(select(Track.id))))
    touched |= artists_before
    _aggregate(store, touched)
    with store.session() as ses:
        set_state(
            ses, STATE_KEY, {"version": LAYOUT_VERSION, "weights": _effective_weights(weights)}
        )
    log.info(
        "re-embedded all tracks=%d artists=%d layout_version=%d", n, len(touched), LAYOUT_VERSION
    )
    return touched


def refresh_embeddings(
    store: Store,
    cfg: AppConfig | None = None,
    *,
    track_ids: Iterable[int] | None = None,
    artist_ids: Iterable[int] | None = None,
    weights: Mapping[str, float] | None = None,
    batch_size: int = BATCH,
) -> set[int]:
    """Bring track and artist vectors up to date; return the artist ids whose vectors changed.

    Parameters
    ----------
    store : Store
    cfg : AppConfig, optional (unused today; the signature every pipeline step shares)
    track_ids : ids to (re)embed from their stored descriptors; ``None`` = every track that has
        descriptors but no vector of the current layout version. Tracks without descriptors lose
        any stale vector.
    artist_ids : extra artists to re-aggregate (e.g. ones that lost tracks). Artists whose stored
        track count no longer matches their embedded tracks are found and re-aggregated anyway.
    weights : block weights (default :data:`sonicmap.embedding.DEFAULT_WEIGHTS`); a change from
        the stored ones re-embeds everything.
    """
    with store.session() as ses:
        state = get_state(ses, STATE_KEY)
    wanted = {"version": LAYOUT_VERSION, "weights": _effective_weights(weights)}
    if not isinstance(state, Mapping) or dict(state) != wanted:
        old = state.get("version") if isinstance(state, Mapping) else None
        log.info("embedding layout changed from=%s to=%s: re-embedding all", old, LAYOUT_VERSION)
        return reembed_all(store, cfg, weights=weights, batch_size=batch_size) | set(
            artist_ids or ()
        )

    if track_ids is None:
        with store.session() as ses:
            ids = list(
                ses.scalars(
                    select(TrackFeatures.track_id)
                    .outerjoin(TrackEmbedding, TrackEmbedding.track_id == TrackFeatures.track_id)
                    .where(
                        (TrackEmbedding.track_id.is_(None))
                        | (TrackEmbedding.layout_version != LAYOUT_VERSION)
                    )
                    .order_by(TrackFeatures.track_id)
                )
            )
    else:
        ids = sorted({int(i) for i in track_ids})
    touched: set[int] = {int(a) for a in artist_ids or ()}
    n = 0
    for chunk in _chunks(ids, batch_size):
        t, k = _embed_batch(store, chunk, weights)
        touched |= t
        n += k
    touched |= _stale_artists(store)
    _aggregate(store, touched)
    log.info("embeddings refreshed tracks=%d artists=%d", n, len(touched))
    return touched


# --------------------------------------------------------------------------------------------
# Similarity
# --------------------------------------------------------------------------------------------


def score_of(distance: float) -> float:
    """Cosine distance (0..2) → similarity score in [0, 1]; 1 = identical direction."""
    return min(1.0, max(0.0, 1.0 - float(distance) / 2.0))


def _positive(name: str, value: int | None, *, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SonicmapError(f"{name} must be a positive integer, got {value!r}")
    return value


def similar_tracks(
    store: Store,
    track_id: int,
    k: int = 10,
    *,
    max_per_artist: int | None = None,
    max_per_album: int | None = None,
) -> list[dict[str, Any]]:
    """The ``k`` tracks that sound most like ``track_id`` (never the track itself).

    ``max_per_artist`` / ``max_per_album`` cap how many results may share an artist / album
    (tracks without an artist or album are never capped). Candidates are over-fetched and the
    fetch is widened until ``k`` results pass the caps or the library is exhausted.

    Returns
    -------
    list of dicts, best first: ``id``, ``path``, ``title``, ``artist_id``, ``artist``,
    ``album_id``, ``album``, ``score`` (0..1), ``similarity`` (0..1 on the one scale of
    :func:`sonicmap.sequencing.similarity`), ``distance`` (cosine distance).
    Raises :class:`NotFoundError` for an unknown or not yet embedded track.
    """
    _positive("k", k, allow_none=False)
    _positive("max_per_artist", max_per_artist)
    _positive("max_per_album", max_per_album)
    track_id = int(track_id)
    index = open_index(store)
    try:
        q = index.get_vector("track", track_id)
    except NotFoundError:
        with store.session() as ses:
            if ses.get(Track, track_id) is None:
                raise NotFoundError(f"track {track_id} does not exist") from None
        raise NotFoundError(
            f"track {track_id} has no embedding yet (not analysed, or analysis failed)"
        ) from None
    if not np.any(q):
        return []
    capped = max_per_artist is not None or max_per_album is not None
    fetch = k if not capped else 2 * k + 8  # sqlite-vec: ~0.07 ms per candidate at 100k
    info: dict[int, Any] = {}
    while True:
        hits = index.knn("track", q, fetch, exclude=(track_id,))
        info.update(_track_info(store, [i for i, _ in hits if i not in info]))
        picked: list[tuple[int, float]] = []
        per_artist: dict[int, int] = defaultdict(int)
        per_album: dict[int, int] = defaultdict(int)
        for tid, dist in hits:
            row = info.get(tid)
            if row is None:  # deleted meanwhile
                continue
            aid, alb = row.artist_id, row.album_id
            if max_per_artist is not None and aid is not None:
                if per_artist[aid] >= max_per_artist:
                    continue
            if max_per_album is not None and alb is not None:
                if per_album[alb] >= max_per_album:
                    continue
            if aid is not None:
                per_artist[aid] += 1
            if alb is not None:
                per_album[alb] += 1
            picked.append((tid, dist))
            if len(picked) == k:
                break
        if len(picked) >= k or len(hits) < fetch:
            break
        fetch *= 4
    return [
        {
            "id": tid,
            "path": info[tid].path,
            "title": info[tid].title,
            "artist_id": info[tid].artist_id,
            "artist": info[tid].artist,
            "album_id": info[tid].album_id,
            "album": info[tid].album,
            "score": score_of(dist),
            "similarity": similarity(float(dist)),
            "distance": float(dist),
        }
        for tid, dist in picked
    ]


# One statement, compiled once (the id list is an expanding parameter); run on a plain connection,
# not an ORM session: a similar-tracks query is a few milliseconds, and a session costs ~0.2 ms.
TRACK_INFO = (
    select(
        Track.id,
        Track.path,
        Track.title,
        Track.artist_id,
        Artist.name.label("artist"),
        Track.album_id,
        Album.title.label("album"),
    )
    .outerjoin(Artist, Artist.id == Track.artist_id)
    .outerjoin(Album, Album.id == Track.album_id)
    .where(Track.id.in_(bindparam("ids", expanding=True)))
)


def _track_info(store: Store, ids: list[int]) -> dict[int, Any]:
    """Display rows (path, title, artist/album ids and names) of these tracks."""
    out: dict[int, Any] = {}
    if not ids:
        return out
    with store.engine.connect() as conn:
        for chunk in _chunks(ids, 5000):
            for r in conn.execute(TRACK_INFO, {"ids": chunk}):
                out[int(r.id)] = r
    return out


def _memberships(store: Store, artist_ids: Sequence[int]) -> dict[int, np.ndarray]:
    """Cluster-membership probability vectors of the active GMM model (empty if none)."""
    with store.session() as ses:
        model_id = ses.scalar(
            select(GmmModel.id).where(GmmModel.status == "active").order_by(GmmModel.id.desc())
        )
        if model_id is None:
            return {}
        out: dict[int, np.ndarray] = {}
        for chunk in _chunks(list(artist_ids), 5000):
            for aid, blob in ses.execute(
                select(ArtistCluster.artist_id, ArtistCluster.probabilities).where(
                    ArtistCluster.model_id == model_id, ArtistCluster.artist_id.in_(chunk)
                )
            ).all():
                p = membership_distribution(blob)
                if p is not None:
                    out[int(aid)] = p
    return out


def membership_distribution(blob: bytes) -> np.ndarray | None:
    """Stored membership probabilities (float32 blob) → a distribution [float64], None if all 0."""
    p = np.clip(from_blob(blob).astype(np.float64), 0.0, None)
    s = p.sum()
    return p / s if s > 0 else None


def bhattacharyya(p: np.ndarray, q: np.ndarray) -> float:
    """Bhattacharyya coefficient ``Σ sqrt(p_k q_k)`` of two probability vectors, in [0, 1]."""
    if p.shape != q.shape:
        return 0.0
    return float(min(1.0, max(0.0, np.sqrt(p * q).sum())))


def rank_similar_artists(
    knn: Callable[..., list[tuple[int, float]]],
    q: np.ndarray,
    artist_id: int,
    k: int,
    w: float,
    memberships: Callable[[list[int]], Mapping[int, np.ndarray]],
) -> list[tuple[float, int, float, float | None, float]]:
    """The ranking of :func:`similar_artists` on a vector index: ``k`` best, best first.

    ``knn(q, n, exclude=ids)`` searches the artist vectors (``MemoryIndex.knn``, or
    ``VectorIndex.knn`` bound to ``"artist"``).
    ``q`` is the seed's (non-zero) vector; ``memberships(ids)`` gives the membership distributions
    (:func:`membership_distribution`) of those artists under the active model, and is only called
    when ``w > 0``. Returns ``(score, id, cosine_score, overlap or None, distance)`` tuples.
    """
    fetch = k if w == 0 else max(3 * k, k + 20)
    hits = knn(q, fetch, exclude=(artist_id,))
    ranked: list[tuple[float, int, float, float | None, float]] = []
    members = memberships([artist_id] + [i for i, _ in hits]) if w > 0 else {}
    seed_p = members.get(artist_id)
    for aid, dist in hits:
        cos = score_of(dist)
        overlap = None
        score = cos
        if seed_p is not None and aid in members:
            overlap = bhattacharyya(seed_p, members[aid])
            score = (1.0 - w) * cos + w * overlap
        ranked.append((score, aid, cos, overlap, dist))
    ranked.sort(key=lambda r: (-r[0], r[1]))
    return ranked[:k]


def similar_artists(
    store: Store,
    artist_id: int,
    k: int = 10,
    *,
    membership_weight: float = 0.0,
) -> list[dict[str, Any]]:
    """The ``k`` artists that sound most like ``artist_id`` (never the artist itself).

    ``membership_weight`` in [0, 1] blends in the overlap of GMM cluster memberships of the active
    model (see the module docs); 0 = pure cosine.

    Returns
    -------
    list of dicts, best first: ``id``, ``name``, ``artist`` (= name), ``n_tracks``, ``score``
    (0..1), ``cosine_score``, ``membership_overlap`` (None when not blended), ``similarity``
    (0..1 on the one scale of :func:`sonicmap.sequencing.similarity`, from the vectors alone),
    ``distance``.
    Raises :class:`NotFoundError` for an unknown or not yet embedded artist.
    """
    _positive("k", k, allow_none=False)
    w = float(membership_weight)
    if not 0.0 <= w <= 1.0:
        raise SonicmapError(f"membership_weight must be between 0 and 1, got {membership_weight!r}")
    artist_id = int(artist_id)
    index = open_index(store)
    try:
        q = index.get_vector("artist", artist_id)
    except NotFoundError:
        with store.session() as ses:
            if ses.get(Artist, artist_id) is None:
                raise NotFoundError(f"artist {artist_id} does not exist") from None
        raise NotFoundError(
            f"artist {artist_id} has no embedding yet (no analysed track)"
        ) from None
    if not np.any(q):
        return []
    ranked = rank_similar_artists(
        partial(index.knn, "artist"), q, artist_id, k, w, lambda ids: _memberships(store, ids)
    )
    ids = [r[1] for r in ranked]
    with store.session() as ses:
        info = {
            r.id: r
            for r in ses.execute(
                select(Artist.id, Artist.name, ArtistEmbedding.n_tracks)
                .outerjoin(ArtistEmbedding, ArtistEmbedding.artist_id == Artist.id)
                .where(Artist.id.in_(ids))
            ).all()
        }
    return [
        {
            "id": aid,
            "name": info[aid].name,
            "artist": info[aid].name,
            "n_tracks": info[aid].n_tracks,
            "score": score,
            "cosine_score": cos,
            "membership_overlap": overlap,
            "similarity": similarity(float(dist)),
            "distance": float(dist),
        }
        for score, aid, cos, overlap, dist in ranked
        if aid in info
    ]


# --------------------------------------------------------------------------------------------
# Look-ups for adapters
# --------------------------------------------------------------------------------------------


def _fold(s: str) -> str:
    return unicodedata.normalize("NFKC", s).casefold().strip()


def find_artist(store: Store, name: str) -> int:
    """Id of the artist called ``name`` (case- and Unicode-form-insensitive).

    Raises :class:`NotFoundError` (with up to five close names) or :class:`SonicmapError` when
    several artists share the name.
    """
    want = _fold(name)
    with store.session() as ses:
        rows = ses.execute(
            select(Artist.id, Artist.name).where(func.lower(Artist.name) == name.lower())
        ).all()
        exact = [r for r in rows if _fold(r.name) == want]
        if not exact:  # lower() in SQL is ASCII-only on SQLite: compare folded names in Python
            rows = ses.execute(select(Artist.id, Artist.name)).all()
            exact = [r for r in rows if _fold(r.name) == want]
            if not exact:
                near = sorted(r.name for r in rows if want and want in _fold(r.name))[:5]
                hint = f"; did you mean: {', '.join(near)}" if near else ""
                raise NotFoundError(f"no artist named {name!r}{hint}")
    if len(exact) > 1:
        raise SonicmapError(
            f"{len(exact)} artists are named {name!r} (ids {', '.join(str(r.id) for r in exact)})"
        )
    return int(exact[0].id)


def find_track(store: Store, path: str | Path) -> int:
    """Id of the track stored under ``path`` (as given, or resolved to an absolute path)."""
    raw = str(path)
    candidates = [raw]
    try:
        p = Path(raw).expanduser()
        candidates += [str(p.absolute()), str(p.resolve())]
    except (OSError, RuntimeError):
        pass
    with store.session() as ses:
        for c in dict.fromkeys(candidates):
            tid = ses.scalar(select(Track.id).where(Track.path == c))
            if tid is not None:
                return int(tid)
    raise NotFoundError(f"no track stored at {raw!r}; scan its folder first (sonicmap scan)")
