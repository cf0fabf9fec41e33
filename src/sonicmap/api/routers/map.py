"""The map router: every artist's 2-D map position under a model (the web page's map).

Positions are computed when a model is trained (:mod:`sonicmap.clustering.map2d`) and stored
with its assignments (``artist_clusters.map_x / map_y``); artists assigned later are placed
among their nearest neighbours. The answer is columnar and gzip-compressed when the client
accepts it (10,000 artists: ≈ 100 kB on the wire).
"""

from __future__ import annotations

import gzip
import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from sonicmap.api.deps import READ_ERRORS, ReadAccess, SessionDep, responses
from sonicmap.api.errors import ApiError
from sonicmap.api.queries import active_model
from sonicmap.api.schemas import MapOut
from sonicmap.store import schema as db

router = APIRouter(tags=["map"])

#: Coordinates are rounded to this many decimals (1e-4 of the map's width: far below a pixel).
DECIMALS = 4
#: Answers larger than this (bytes) are gzip-compressed for clients that accept it.
GZIP_MIN = 1024


def _gzip_ok(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


@router.get(
    "/map",
    response_model=MapOut,
    dependencies=[ReadAccess],
    responses=responses(*READ_ERRORS, 404),
    summary="Every artist on the 2-D map of a model (default: the active one)",
)
def artist_map(
    request: Request,
    session: SessionDep,
    model_id: Annotated[
        int | None,
        Query(ge=1, le=2**31 - 1, description="Model whose map to show; default: the active one."),
    ] = None,
) -> Response:
    """Artists with a map position under the model, with their best cluster; the model's
    clusters (label, size) for the legend. With no model at all: empty lists."""
    if model_id is None:
        model = active_model(session)
    else:
        model = session.get(db.GmmModel, model_id)
        if model is None:
            raise ApiError(404, "not_found", f"no GMM model with id {model_id}")
    out: dict = {"model_id": None, "clusters": [], "artists": {}}
    cols: dict[str, list] = {"id": [], "name": [], "x": [], "y": [], "cluster": []}
    if model is not None:
        out["model_id"] = model.id
        out["clusters"] = [
            {"id": cid, "label": label, "size": size}
            for cid, label, size in session.execute(
                select(db.GmmCluster.cluster_id, db.GmmCluster.label, db.GmmCluster.size)
                .where(db.GmmCluster.model_id == model.id)
                .order_by(db.GmmCluster.cluster_id)
            )
        ]
        rows = session.execute(
            select(
                db.ArtistCluster.artist_id,
                db.Artist.name,
                db.ArtistCluster.map_x,
                db.ArtistCluster.map_y,
                db.ArtistCluster.cluster_id,
            )
            .join(db.Artist, db.Artist.id == db.ArtistCluster.artist_id)
            .where(db.ArtistCluster.model_id == model.id, db.ArtistCluster.map_x.is_not(None))
            .order_by(db.ArtistCluster.artist_id)
        )
        for aid, name, x, y, cid in rows:
            cols["id"].append(aid)
            cols["name"].append(name)
            cols["x"].append(round(x, DECIMALS))
            cols["y"].append(round(y, DECIMALS))
            cols["cluster"].append(cid)
    out["artists"] = cols
    body = json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Vary": "Accept-Encoding"}
    if len(body) > GZIP_MIN and _gzip_ok(request):
        body = gzip.compress(body, compresslevel=5, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)
