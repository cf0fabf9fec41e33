"""Track and artist vectors kept up to date: :func:`refresh_embeddings` (after a scan) and
:func:`reembed_all` (a new layout)."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, func, select

from sonicmap.embedding import DEFAULT_WEIGHTS, LAYOUT_VERSION, aggregate_artist, embed_tracks
from sonicmap.store.repo import get_state, put_embeddings, set_state
from sonicmap.store.schema import (
    ArtistEmbedding,
    Track,
    TrackEmbedding,
    TrackFeatures,
)
from sonicmap.store.vectors import from_blob

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
    with store.read_session() as ses:
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
    with store.read_session() as ses:
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
    with store.read_session() as ses:
        state = get_state(ses, STATE_KEY)
    wanted = {"version": LAYOUT_VERSION, "weights": _effective_weights(weights)}
    if not isinstance(state, Mapping) or dict(state) != wanted:
        old = state.get("version") if isinstance(state, Mapping) else None
        log.info("embedding layout changed from=%s to=%s: re-embedding all", old, LAYOUT_VERSION)
        return reembed_all(store, cfg, weights=weights, batch_size=batch_size) | set(
            artist_ids or ()
        )

    if track_ids is None:
        with store.read_session() as ses:
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
