"""Training (:func:`train`): fit a GMM on the artist vectors, write it and switch to it in one
transaction (see the package docs)."""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from sonicmap.clustering.gmm import ArtistGmm
from sonicmap.clustering.map2d import map_layout
from sonicmap.clustering.matching import match_clusters
from sonicmap.clustering.profiles import WORDS, cluster_profiles
from sonicmap.clustering.serialize import (
    FORMAT_VERSION,
    encode_array,
    model_to_arrays,
)
from sonicmap.errors import NotEnoughDataError
from sonicmap.pipeline.results import ClusterSize, TrainResult
from sonicmap.store.schema import (
    ArtistCluster,
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
from sonicmap.pipeline.clustering.models import (
    _EXTRA_COMP,
    _EXTRA_IDS,
    _MAX_ID_KEY,
    BATCH,
    TRIGGERS,
    Progress,
    _active_row,
    _assignments,
    _layout_version,
    _model_dict,
    _now,
    _switch,
    load_model,
    load_vectors,
    mark_stale_trainings,
)

log = logging.getLogger(__name__)


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

    with store.read_session() as s:
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

    with store.read_session() as s:
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
