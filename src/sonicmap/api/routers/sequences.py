"""Sonic paths and mixes: ``GET /tracks/{id}/path`` and ``POST /mix`` (reads: no key needed
unless reads are protected). Same JSON as ``sonicmap path|mix --json``: both call
:mod:`sonicmap.pipeline.paths`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from sonicmap.api.deps import READ_ERRORS, ReadAccess, StoreDep, responses
from sonicmap.api.schemas import MixRequest, SonicMixOut, SonicPathOut
from sonicmap.pipeline.paths import MAX_COUNT, sonic_mix, sonic_path

router = APIRouter(tags=["paths"], dependencies=[ReadAccess])

TrackId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Track id (the path's start).")]


@router.get(
    "/tracks/{track_id}/path",
    response_model=SonicPathOut,
    responses=responses(*READ_ERRORS, 404, 409),
)
def track_path(
    store: StoreDep,
    track_id: TrackId,
    to: Annotated[int, Query(ge=1, le=2**31 - 1, description="Track id of the path's end.")],
    count: Annotated[
        int,
        Query(ge=2, le=MAX_COUNT, description="Tracks in all, both ends included."),
    ] = 25,
    max_per_artist: Annotated[
        int | None, Query(ge=1, le=MAX_COUNT, description="At most this many per artist.")
    ] = None,
    max_per_album: Annotated[
        int | None, Query(ge=1, le=MAX_COUNT, description="At most this many per album.")
    ] = None,
) -> SonicPathOut:
    """A path from this track to track `to` in steps as even as the library allows.

    Starts with this track, ends with `to` (one track when they are the same), never holds a
    track or a recording twice. Unknown ids: 404 naming the id; a track not analysed yet: 409.
    """
    result = sonic_path(
        store, track_id, to, count, max_per_artist=max_per_artist, max_per_album=max_per_album
    )
    return SonicPathOut.model_validate(result.to_dict())


@router.post("/mix", response_model=SonicMixOut, responses=responses(*READ_ERRORS, 404, 409))
def mix(store: StoreDep, body: MixRequest) -> SonicMixOut:
    """A mix (radio) around seed tracks, artists and/or clusters, shared among them in turn.

    Never includes a seed track, an excluded track or another copy of their recordings; caps
    per artist and per album (null = none). Unknown seed ids: 404 naming the id.
    """
    kinds: dict[str, list[int]] = {"track": [], "artist": [], "cluster": []}
    for s in body.seeds:
        kinds[s.kind].append(s.id)
    result = sonic_mix(
        store,
        kinds["track"],
        artists=kinds["artist"],
        clusters=kinds["cluster"],
        count=body.count,
        exclude=body.exclude,
        max_per_artist=body.max_per_artist,
        max_per_album=body.max_per_album,
    )
    return SonicMixOut.model_validate(result.to_dict())
