"""Adapters from the pipeline's similarity functions to the API's response shapes.

:func:`sonicmap.pipeline.embeddings.similar_artists` / ``similar_tracks`` do the search (exact
cosine through the vector index, seed excluded, caps applied); this module only normalises their
results to ``(id, score)`` pairs and joins the names the responses show.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sonicmap.api.errors import ApiError
from sonicmap.api.queries import clamp01
from sonicmap.api.schemas import SimilarArtist, SimilarTrack
from sonicmap.store.db import Store
from sonicmap.store.schema import Album, Artist, Track


def _pairs(results: Iterable[Any]) -> list[tuple[int, float]]:
    """``[(id, score)]`` from dicts (``id``, ``score``) or objects/tuples of the same."""
    out: list[tuple[int, float]] = []
    for r in results:
        if isinstance(r, dict):
            out.append((int(r["id"]), float(r["score"])))
        elif isinstance(r, tuple | list):
            out.append((int(r[0]), float(r[1])))
        else:
            out.append((int(r.id), float(r.score)))
    return out


def _pipeline() -> Any:
    try:
        from sonicmap.pipeline import embeddings
    except ImportError as exc:  # pragma: no cover - only before the embedding code lands
        raise ApiError(
            503, "not_available", f"similarity search is not available in this build ({exc})"
        ) from None
    return embeddings


def similar_artists(
    store: Store, session: Session, artist_id: int, limit: int
) -> list[SimilarArtist]:
    pairs = _pairs(_pipeline().similar_artists(store, artist_id, limit))
    names = dict(
        session.execute(
            select(Artist.id, Artist.name).where(Artist.id.in_([i for i, _ in pairs]))
        ).all()
    )
    return [SimilarArtist(id=i, name=names[i], score=clamp01(s)) for i, s in pairs if i in names]


def similar_tracks(
    store: Store,
    session: Session,
    track_id: int,
    limit: int,
    *,
    max_per_artist: int | None,
    max_per_album: int | None,
) -> list[SimilarTrack]:
    pairs = _pairs(
        _pipeline().similar_tracks(
            store, track_id, limit, max_per_artist=max_per_artist, max_per_album=max_per_album
        )
    )
    rows = session.execute(
        select(Track, Artist.name, Album.title)
        .join(Artist, Artist.id == Track.artist_id, isouter=True)
        .join(Album, Album.id == Track.album_id, isouter=True)
        .where(Track.id.in_([i for i, _ in pairs]))
    ).all()
    by_id = {t.id: (t, a, al) for t, a, al in rows}
    out = []
    for i, s in pairs:
        if i not in by_id:
            continue
        t, artist, album = by_id[i]
        out.append(
            SimilarTrack(
                id=t.id,
                path=t.path,
                title=t.title,
                artist_id=t.artist_id,
                artist=artist,
                album_id=t.album_id,
                album=album,
                score=clamp01(s),
            )
        )
    return out
