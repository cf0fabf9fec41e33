"""Read-only queries over the scanned tracks (listing, counts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from sonicmap.store.schema import Album, Artist, Track, TrackEmbedding

if TYPE_CHECKING:
    from sonicmap.store.db import Store


def count_tracks(store: Store) -> dict[str, int]:
    """Number of stored tracks per status."""
    with store.read_session() as ses:
        return {
            s: n for s, n in ses.execute(select(Track.status, func.count()).group_by(Track.status))
        }


def list_tracks(
    store: Store, *, status: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Stored tracks (newest path order), as JSON-able dicts with artist/album names."""
    q = (
        select(Track, Artist.name, Album.title)
        .outerjoin(Artist, Artist.id == Track.artist_id)
        .outerjoin(Album, Album.id == Track.album_id)
        .order_by(Track.path)
    )
    if status is not None:
        q = q.where(Track.status == status)
    if limit:
        q = q.limit(limit)
    with store.read_session() as ses:
        return [
            {
                "id": t.id,
                "path": t.path,
                "status": t.status,
                "title": t.title,
                "artist": artist,
                "album": album,
                "format": t.format,
                "duration_s": t.duration_s,
                "size": t.size,
                "last_error": t.last_error,
                "analysed_at": t.analysed_at.isoformat() if t.analysed_at else None,
            }
            for t, artist, album in ses.execute(q)
        ]


def tracks_needing_embeddings(store: Store) -> set[int]:
    """Analysed tracks without a vector (e.g. left by a scan that was killed before its
    embedding step): picked up by the next scan whatever it finds changed."""
    with store.read_session() as ses:
        return set(
            ses.scalars(
                select(Track.id)
                .outerjoin(TrackEmbedding, TrackEmbedding.track_id == Track.id)
                .where(Track.status == "analysed", TrackEmbedding.track_id.is_(None))
            )
        )
