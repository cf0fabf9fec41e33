"""After training: new artists assigned to the active model, drift checks, model cleanup."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select, update

from sonicmap.clustering.drift import compute_drift
from sonicmap.clustering.map2d import place_points
from sonicmap.errors import ConflictError, NotFoundError
from sonicmap.pipeline.results import CleanupResult, DriftResult
from sonicmap.policy import as_utc, models_to_delete
from sonicmap.store.schema import (
    ArtistCluster,
    ArtistEmbedding,
    DriftCheck,
    GmmModel,
)

if TYPE_CHECKING:
    from sonicmap.config import AppConfig
    from sonicmap.store.db import Store
from sonicmap.pipeline.clustering.fit import _write_assignments
from sonicmap.pipeline.clustering.models import (
    _EXTRA_COMP,
    _EXTRA_IDS,
    _active_row,
    _assignments,
    _model_dict,
    _now,
    delete_model,
    load_model,
    load_vectors,
    mark_stale_trainings,
)

log = logging.getLogger(__name__)


def assign_new_artists(
    store: Store, cfg: AppConfig | None = None, *, now: datetime | None = None
) -> dict[str, Any]:
    """Give artists without an assignment under the active model one (no retraining).

    Only artists whose vector has the model's layout version are assigned. Returns
    ``{"model_id", "assigned"}`` (``model_id`` None when no model is active).
    """
    now = _now(now)
    with store.read_session() as s:
        active = _active_row(s)
        if active is None:
            return {"model_id": None, "assigned": 0}
        mid, layout = active.id, active.layout_version
        has = select(ArtistCluster.artist_id).where(ArtistCluster.model_id == mid)
        rows = s.execute(
            select(ArtistEmbedding.artist_id, ArtistEmbedding.vector).where(
                ArtistEmbedding.layout_version == layout, ArtistEmbedding.artist_id.not_in(has)
            )
        ).all()
    if not rows:
        return {"model_id": mid, "assigned": 0}
    model, arrays = load_model(store, mid)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    X = np.stack([np.frombuffer(r[1], dtype="<f4") for r in rows]).astype(np.float32)
    probs = model.predict_proba(X)
    xy = _place_on_map(store, mid, layout, X)
    with store.session() as s:
        _write_assignments(s, mid, ids, probs, arrays[_EXTRA_COMP].astype(np.int64), now, xy=xy)
    log.info("assigned new artists model_id=%d n=%d", mid, len(ids))
    return {"model_id": mid, "assigned": int(len(ids))}


def _place_on_map(
    store: Store, model_id: int, layout: int | None, X: np.ndarray
) -> np.ndarray | None:
    """Map positions for artists assigned after training: among their nearest placed artists."""
    with store.read_session() as s:
        rows = s.execute(
            select(ArtistCluster.map_x, ArtistCluster.map_y, ArtistEmbedding.vector)
            .join(ArtistEmbedding, ArtistEmbedding.artist_id == ArtistCluster.artist_id)
            .where(
                ArtistCluster.model_id == model_id,
                ArtistCluster.map_x.is_not(None),
                ArtistEmbedding.layout_version == layout,
            )
        ).all()
    if not rows:
        return None
    ref_xy = np.array([(r[0], r[1]) for r in rows], dtype=np.float32)
    ref = np.stack([np.frombuffer(r[2], dtype="<f4") for r in rows])
    return place_points(X, ref, ref_xy)


def check_stability(store: Store, cfg: AppConfig, *, now: datetime | None = None) -> DriftResult:
    """Compute the drift of the active model (``sonicmap.clustering.drift``) and store it.

    A ``drift_checks`` row records the time, the drift, the inputs and the decision
    (``stable`` or ``drifted`` = above ``stability_check.drift_threshold``; ``skipped`` with no
    active model). The caller (worker) decides whether to retrain and may overwrite the
    decision with :func:`record_decision` (e.g. ``reclustering_queued``).
    """
    now = _now(now)
    threshold = float(cfg.gmm_clustering.periodic.stability_check.drift_threshold)
    with store.read_session() as s:
        active = _active_row(s)
        info = _model_dict(active) if active else None
    if info is None:
        return _store_check(
            store, now, None, None, threshold, "skipped", {"reason": "no_active_model"}
        )
    model, arrays = load_model(store, info["id"])
    ids, X, _ = load_vectors(store, layout_version=info["layout_version"])
    stored_a, stored_c = _assignments(store, info["id"])
    rep = compute_drift(
        model,
        component_ids=arrays[_EXTRA_COMP],
        current_ids=ids,
        current_vectors=X,
        trained_ids=arrays[_EXTRA_IDS],
        stored_artist_ids=stored_a,
        stored_cluster_ids=stored_c,
    )
    from sonicmap.pipeline.maintenance import tracks_changed_since

    inputs = {
        **rep.as_dict(),
        "tracks_changed": tracks_changed_since(store, info["created_at"]),
        "layout_version": info["layout_version"],
        "definition": "moved / |current ∪ trained| (see docs/drift.md)",
    }
    decision = "drifted" if rep.drift > threshold else "stable"
    log.info("drift check model_id=%d drift=%.4f decision=%s", info["id"], rep.drift, decision)
    return _store_check(store, now, info["id"], rep.drift, threshold, decision, inputs)


def _store_check(
    store: Store,
    now: datetime,
    model_id: int | None,
    drift: float | None,
    threshold: float,
    decision: str,
    inputs: dict[str, Any],
) -> DriftResult:
    """Store a ``drift_checks`` row; return it as a :class:`DriftResult`."""
    with store.session() as s:
        row = DriftCheck(
            checked_at=now,
            model_id=model_id,
            drift=drift,
            threshold=threshold,
            decision=decision,
            inputs=inputs,
        )
        s.add(row)
        s.flush()
        cid = int(row.id)
    exceeded = drift is not None and drift > threshold
    return DriftResult(cid, model_id, drift, threshold, decision, exceeded, inputs)


def record_decision(store: Store, check_id: int, decision: str) -> None:
    """Overwrite the decision of a stored drift check (e.g. ``reclustering_queued``)."""
    with store.session() as s:
        s.execute(update(DriftCheck).where(DriftCheck.id == check_id).values(decision=decision))


def cleanup_models(store: Store, cfg: AppConfig, *, now: datetime | None = None) -> CleanupResult:
    """Delete the models ``sonicmap.policy.models_to_delete`` picks (never the active one).

    Dead ``training`` rows are marked ``failed`` first (:attr:`CleanupResult.stale_marked_failed`).
    """
    now = _now(now)
    stale = mark_stale_trainings(store, now=now)
    with store.read_session() as s:
        recs = [
            {"id": int(r[0]), "status": r[1], "created_at": as_utc(r[2])}
            for r in s.execute(select(GmmModel.id, GmmModel.status, GmmModel.created_at)).all()
        ]
    doomed = models_to_delete(recs, now, cfg.gmm_clustering.periodic.cleanup)
    removed = []
    for mid in doomed:
        try:
            delete_model(store, mid)
            removed.append(mid)
        except (ConflictError, NotFoundError) as exc:  # became active / already gone
            log.info("cleanup skipped model_id=%d: %s", mid, exc)
    return CleanupResult(models_removed=tuple(removed), stale_marked_failed=tuple(stale))
