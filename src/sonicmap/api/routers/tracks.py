"""Tracks: list/search, detail (descriptors, tags, cluster of the artist), similar tracks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, or_, select

from sonicmap.api import similar
from sonicmap.api.deps import READ_ERRORS, PageDep, ReadAccess, SessionDep, StoreDep, responses
from sonicmap.api.errors import ApiError
from sonicmap.api.queries import cluster_refs, like_pattern
from sonicmap.api.schemas import Page, SimilarTracks, TrackDetail, TrackOut
from sonicmap.store import schema as db

router = APIRouter(prefix="/tracks", tags=["tracks"], dependencies=[ReadAccess])

TrackId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Track id.")]


def _track_select():  # noqa: ANN202 - a SQLAlchemy Select
    return (
        select(db.Track, db.Artist.name, db.Album.title)
        .join(db.Artist, db.Artist.id == db.Track.artist_id, isouter=True)
        .join(db.Album, db.Album.id == db.Track.album_id, isouter=True)
    )


def _out(t: db.Track, artist: str | None, album: str | None) -> TrackOut:
    return TrackOut(
        id=t.id,
        path=t.path,
        title=t.title,
        artist_id=t.artist_id,
        artist=artist,
        album_id=t.album_id,
        album=album,
        duration_s=t.duration_s,
        format=t.format,
        status=t.status,
    )


@router.get("", response_model=Page[TrackOut], responses=responses(*READ_ERRORS))
def list_tracks(
    session: SessionDep,
    page: PageDep,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Case-insensitive substring of title, path or artist."),
    ] = None,
    artist_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    status: Annotated[
        str | None, Query(max_length=16, description="pending, analysed or failed.")
    ] = None,
) -> Page[TrackOut]:
    """Tracks ordered by path."""
    where = []
    if q:
        pat = like_pattern(q)
        where.append(
            or_(
                db.Track.title.ilike(pat, escape="\\"),
                db.Track.path.ilike(pat, escape="\\"),
                db.Artist.name.ilike(pat, escape="\\"),
            )
        )
    if artist_id is not None:
        where.append(db.Track.artist_id == artist_id)
    if status:
        where.append(db.Track.status == status)
    rows = session.execute(
        _track_select().where(*where).order_by(db.Track.path).limit(page.limit).offset(page.offset)
    ).all()
    total = (
        session.scalar(
            select(func.count(db.Track.id))
            .join(db.Artist, db.Artist.id == db.Track.artist_id, isouter=True)
            .where(*where)
        )
        or 0
    )
    return Page[TrackOut](
        items=[_out(t, a, al) for t, a, al in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{track_id}", response_model=TrackDetail, responses=responses(*READ_ERRORS, 404))
def get_track(session: SessionDep, track_id: TrackId) -> TrackDetail:
    """One track: tags, descriptors (with their sources), embedding presence, artist's cluster."""
    row = session.execute(_track_select().where(db.Track.id == track_id)).first()
    if row is None:
        raise ApiError(404, "not_found", f"no track with id {track_id}")
    t, artist, album = row
    feats = session.get(db.TrackFeatures, track_id)
    has_emb = session.get(db.TrackEmbedding, track_id) is not None
    cluster = cluster_refs(session, [t.artist_id]).get(t.artist_id) if t.artist_id else None
    return TrackDetail(
        **_out(t, artist, album).model_dump(),
        size=t.size,
        tags=t.tags or {},
        analysis_version=feats.analysis_version if feats else None,
        features=feats.features if feats else None,
        feature_sources=feats.sources if feats else None,
        last_error=t.last_error,
        analysed_at=t.analysed_at,
        has_embedding=has_emb,
        cluster=cluster,
    )


@router.get(
    "/{track_id}/similar",
    response_model=SimilarTracks,
    responses=responses(*READ_ERRORS, 404, 409),
)
def similar_tracks(
    session: SessionDep,
    store: StoreDep,
    track_id: TrackId,
    limit: Annotated[int, Query(ge=1, le=100, description="Number of tracks.")] = 10,
    max_per_artist: Annotated[
        int | None, Query(ge=1, le=100, description="At most this many results per artist.")
    ] = None,
    max_per_album: Annotated[
        int | None, Query(ge=1, le=100, description="At most this many results per album.")
    ] = None,
) -> SimilarTracks:
    """Tracks that sound most alike, best first; the seed never appears."""
    if session.get(db.Track, track_id) is None:
        raise ApiError(404, "not_found", f"no track with id {track_id}")
    if session.get(db.TrackEmbedding, track_id) is None:
        raise ApiError(
            409,
            "no_embedding",
            f"track {track_id} has no embedding yet (not analysed, or its analysis failed)",
        )
    session.close()  # give the connection back before the pipeline takes its own
    items = similar.similar_tracks(
        store,
        track_id,
        limit,
        max_per_artist=max_per_artist,
        max_per_album=max_per_album,
    )
    return SimilarTracks(seed=track_id, items=items)
