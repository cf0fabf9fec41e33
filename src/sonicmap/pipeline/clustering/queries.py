"""Read-only listings of models and clusters (CLI and API)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sonicmap.errors import NotFoundError
from sonicmap.policy import as_utc
from sonicmap.store.schema import (
    Artist,
    ArtistCluster,
    GmmCluster,
    GmmModel,
)

if TYPE_CHECKING:
    from sonicmap.store.db import Store
from sonicmap.pipeline.clustering.models import _active_row, _model_dict

log = logging.getLogger(__name__)


def list_models(store: Store) -> list[dict[str, Any]]:
    """Every model, newest first."""
    with store.read_session() as s:
        rows = s.scalars(select(GmmModel).order_by(GmmModel.id.desc())).all()
        return [_model_dict(r) for r in rows]


def _names(s: Session, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(s.execute(select(Artist.id, Artist.name).where(Artist.id.in_(list(ids)))).all())


def list_clusters(store: Store, *, model_id: int | None = None) -> list[dict[str, Any]]:
    """Clusters of a model (default: the active one): ``{id, label, size, weight, artists}``.

    ``artists`` are the names of the most representative artists. Empty with no model.
    """
    with store.read_session() as s:
        if model_id is None:
            active = _active_row(s)
            if active is None:
                return []
            model_id = active.id
        rows = s.scalars(
            select(GmmCluster)
            .where(GmmCluster.model_id == model_id)
            .order_by(GmmCluster.cluster_id)
        ).all()
        rep_ids = [a for r in rows for a in (r.profile or {}).get("representative", [])]
        names = _names(s, rep_ids)
        return [
            {
                "id": r.cluster_id,
                "model_id": r.model_id,
                "label": r.label,
                "size": r.size,
                "weight": r.weight,
                "artists": [
                    names[a] for a in (r.profile or {}).get("representative", []) if a in names
                ],
            }
            for r in rows
        ]


def cluster_detail(
    store: Store, cluster_id: int, *, model_id: int | None = None, limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    """One cluster with its profile and members (most probable first, at most ``limit``, the
    first ``offset`` skipped)."""
    with store.read_session() as s:
        if model_id is None:
            active = _active_row(s)
            if active is None:
                raise NotFoundError("no active model; train one with `sonicmap cluster`")
            model_id = active.id
        c = s.get(GmmCluster, (model_id, cluster_id))
        if c is None:
            raise NotFoundError(f"no cluster {cluster_id} in model {model_id}")
        members = s.execute(
            select(ArtistCluster.artist_id, Artist.name, ArtistCluster.probability)
            .join(Artist, Artist.id == ArtistCluster.artist_id)
            .where(ArtistCluster.model_id == model_id, ArtistCluster.cluster_id == cluster_id)
            .order_by(ArtistCluster.probability.desc(), ArtistCluster.artist_id)
            .limit(limit)
            .offset(offset)
        ).all()
        total = s.scalar(
            select(func.count())
            .select_from(ArtistCluster)
            .where(ArtistCluster.model_id == model_id, ArtistCluster.cluster_id == cluster_id)
        )
        return {
            "id": c.cluster_id,
            "model_id": model_id,
            "label": c.label,
            "size": c.size,
            "weight": c.weight,
            "profile": c.profile,
            "members": [{"id": a, "name": n, "probability": float(p)} for a, n, p in members],
            "members_total": int(total or 0),
        }


def artist_cluster(store: Store, artist_id: int) -> dict[str, Any] | None:
    """The active model's assignment of one artist, with every cluster's probability."""
    with store.read_session() as s:
        active = _active_row(s)
        if active is None:
            return None
        a = s.get(ArtistCluster, (active.id, artist_id))
        if a is None:
            return None
        clusters = s.execute(
            select(GmmCluster.component, GmmCluster.cluster_id, GmmCluster.label).where(
                GmmCluster.model_id == active.id
            )
        ).all()
        probs = np.frombuffer(a.probabilities, dtype="<f4")
        by_comp = {comp: (cid, label) for comp, cid, label in clusters}
        label = next((lb for comp, cid, lb in clusters if cid == a.cluster_id), None)
        items = [
            {"cluster_id": by_comp[j][0], "label": by_comp[j][1], "probability": float(p)}
            for j, p in enumerate(probs)
            if j in by_comp
        ]
        items.sort(key=lambda x: (-x["probability"], x["cluster_id"]))  # ties by cluster id
        return {
            "artist_id": artist_id,
            "model_id": active.id,
            "cluster_id": a.cluster_id,
            "label": label,
            "probability": float(a.probability),
            "probabilities": items,
            "assigned_at": as_utc(a.assigned_at) if a.assigned_at else None,
        }
