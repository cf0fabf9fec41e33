"""Models on the store: constants, loading vectors and fitted models, stale trainings, the
switch of the active model, activation and deletion."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from sonicmap.clustering.gmm import ArtistGmm
from sonicmap.clustering.serialize import (
    decode_array,
    model_from_arrays,
)
from sonicmap.errors import ConflictError, NotFoundError
from sonicmap.policy import as_utc
from sonicmap.store.schema import (
    ArtistCluster,
    ArtistEmbedding,
    DriftCheck,
    GmmCluster,
    GmmModel,
    GmmModelArray,
)

if TYPE_CHECKING:
    from sonicmap.store.db import Store


log = logging.getLogger(__name__)

TRIGGERS = ("manual", "auto_queue", "periodic_refresh", "drift")
#: A ``training`` row older than this is dead even if its process cannot be checked.
STALE_TRAINING_AFTER = timedelta(hours=6)
#: Rows per bulk insert / per streamed read.
BATCH = 5000
_ADVISORY_LOCK = 0x50A1C0  # pg_advisory_xact_lock key of the model switch
_MAX_ID_KEY = "gmm.max_cluster_id"
_EXTRA_IDS = "training_artist_ids"  # int64 (n,): artists the model was trained on
_EXTRA_COMP = "component_cluster_ids"  # int64 (k,): stable cluster id of each component

Progress = Callable[[str, dict[str, Any]], None]


def _now(now: datetime | None) -> datetime:
    return as_utc(now) if now is not None else datetime.now(UTC)


def _layout_version() -> int:
    from sonicmap.embedding import LAYOUT_VERSION

    return int(LAYOUT_VERSION)


def load_vectors(store: Store, *, layout_version: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Artist vectors of one layout version, streamed into one preallocated array.

    Returns ``ids`` [shape=(n,), int64] (ascending), ``X`` [shape=(n, 64), float32] and the
    number of tracks behind them.
    """
    with store.read_session() as s:
        n, n_tracks = s.execute(
            select(func.count(), func.coalesce(func.sum(ArtistEmbedding.n_tracks), 0)).where(
                ArtistEmbedding.layout_version == layout_version
            )
        ).one()
        ids = np.empty(n, dtype=np.int64)
        X: np.ndarray | None = None
        i = 0
        result = s.execute(
            select(ArtistEmbedding.artist_id, ArtistEmbedding.vector)
            .where(ArtistEmbedding.layout_version == layout_version)
            .order_by(ArtistEmbedding.artist_id)
            .execution_options(yield_per=BATCH)
        )
        for aid, blob in result:
            if i >= n:  # rows added since the count: next time
                break
            v = np.frombuffer(blob, dtype="<f4")
            if X is None:
                X = np.empty((n, len(v)), dtype=np.float32)
            ids[i] = aid
            X[i] = v
            i += 1
        result.close()
    if X is None:
        X = np.empty((0, 64), dtype=np.float32)
    return ids[:i], X[:i], int(n_tracks)


def _load_arrays(s: Session, model_id: int) -> dict[str, np.ndarray]:
    rows = s.execute(
        select(GmmModelArray.name, GmmModelArray.dtype, GmmModelArray.shape, GmmModelArray.data)
        .where(GmmModelArray.model_id == model_id)
    ).all()  # fmt: skip
    return {r[0]: decode_array(r[1], r[2], r[3]) for r in rows}


def load_model(store: Store, model_id: int) -> tuple[ArtistGmm, dict[str, np.ndarray]]:
    """The fitted estimator of a stored model and all its named arrays."""
    with store.read_session() as s:
        row = s.get(GmmModel, model_id)
        if row is None:
            raise NotFoundError(f"no model with id {model_id}; see `sonicmap models list`")
        arrays = _load_arrays(s, model_id)
        if not arrays:
            raise NotFoundError(f"model {model_id} ({row.status}) has no stored parameters")
        model = model_from_arrays(arrays, format_version=row.format_version)
    return model, arrays


def _active_row(s: Session) -> GmmModel | None:
    return s.scalars(
        select(GmmModel).where(GmmModel.status == "active").order_by(GmmModel.id.desc()).limit(1)
    ).first()


def _model_dict(m: GmmModel) -> dict[str, Any]:
    return {
        "id": m.id,
        "model_id": m.id,
        "status": m.status,
        "k": m.k,
        "covariance_type": m.covariance_type,
        "bic": m.bic,
        "aic": m.aic,
        "mean_log_likelihood": m.mean_log_likelihood,
        "n_artists": m.n_artists,
        "n_tracks": m.n_tracks,
        "layout_version": m.layout_version,
        "format_version": m.format_version,
        "training_seconds": m.training_seconds,
        "trigger": m.trigger,
        "seed": m.seed,
        "error": m.error,
        "created_at": as_utc(m.created_at) if m.created_at else None,
        "activated_at": as_utc(m.activated_at) if m.activated_at else None,
    }


def _process_alive(params: dict[str, Any]) -> bool | None:
    """True/False when the training's process can be checked (same host), else None."""
    if params.get("host") != socket.gethostname() or "pid" not in params:
        return None
    import psutil

    try:
        proc = psutil.Process(int(params["pid"]))
        started = params.get("pid_started")
        if started is not None and abs(proc.create_time() - float(started)) > 1.0:
            return False  # the pid was reused by another process
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def mark_stale_trainings(store: Store, *, now: datetime | None = None) -> list[int]:
    """Mark ``training`` rows whose process is gone as ``failed``; returns their ids.

    A row is stale when it was started on this host and its process (pid + start time) no
    longer runs, or when it is older than :data:`STALE_TRAINING_AFTER` (other hosts).
    """
    now = _now(now)
    out = []
    with store.session() as s:
        rows = s.scalars(select(GmmModel).where(GmmModel.status == "training")).all()
        for r in rows:
            alive = _process_alive(r.params or {})
            old = now - as_utc(r.created_at) > STALE_TRAINING_AFTER
            if alive is False or (alive is None and old):
                out.append(r.id)
        for mid in out:
            s.execute(
                update(GmmModel)
                .where(GmmModel.id == mid, GmmModel.status == "training")
                .values(
                    status="failed",
                    error="training process ended without finishing (killed or crashed)",
                )
            )
    if out:
        log.warning("marked stale trainings failed model_ids=%s", out)
    return out


def _switch(s: Session, model_id: int, now: datetime, *, allowed: Sequence[str]) -> None:
    """In the caller's transaction: archive the active model(s), activate ``model_id``."""
    # Take the writer lock first (the UPDATE) so that the check below sees the latest state.
    res = s.execute(
        update(GmmModel)
        .where(GmmModel.id == model_id, GmmModel.status.in_(tuple(allowed)))
        .values(activated_at=now)
    )
    if getattr(res, "rowcount", 0) == 0:
        row = s.get(GmmModel, model_id)
        if row is None:
            raise NotFoundError(f"no model with id {model_id}; see `sonicmap models list`")
        raise ConflictError(
            f"model {model_id} is {row.status!r}; only a model in status "
            f"{' or '.join(repr(a) for a in allowed)} can be activated"
        )
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(func.pg_advisory_xact_lock(_ADVISORY_LOCK)))
    s.execute(
        update(GmmModel)
        .where(GmmModel.id != model_id, GmmModel.status == "active")
        .values(status="archived", active_flag=None)
    )
    s.execute(
        update(GmmModel)
        .where(GmmModel.id == model_id)
        .values(status="active", active_flag=True, activated_at=now, error=None)
    )


def activate_model(store: Store, model_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """Make an ``archived`` (or already ``active``) model the active one (rollback)."""
    now = _now(now)
    with store.session() as s:
        _switch(s, model_id, now, allowed=("archived", "active"))
    with store.read_session() as s:
        row = s.get(GmmModel, model_id)
        assert row is not None
        return _model_dict(row)


def delete_model(store: Store, model_id: int) -> dict[str, Any]:
    """Delete a model, its arrays, clusters and assignments. Never the active one."""
    with store.session() as s:
        row = s.get(GmmModel, model_id, with_for_update=True)
        if row is None:
            raise NotFoundError(f"no model with id {model_id}; see `sonicmap models list`")
        if row.status == "active":
            raise ConflictError(
                f"model {model_id} is the active model and cannot be deleted; "
                "activate another model first (`sonicmap models activate ID`)"
            )
        if row.status == "training" and _process_alive(row.params or {}) is not False:
            raise ConflictError(f"model {model_id} is still training; wait for it to finish")
        n = s.execute(delete(ArtistCluster).where(ArtistCluster.model_id == model_id)).rowcount
        s.execute(delete(GmmCluster).where(GmmCluster.model_id == model_id))
        s.execute(delete(GmmModelArray).where(GmmModelArray.model_id == model_id))
        s.execute(update(DriftCheck).where(DriftCheck.model_id == model_id).values(model_id=None))
        s.execute(delete(GmmModel).where(GmmModel.id == model_id))
    log.info("model deleted model_id=%d assignments=%d", model_id, n)
    return {"id": model_id, "deleted_assignments": int(n)}


def _assignments(store: Store, model_id: int) -> tuple[np.ndarray, np.ndarray]:
    with store.read_session() as s:
        rows = s.execute(
            select(ArtistCluster.artist_id, ArtistCluster.cluster_id).where(
                ArtistCluster.model_id == model_id
            )
        ).all()
    a = np.array([r[0] for r in rows], dtype=np.int64)
    c = np.array([r[1] for r in rows], dtype=np.int64)
    return a, c
