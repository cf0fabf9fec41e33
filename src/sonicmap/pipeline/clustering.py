"""GMM model lifecycle on the store: train, activate, assign, drift checks, cleanup, listings.

Training (:func:`train`)::

    1. mark dead trainings failed (see :func:`mark_stale_trainings`)
    2. read artist vectors (current embedding layout), refuse below ``auto_queue.min_artists``
    3. insert a ``gmm_models`` row with status ``training`` (committed: visible, never active)
    4. fit (``sonicmap.clustering.ArtistGmm``, warm start from the active model), predict all
    5. ONE transaction: parameter arrays, clusters (stable ids, profiles), assignments of every
       artist, then the switch — the active model becomes ``archived``, this one ``active``
    6. on an exception: the row becomes ``failed`` with the error; nothing else changed

A crash or ``kill -9`` anywhere before the commit of step 5 leaves the previous active model
and all its assignments in force (step 5 is rolled back by the database); the orphan
``training`` row is marked ``failed`` by the next training or cleanup.

Concurrency: the switch in step 5 is serialised (``pg_advisory_xact_lock`` on PostgreSQL, the
single writer lock on SQLite) and archives *whatever* model is active at that moment, so when
two trainings race, the one that commits last is active and the other is archived; the unique
``active_flag`` column makes two active models impossible even for buggy callers.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from sonicmap.clustering.drift import compute_drift
from sonicmap.clustering.gmm import ArtistGmm
from sonicmap.clustering.map2d import map_layout, place_points
from sonicmap.clustering.matching import match_clusters
from sonicmap.clustering.profiles import WORDS, cluster_profiles
from sonicmap.clustering.serialize import (
    FORMAT_VERSION,
    decode_array,
    encode_array,
    model_from_arrays,
    model_to_arrays,
)
from sonicmap.errors import ConflictError, NotEnoughDataError, NotFoundError
from sonicmap.pipeline.results import CleanupResult, ClusterSize, DriftResult, TrainResult
from sonicmap.policy import as_utc, models_to_delete
from sonicmap.store.schema import (
    Artist,
    ArtistCluster,
    ArtistEmbedding,
    DriftCheck,
    GmmCluster,
    GmmModel,
    GmmModelArray,
    KeyValue,
    Track,
    TrackFeatures,
)

if TYPE_CHECKING:
    from sonicmap.config import AppConfig
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


# --------------------------------------------------------------------------------------------
# reading vectors and models
# --------------------------------------------------------------------------------------------


def load_vectors(store: Store, *, layout_version: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Artist vectors of one layout version, streamed into one preallocated array.

    Returns ``ids`` [shape=(n,), int64] (ascending), ``X`` [shape=(n, 64), float32] and the
    number of tracks behind them.
    """
    with store.session() as s:
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
    with store.session() as s:
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


# --------------------------------------------------------------------------------------------
# stale trainings
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------


def train(
    store: Store,
    cfg: AppConfig,
    *,
    n_components: int | None = None,
    reason: str = "manual",
    force: bool = False,
    now: datetime | None = None,
    seed: int = 0,
    covariance_type: str = "diag",
    progress: Progress | None = None,
) -> TrainResult:
    """Train a model on the current artist vectors and make it the active one.

    ``force`` skips the "nothing changed since the active model" check only; the
    ``auto_queue.min_artists`` minimum always applies (:class:`NotEnoughDataError`).
    Returns the model summary (:class:`TrainResult`: ``model_id``, ``status``, ``k``, ``bic``,
    ``n_artists``, ...); ``status`` is ``skipped`` (with ``reason``) when nothing changed and
    ``force`` is false.
    """
    if reason not in TRIGGERS:
        raise ValueError(f"reason must be one of {', '.join(TRIGGERS)}, got {reason!r}")
    report = progress or (lambda stage, info: None)
    now = _now(now)
    aq = cfg.gmm_clustering.auto_queue
    t0 = time.perf_counter()
    mark_stale_trainings(store, now=now)
    layout = _layout_version()
    report("reading", {})
    ids, X, n_tracks = load_vectors(store, layout_version=layout)
    if len(ids) < aq.min_artists:
        raise NotEnoughDataError(
            f"{len(ids)} artists have vectors (layout {layout}); training needs at least "
            f"{aq.min_artists} (gmm_clustering.auto_queue.min_artists); scan more music first"
        )

    with store.session() as s:
        prev = _active_row(s)
        prev_info = _model_dict(prev) if prev else None
    if prev_info and not force and _unchanged(store, prev_info, len(ids), layout):
        log.info("training skipped: nothing changed since model %s", prev_info["id"])
        return TrainResult.skipped(prev_info, "unchanged")

    est = ArtistGmm(
        n_components=n_components,
        max_components=aq.max_components,
        covariance_type=covariance_type,  # type: ignore[arg-type]
        random_state=seed,
    )
    params = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pid_started": _process_start(),
        "gmm": est.get_params(),
        "force": force,
    }
    with store.session() as s:
        row = GmmModel(
            status="training",
            format_version=FORMAT_VERSION,
            covariance_type=covariance_type,
            n_artists=len(ids),
            n_tracks=n_tracks,
            layout_version=layout,
            trigger=reason,
            seed=seed,
            params=params,
            created_at=now,
        )
        s.add(row)
        s.flush()
        model_id = int(row.id)
    log.info("training model_id=%d n_artists=%d reason=%s", model_id, len(ids), reason)
    try:
        summary = _fit_and_activate(
            store, model_id, est, ids, X, n_tracks, prev_info, layout, params, now, t0, report
        )
    except BaseException as exc:
        _mark_failed(store, model_id, exc)
        raise
    return summary


def _process_start() -> float | None:
    import psutil

    try:
        return float(psutil.Process(os.getpid()).create_time())
    except psutil.Error:
        return None


def _unchanged(store: Store, prev: dict[str, Any], n_artists: int, layout: int) -> bool:
    from sonicmap.pipeline.maintenance import tracks_changed_since

    if prev["layout_version"] != layout or prev["n_artists"] != n_artists:
        return False
    return tracks_changed_since(store, prev["created_at"]) == 0


def _mark_failed(store: Store, model_id: int, exc: BaseException) -> None:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    try:
        with store.session() as s:
            s.execute(
                update(GmmModel)
                .where(GmmModel.id == model_id, GmmModel.status == "training")
                .values(status="failed", error=f"{type(exc).__name__}: {msg}"[:2000])
            )
    except Exception:  # noqa: BLE001 - the original error matters more
        log.exception("could not mark model %d failed", model_id)
    log.error("training failed model_id=%d error=%s", model_id, msg)


def _fit_and_activate(
    store: Store,
    model_id: int,
    est: ArtistGmm,
    ids: np.ndarray,
    X: np.ndarray,
    n_tracks: int,
    prev_info: dict[str, Any] | None,
    layout: int,
    params: dict[str, Any],
    now: datetime,
    t0: float,
    report: Progress,
) -> TrainResult:
    prev_model = prev_arrays = None
    prev_assign: tuple[np.ndarray, np.ndarray] | None = None
    if prev_info is not None and prev_info["layout_version"] == layout:
        try:
            prev_model, prev_arrays = load_model(store, prev_info["id"])
            prev_assign = _assignments(store, prev_info["id"])
        except Exception as exc:  # noqa: BLE001 - an unreadable old model only costs stability
            log.warning("previous model %s unusable for warm start: %s", prev_info["id"], exc)
            prev_model = None
    if prev_model is not None and prev_model.n_features_in_ != X.shape[1]:
        prev_model = None
    report("fitting", {"n_artists": len(ids)})
    est.fit(X, warm_start=prev_model)
    probs = est.predict_proba(X)
    labels = np.argmax(probs, axis=1)
    k = est.n_components_
    report("mapping", {"n_artists": len(ids)})
    t_map = time.perf_counter()
    xy = map_layout(X, seed=int(est.random_state or 0))
    map_seconds = time.perf_counter() - t_map

    with store.session() as s:
        max_state = s.get(KeyValue, _MAX_ID_KEY)
        max_rows = s.scalar(select(func.max(GmmCluster.cluster_id)))
    max_id = max(
        int(max_state.value.get("max", -1)) if max_state else -1,
        int(max_rows) if max_rows is not None else -1,
    )
    kw: dict[str, Any] = {}
    if prev_assign is not None and prev_arrays is not None and prev_model is not None:
        p_ids, p_cluster = prev_assign
        common, i_new, i_prev = np.intersect1d(ids, p_ids, return_indices=True)
        kw = {
            "new_labels": labels[i_new],
            "prev_ids": p_cluster[i_prev],
            "new_means": est.means_original(),
            "prev_means": prev_model.means_original(),
            "prev_mean_ids": [int(c) for c in prev_arrays[_EXTRA_COMP]],
        }
    comp_ids = np.asarray(match_clusters(k, next_id=max_id + 1, **kw), dtype=np.int64)

    report("profiling", {})
    names, D = artist_descriptors(store, ids)
    profiles = cluster_profiles(probs, ids, weights=est.weights_, descriptors=D, names=names)

    arrays = model_to_arrays(est)
    arrays[_EXTRA_IDS] = ids.astype(np.int64)
    arrays[_EXTRA_COMP] = comp_ids
    seconds = time.perf_counter() - t0
    report("writing", {"n_artists": len(ids)})
    with store.session() as s:
        for name, arr in arrays.items():
            dtype, shape, data = encode_array(arr)
            s.add(GmmModelArray(model_id=model_id, name=name, dtype=dtype, shape=shape, data=data))
        s.flush()
        s.execute(
            insert(GmmCluster),
            [
                {
                    "model_id": model_id,
                    "cluster_id": int(comp_ids[p.component]),
                    "component": p.component,
                    "label": p.label,
                    "size": p.size,
                    "weight": p.weight,
                    "profile": p.as_json(),
                }
                for p in profiles
            ],
        )
        _write_assignments(s, model_id, ids, probs, comp_ids, now, report, xy=xy)
        new_max = max(max_id, int(comp_ids.max()))
        state = s.get(KeyValue, _MAX_ID_KEY)
        if state is None:
            s.add(KeyValue(key=_MAX_ID_KEY, value={"max": new_max}, updated_at=now))
        else:
            state.value = {"max": max(new_max, int(state.value.get("max", -1)))}
            state.updated_at = now
        s.execute(
            update(GmmModel)
            .where(GmmModel.id == model_id)
            .values(
                k=k,
                bic=float(est.bic_),
                aic=float(est.aic_),
                mean_log_likelihood=float(est.mean_log_likelihood_),
                training_seconds=seconds,
                params={
                    **params,
                    "bic_by_k": {str(a): b for a, b in est.bic_by_k_.items()},
                    "n_reduced": est.n_reduced_,
                    "warm_started": est.warm_started_,
                    "previous_model_id": prev_info["id"] if prev_info else None,
                    "map_seconds": map_seconds,
                },
            )
        )
        report("activating", {})
        _switch(s, model_id, now, allowed=("training",))
    log.info("model activated model_id=%d k=%d seconds=%.2f", model_id, k, seconds)
    return TrainResult(
        status="active",
        model_id=model_id,
        k=k,
        n_artists=int(len(ids)),
        n_tracks=n_tracks,
        bic=float(est.bic_),
        aic=float(est.aic_),
        training_seconds=seconds,
        warm_started=bool(est.warm_started_),
        previous_model_id=prev_info["id"] if prev_info else None,
        clusters=tuple(
            ClusterSize(id=int(comp_ids[p.component]), label=p.label, size=p.size) for p in profiles
        ),
    )


def _write_assignments(
    s: Session,
    model_id: int,
    ids: np.ndarray,
    probs: np.ndarray,
    comp_ids: np.ndarray,
    now: datetime,
    report: Progress | None = None,
    *,
    xy: np.ndarray | None = None,
) -> int:
    """Bulk-insert assignments in batches of :data:`BATCH` rows (``xy``: map positions, (n, 2))."""
    labels = np.argmax(probs, axis=1)
    best = probs[np.arange(len(probs)), labels]
    cluster = comp_ids[labels]
    p32 = np.ascontiguousarray(probs, dtype="<f4")
    for start in range(0, len(ids), BATCH):
        end = min(start + BATCH, len(ids))
        # Core executemany (no ORM bookkeeping): the fast path on both SQLite and psycopg.
        s.connection().execute(
            insert(ArtistCluster),
            [
                {
                    "model_id": model_id,
                    "artist_id": int(ids[i]),
                    "cluster_id": int(cluster[i]),
                    "probability": float(best[i]),
                    "probabilities": p32[i].tobytes(),
                    "assigned_at": now,
                    "map_x": None if xy is None else float(xy[i, 0]),
                    "map_y": None if xy is None else float(xy[i, 1]),
                }
                for i in range(start, end)
            ],
        )
        if report is not None:
            report("assignments", {"written": end, "total": len(ids)})
    return len(ids)


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


# --------------------------------------------------------------------------------------------
# descriptors for profiles
# --------------------------------------------------------------------------------------------


def artist_descriptors(
    store: Store, ids: np.ndarray, *, max_genres: int = 12
) -> tuple[list[str], np.ndarray | None]:
    """Per-artist means of the descriptors that have label words, plus genre shares.

    Returns ``names`` and ``D`` [shape=(n, m), float64] (NaN = unknown), rows in ``ids`` order;
    ``(names, None)`` when no analysed track has descriptors.
    """
    numeric = [n for n in WORDS if n != "minor_share"]
    index = {int(a): i for i, a in enumerate(ids)}
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    genre_counts: dict[str, np.ndarray] = {}
    n_tr = np.zeros(len(ids))
    n = len(ids)

    def add(table: dict[str, np.ndarray], key: str, i: int, value: float) -> None:
        if key not in table:
            table[key] = np.zeros(n)
        table[key][i] += value

    seen = False
    with store.session() as s:
        result = s.execute(
            select(Track.artist_id, TrackFeatures.features, Track.tags)
            .join(TrackFeatures, TrackFeatures.track_id == Track.id)
            .where(Track.artist_id.is_not(None))
            .execution_options(yield_per=BATCH)
        )
        for aid, feats, tags in result:
            i = index.get(int(aid))
            if i is None or not isinstance(feats, dict):
                continue
            seen = True
            n_tr[i] += 1
            for name in numeric:
                v = feats.get(name)
                if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v):
                    add(sums, name, i, float(v))
                    add(counts, name, i, 1.0)
            mode = feats.get("mode")
            if mode in ("major", "minor"):
                add(sums, "minor_share", i, 1.0 if mode == "minor" else 0.0)
                add(counts, "minor_share", i, 1.0)
            genres = tags.get("genres") if isinstance(tags, dict) else None
            for g in genres if isinstance(genres, list) else []:
                if isinstance(g, str) and g.strip():
                    add(genre_counts, g.strip().lower(), i, 1.0)
        result.close()
    if not seen:
        return [], None
    names: list[str] = []
    cols: list[np.ndarray] = []
    for name in sums:
        with np.errstate(invalid="ignore", divide="ignore"):
            cols.append(np.where(counts[name] > 0, sums[name] / counts[name], np.nan))
        names.append(name)
    top = sorted(genre_counts, key=lambda g: -genre_counts[g].sum())[:max_genres]
    for g in top:
        with np.errstate(invalid="ignore", divide="ignore"):
            cols.append(np.where(n_tr > 0, genre_counts[g] / n_tr, np.nan))
        names.append(f"genre:{g}")
    return names, np.column_stack(cols) if cols else None


# --------------------------------------------------------------------------------------------
# activation, deletion, assignment
# --------------------------------------------------------------------------------------------


def activate_model(store: Store, model_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """Make an ``archived`` (or already ``active``) model the active one (rollback)."""
    now = _now(now)
    with store.session() as s:
        _switch(s, model_id, now, allowed=("archived", "active"))
    with store.session() as s:
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
    with store.session() as s:
        rows = s.execute(
            select(ArtistCluster.artist_id, ArtistCluster.cluster_id).where(
                ArtistCluster.model_id == model_id
            )
        ).all()
    a = np.array([r[0] for r in rows], dtype=np.int64)
    c = np.array([r[1] for r in rows], dtype=np.int64)
    return a, c


def assign_new_artists(
    store: Store, cfg: AppConfig | None = None, *, now: datetime | None = None
) -> dict[str, Any]:
    """Give artists without an assignment under the active model one (no retraining).

    Only artists whose vector has the model's layout version are assigned. Returns
    ``{"model_id", "assigned"}`` (``model_id`` None when no model is active).
    """
    now = _now(now)
    with store.session() as s:
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
    with store.session() as s:
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


# --------------------------------------------------------------------------------------------
# drift, cleanup
# --------------------------------------------------------------------------------------------


def check_stability(store: Store, cfg: AppConfig, *, now: datetime | None = None) -> DriftResult:
    """Compute the drift of the active model (``sonicmap.clustering.drift``) and store it.

    A ``drift_checks`` row records the time, the drift, the inputs and the decision
    (``stable`` or ``drifted`` = above ``stability_check.drift_threshold``; ``skipped`` with no
    active model). The caller (worker) decides whether to retrain and may overwrite the
    decision with :func:`record_decision` (e.g. ``reclustering_queued``).
    """
    now = _now(now)
    threshold = float(cfg.gmm_clustering.periodic.stability_check.drift_threshold)
    with store.session() as s:
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
    with store.session() as s:
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


# --------------------------------------------------------------------------------------------
# listings
# --------------------------------------------------------------------------------------------


def list_models(store: Store) -> list[dict[str, Any]]:
    """Every model, newest first."""
    with store.session() as s:
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
    with store.session() as s:
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
    with store.session() as s:
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
    with store.session() as s:
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
