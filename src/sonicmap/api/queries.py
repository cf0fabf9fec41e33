"""Small read helpers shared by the routers (plain SQLAlchemy on :mod:`sonicmap.store.schema`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sonicmap.api.schemas import ClusterRef
from sonicmap.store.schema import ArtistCluster, GmmCluster, GmmModel


def like_pattern(q: str) -> str:
    """``%q%`` for a case-insensitive LIKE, with ``%``, ``_`` and ``\\`` escaped (escape ``\\``)."""
    esc = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{esc}%"


def active_model(session: Session) -> GmmModel | None:
    return session.scalars(
        select(GmmModel).where(GmmModel.status == "active").order_by(GmmModel.id.desc()).limit(1)
    ).first()


def cluster_refs(session: Session, artist_ids: Iterable[int]) -> dict[int, ClusterRef]:
    """Cluster of each artist under the active model (artists without one are absent)."""
    ids = list(artist_ids)
    model = active_model(session)
    if model is None or not ids:
        return {}
    rows = session.execute(
        select(
            ArtistCluster.artist_id,
            ArtistCluster.cluster_id,
            ArtistCluster.probability,
            GmmCluster.label,
        )
        .join(
            GmmCluster,
            (GmmCluster.model_id == ArtistCluster.model_id)
            & (GmmCluster.cluster_id == ArtistCluster.cluster_id),
            isouter=True,
        )
        .where(ArtistCluster.model_id == model.id, ArtistCluster.artist_id.in_(ids))
    ).all()
    return {
        aid: ClusterRef(model_id=model.id, cluster_id=cid, label=label, probability=clamp01(p))
        for aid, cid, p, label in rows
    }


def clamp01(x: float | None) -> float:
    """A probability or score forced into [0, 1] (NaN → 0)."""
    if x is None or not math.isfinite(x):
        return 0.0
    return min(1.0, max(0.0, float(x)))


def weighted_descriptors(
    features: Sequence[dict[str, Any]], durations: Sequence[float | None]
) -> dict[str, float]:
    """Duration-weighted mean of every numeric scalar descriptor (booleans and lists skipped).

    Parameters
    ----------
    features : sequence of dict
        One descriptor mapping per track.
    durations : sequence of float or None, s
        Track durations used as weights (missing or non-positive → weight 1).
    """
    sums: dict[str, float] = {}
    weights: dict[str, float] = {}
    for feats, dur in zip(features, durations, strict=True):
        w = float(dur) if dur and dur > 0 and math.isfinite(dur) else 1.0
        for name, value in (feats or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not math.isfinite(value):
                continue
            sums[name] = sums.get(name, 0.0) + w * float(value)
            weights[name] = weights.get(name, 0.0) + w
    return {k: sums[k] / weights[k] for k in sorted(sums)}


def paginate(
    session: Session,
    model: type,
    where: Sequence[Any],
    order_by: Sequence[Any],
    page: Any,
    convert: Any,
) -> Any:
    """One page of ``model`` rows matching ``where`` as a :class:`~sonicmap.api.schemas.Page`.

    ``convert`` maps an ORM row to its response model (e.g. ``ScanOut.model_validate``).
    """
    from sqlalchemy import func

    from sonicmap.api.schemas import Page

    rows = session.scalars(
        select(model).where(*where).order_by(*order_by).limit(page.limit).offset(page.offset)
    ).all()
    total = session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    return Page(items=[convert(r) for r in rows], total=total, limit=page.limit, offset=page.offset)
