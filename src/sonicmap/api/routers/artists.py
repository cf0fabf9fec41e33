"""Artists: list/search, detail (descriptors + cluster), similar artists, cluster membership."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select

from sonicmap.api import similar
from sonicmap.api.deps import (
    READ_ERRORS,
    PageDep,
    ReadAccess,
    SessionDep,
    StoreDep,
    cache_generation,
    responses,
)
from sonicmap.api.errors import ApiError
from sonicmap.api.queries import (
    active_model,
    clamp01,
    cluster_refs,
    like_pattern,
    weighted_descriptors,
)
from sonicmap.api.schemas import (
    ArtistCluster,
    ArtistDetail,
    ArtistOut,
    ClusterProbability,
    EmbeddingInfo,
    Page,
    SimilarArtist,
    SimilarArtists,
)
from sonicmap.store import schema as db

router = APIRouter(prefix="/artists", tags=["artists"], dependencies=[ReadAccess])

ArtistId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Artist id.")]
SearchQ = Annotated[
    str | None, Query(max_length=200, description="Case-insensitive substring of the name.")
]


def _artist_or_404(session: SessionDep, artist_id: int) -> db.Artist:
    artist = session.get(db.Artist, artist_id)
    if artist is None:
        raise ApiError(404, "not_found", f"no artist with id {artist_id}")
    return artist


@router.get("", response_model=Page[ArtistOut], responses=responses(*READ_ERRORS))
def list_artists(session: SessionDep, page: PageDep, q: SearchQ = None) -> Page[ArtistOut]:
    """Artists by name, with their number of tracks; ``q`` filters by name."""
    where = []
    if q:
        where.append(db.Artist.name.ilike(like_pattern(q), escape="\\"))
    n_tracks = (
        select(func.count(db.Track.id))
        .where(db.Track.artist_id == db.Artist.id)
        .correlate(db.Artist)
        .scalar_subquery()
    )
    rows = session.execute(
        select(db.Artist, n_tracks)
        .where(*where)
        .order_by(db.Artist.name, db.Artist.id)
        .limit(page.limit)
        .offset(page.offset)
    ).all()
    total = session.scalar(select(func.count()).select_from(db.Artist).where(*where)) or 0
    return Page[ArtistOut](
        items=[ArtistOut(id=a.id, name=a.name, mbid=a.mbid, n_tracks=n) for a, n in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{artist_id}", response_model=ArtistDetail, responses=responses(*READ_ERRORS, 404))
def get_artist(session: SessionDep, artist_id: ArtistId) -> ArtistDetail:
    """One artist: track/album counts, mean descriptors, embedding info and cluster."""
    artist = _artist_or_404(session, artist_id)
    tracks = session.execute(
        select(db.Track.id, db.Track.album_id, db.Track.duration_s, db.TrackFeatures.features)
        .join(db.TrackFeatures, db.TrackFeatures.track_id == db.Track.id, isouter=True)
        .where(db.Track.artist_id == artist_id)
    ).all()
    analysed = [(f, d) for _, _, d, f in tracks if f]
    emb = session.get(db.ArtistEmbedding, artist_id)
    return ArtistDetail(
        id=artist.id,
        name=artist.name,
        mbid=artist.mbid,
        n_tracks=len(tracks),
        created_at=artist.created_at,
        n_albums=len({alb for _, alb, _, _ in tracks if alb is not None}),
        descriptors=weighted_descriptors([f for f, _ in analysed], [d for _, d in analysed]),
        embedding=EmbeddingInfo(
            layout_version=emb.layout_version,
            n_tracks=emb.n_tracks,
            total_duration_s=emb.total_duration_s,
        )
        if emb
        else None,
        cluster=cluster_refs(session, [artist_id]).get(artist_id),
    )


@router.get(
    "/{artist_id}/similar",
    response_model=SimilarArtists,
    responses=responses(*READ_ERRORS, 404, 409),
)
async def similar_artists(
    request: Request,
    artist_id: ArtistId,
    limit: Annotated[int, Query(ge=1, le=100, description="Number of artists.")] = 10,
    membership_weight: Annotated[
        float,
        Query(
            ge=0,
            le=1,
            description="Blend in the overlap of GMM cluster memberships (0 = pure cosine).",
        ),
    ] = 0.0,
) -> Response:
    """Artists that sound most alike (cosine on 64-D artist vectors), best first, seed excluded."""
    # Served from the process's read cache (artist vectors in memory, encoded answers), which
    # follows every commit; the regular path below when the cache cannot answer.
    cache = await cache_generation(request)
    if cache is not None:
        rc, gen = cache
        key = ("similar_artists", artist_id, limit, membership_weight)
        body = rc.get(gen, key)
        if body is None:
            blend = membership_weight > 0
            snap = rc.ready_snapshot(gen, memberships=blend) or await run_in_threadpool(
                rc.snapshot, gen, memberships=blend
            )
            found = rc.similar_artists(snap, artist_id, limit, membership_weight=membership_weight)
            if found is not None:
                body = _similar_body(artist_id, found)
                rc.put(gen, key, body)
        if body is not None:
            return Response(body, media_type="application/json")
    body = await run_in_threadpool(
        _similar_artists_db, request, artist_id, limit, membership_weight
    )
    return Response(body, media_type="application/json")


def _similar_body(artist_id: int, found: list[tuple[int, str, float, float]]) -> bytes:
    return (
        SimilarArtists(
            seed=artist_id,
            items=[
                SimilarArtist(id=i, name=n, score=clamp01(s), similarity=clamp01(sim))
                for i, n, s, sim in found
            ],
        )
        .model_dump_json()
        .encode()
    )


def _similar_artists_db(
    request: Request, artist_id: int, limit: int, membership_weight: float
) -> bytes:
    """The regular path: existence and embedding checks in the database, then the pipeline."""
    store = request.app.state.store
    with store.sessions() as session:
        # One round trip: does the artist exist, and does it have a vector?
        row = session.execute(
            select(db.Artist.id, db.ArtistEmbedding.artist_id)
            .join(db.ArtistEmbedding, db.ArtistEmbedding.artist_id == db.Artist.id, isouter=True)
            .where(db.Artist.id == artist_id)
        ).first()
    # (the session is closed: its connection is back before the pipeline takes its own)
    if row is None:
        raise ApiError(404, "not_found", f"no artist with id {artist_id}")
    if row[1] is None:
        raise ApiError(
            409,
            "no_embedding",
            f"artist {artist_id} has no embedding yet (none of its tracks is analysed); run a scan",
        )
    items = similar.similar_artists(store, artist_id, limit, membership_weight=membership_weight)
    return SimilarArtists(seed=artist_id, items=items).model_dump_json().encode()


@router.get(
    "/{artist_id}/cluster",
    response_model=ArtistCluster,
    responses=responses(*READ_ERRORS, 404),
)
def artist_cluster(session: SessionDep, store: StoreDep, artist_id: ArtistId) -> ArtistCluster:
    """The artist's cluster under the active model and its probability for every cluster."""
    _artist_or_404(session, artist_id)
    session.close()  # give the connection back before the pipeline takes its own
    from sonicmap.api.routers.gmm import _clustering

    d = _clustering().artist_cluster(store, artist_id)
    if d is None:
        if active_model(session) is None:
            raise ApiError(
                404, "no_active_model", "no GMM model is active yet; train one (POST /gmm/train)"
            )
        raise ApiError(
            404,
            "not_assigned",
            f"artist {artist_id} has no cluster under the active model "
            "(no embedding yet, or added after training and not assigned yet)",
        )
    return ArtistCluster(
        artist_id=artist_id,
        model_id=d["model_id"],
        cluster_id=d["cluster_id"],
        label=d["label"],
        probability=clamp01(d["probability"]),
        probabilities=[
            ClusterProbability(
                cluster_id=p["cluster_id"], label=p["label"], probability=clamp01(p["probability"])
            )
            for p in d["probabilities"]
        ],
        assigned_at=d["assigned_at"],
    )
