"""The gmm router: training requests, status, models (activate / delete), clusters, drift."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sonicmap.api.deps import (
    READ_ERRORS,
    WRITE_ERRORS,
    ConfigDep,
    PageDep,
    QueueDep,
    ReadAccess,
    RequireKey,
    SessionDep,
    StoreDep,
    cache_generation,
    responses,
)
from sonicmap.api.errors import ApiError
from sonicmap.api.queries import active_model, clamp01, paginate
from sonicmap.api.schemas import (
    ClusterDetail,
    ClusterList,
    ClusterMember,
    ClusterSummary,
    Deleted,
    DriftOut,
    GmmStatus,
    JobRunOut,
    ModelDetail,
    ModelOut,
    Page,
    ScheduledRun,
    TaskAccepted,
    TrainRequest,
)
from sonicmap.config import AppConfig
from sonicmap.store import schema as db

log = logging.getLogger(__name__)

router = APIRouter(prefix="/gmm", tags=["gmm"])

ModelId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Model id.")]
ClusterId = Annotated[int, Path(ge=0, le=2**31 - 1, description="Stable cluster id.")]
ModelQuery = Annotated[
    int | None,
    Query(ge=1, le=2**31 - 1, description="Model whose clusters to show; default: the active one."),
]


def _model_or_404(session: SessionDep, model_id: int) -> db.GmmModel:
    model = session.get(db.GmmModel, model_id)
    if model is None:
        raise ApiError(404, "not_found", f"no GMM model with id {model_id}")
    return model


def _resolve_model(session: SessionDep, model_id: int | None) -> db.GmmModel | None:
    if model_id is not None:
        return _model_or_404(session, model_id)
    return active_model(session)


def _clustering() -> Any:
    """The GMM pipeline module (model activation and deletion live there)."""
    from sonicmap.pipeline import clustering

    return clustering


def _enqueue(queue: QueueDep, task: str) -> TaskAccepted:
    return TaskAccepted(task_id=queue.enqueue(task, {}), task=task, status="queued")


# -- mutating ---------------------------------------------------------------------------------


@router.post(
    "/train",
    status_code=202,
    response_model=TaskAccepted,
    dependencies=[RequireKey],
    responses=responses(*WRITE_ERRORS),
    summary="Queue a GMM training (coalesced with one already queued or running)",
)
def train(queue: QueueDep, body: Annotated[TrainRequest | None, Body()] = None) -> TaskAccepted:
    """Queue ``train_gmm`` (reason ``manual``). While a training is queued or running the
    request is coalesced: the answer carries that task's id and ``status: coalesced``."""
    req = body or TrainRequest()
    task_id, coalesced = queue.request_training(
        n_components=req.n_components, force=req.force, reason="manual"
    )
    return TaskAccepted(
        task_id=task_id, task="train_gmm", status="coalesced" if coalesced else "queued"
    )


@router.post(
    "/stability-check",
    status_code=202,
    response_model=TaskAccepted,
    dependencies=[RequireKey],
    responses=responses(*WRITE_ERRORS),
    summary="Queue a cluster stability (drift) check now",
)
def stability_check(queue: QueueDep) -> TaskAccepted:
    return _enqueue(queue, "check_cluster_stability")


@router.post(
    "/cleanup",
    status_code=202,
    response_model=TaskAccepted,
    dependencies=[RequireKey],
    responses=responses(*WRITE_ERRORS),
    summary="Queue the old-model cleanup now",
)
def cleanup(queue: QueueDep) -> TaskAccepted:
    return _enqueue(queue, "cleanup_old_models")


@router.post(
    "/models/{model_id}/activate",
    response_model=ModelOut,
    dependencies=[RequireKey],
    responses=responses(*WRITE_ERRORS, 404, 409),
    summary="Make a model the active one (e.g. roll back)",
)
def activate(session: SessionDep, store: StoreDep, model_id: ModelId) -> ModelOut:
    """Atomic switch: the model and its assignments become active in one transaction. Only a
    model that finished training (``active`` or ``archived``) can be activated (else 409)."""
    model = _model_or_404(session, model_id)
    if model.status not in ("active", "archived"):
        raise ApiError(
            409,
            "conflict",
            f"model {model_id} is {model.status!r}; only a trained model "
            "('archived' or 'active') can be activated",
        )
    session.close()  # give the connection back before the pipeline takes its own
    _clustering().activate_model(store, model_id)
    refreshed = _model_or_404(session, model_id)
    session.refresh(refreshed)
    return ModelOut.model_validate(refreshed)


@router.delete(
    "/models/{model_id}",
    response_model=Deleted,
    dependencies=[RequireKey],
    responses=responses(*WRITE_ERRORS, 404, 409),
    summary="Delete a model and its assignments (never the active one)",
)
def delete(session: SessionDep, store: StoreDep, model_id: ModelId) -> Deleted:
    model = _model_or_404(session, model_id)
    if model.status == "active":
        raise ApiError(
            409,
            "conflict",
            f"model {model_id} is the active model and cannot be deleted; "
            "activate another model first",
        )
    session.close()  # give the connection back before the pipeline takes its own
    _clustering().delete_model(store, model_id)
    return Deleted(id=model_id)


# -- reading ----------------------------------------------------------------------------------


@router.get(
    "/status",
    response_model=GmmStatus,
    dependencies=[ReadAccess],
    responses=responses(*READ_ERRORS),
    summary="Active model, last training, next scheduled runs, last drift check",
)
def status(session: SessionDep, cfg: ConfigDep) -> GmmStatus:
    model = active_model(session)
    last_training = session.scalars(
        select(db.JobRun)
        .where(db.JobRun.task == "train_gmm")
        .order_by(db.JobRun.started_at.desc(), db.JobRun.id.desc())
        .limit(1)
    ).first()
    in_progress = bool(
        session.scalar(
            select(func.count())
            .select_from(db.JobRun)
            .where(db.JobRun.task == "train_gmm", db.JobRun.status.in_(("running", "retrying")))
        )
        or session.scalar(
            select(func.count()).select_from(db.GmmModel).where(db.GmmModel.status == "training")
        )
    )
    drift = session.scalars(
        select(db.DriftCheck)
        .order_by(db.DriftCheck.checked_at.desc(), db.DriftCheck.id.desc())
        .limit(1)
    ).first()
    return GmmStatus(
        active_model=ModelOut.model_validate(model) if model else None,
        last_training=JobRunOut.model_validate(last_training) if last_training else None,
        training_in_progress=in_progress,
        last_drift=DriftOut.model_validate(drift) if drift else None,
        schedule=scheduled_runs(session, cfg, datetime.now(UTC)),
    )


@router.get(
    "/models",
    response_model=Page[ModelOut],
    dependencies=[ReadAccess],
    responses=responses(*READ_ERRORS),
    summary="Models, newest first",
)
def list_models(
    session: SessionDep,
    page: PageDep,
    status: Annotated[
        str | None, Query(max_length=16, description="training, active, archived or failed.")
    ] = None,
) -> Page[ModelOut]:
    where = [db.GmmModel.status == status] if status else []
    order = [db.GmmModel.created_at.desc(), db.GmmModel.id.desc()]
    return paginate(session, db.GmmModel, where, order, page, ModelOut.model_validate)


@router.get(
    "/models/{model_id}",
    response_model=ModelDetail,
    dependencies=[ReadAccess],
    responses=responses(*READ_ERRORS, 404),
)
def get_model(session: SessionDep, store: StoreDep, model_id: ModelId) -> ModelDetail:
    """A model's metadata, training parameters and clusters."""
    model = _model_or_404(session, model_id)
    session.close()  # give the connection back before the pipeline takes its own
    return ModelDetail(
        **ModelOut.model_validate(model).model_dump(),
        params=model.params,
        clusters=_cluster_summaries(store, model_id),
    )


@router.get(
    "/clusters",
    response_model=ClusterList,
    dependencies=[ReadAccess],
    responses=responses(*READ_ERRORS, 404),
    summary="Clusters of the active model (or of ?model_id=)",
)
def list_clusters(session: SessionDep, store: StoreDep, model_id: ModelQuery = None) -> ClusterList:
    """Each cluster with its label, size, weight and most representative artists."""
    model = _resolve_model(session, model_id)
    if model is None:
        return ClusterList(model_id=None, items=[])
    session.close()  # give the connection back before the pipeline takes its own
    return ClusterList(model_id=model.id, items=_cluster_summaries(store, model.id))


def _cluster_summaries(store: StoreDep, model_id: int) -> list[ClusterSummary]:
    rows = _clustering().list_clusters(store, model_id=model_id)
    return [ClusterSummary(**{**r, "weight": clamp01(r["weight"])}) for r in rows]


@router.get(
    "/clusters/{cluster_id}",
    response_model=ClusterDetail,
    dependencies=[ReadAccess],
    responses=responses(*READ_ERRORS, 404),
    summary="A cluster's profile and member artists (most probable first)",
)
async def get_cluster(
    request: Request,
    page: PageDep,
    cluster_id: ClusterId,
    model_id: ModelQuery = None,
) -> Response:
    """Profile (distinguishing descriptors, label) and a page of members."""
    # Answers are kept encoded in the process's read cache until the database changes.
    cache = await cache_generation(request)
    key = ("cluster", cluster_id, model_id, page.limit, page.offset)
    if cache is not None:
        body = cache[0].get(cache[1], key)
        if body is not None:
            return Response(body, media_type="application/json")
    body = await run_in_threadpool(_cluster_body, request, cluster_id, model_id, page)
    if cache is not None:
        cache[0].put(cache[1], key, body)
    return Response(body, media_type="application/json")


def _cluster_body(request: Request, cluster_id: int, model_id: int | None, page: Any) -> bytes:
    store = request.app.state.store
    with store.sessions() as session:
        model = _resolve_model(session, model_id)
        if model is None:
            raise ApiError(
                404, "no_active_model", "no GMM model is active yet; train one (POST /gmm/train)"
            )
        mid = model.id
    # (the session is closed: its connection is back before the pipeline takes its own)
    d = _clustering().cluster_detail(
        store, cluster_id, model_id=mid, limit=page.limit, offset=page.offset
    )
    return (
        ClusterDetail(
            id=d["id"],
            model_id=d["model_id"],
            label=d["label"],
            size=d["size"],
            weight=clamp01(d["weight"]),
            profile=d["profile"] or {},
            members=[
                ClusterMember(id=m["id"], name=m["name"], probability=clamp01(m["probability"]))
                for m in d["members"]
            ],
            members_total=d["members_total"],
        )
        .model_dump_json()
        .encode()
    )


@router.get(
    "/drift",
    response_model=Page[DriftOut],
    dependencies=[ReadAccess],
    responses=responses(*READ_ERRORS),
    summary="History of stability (drift) checks, newest first",
)
def drift_history(session: SessionDep, page: PageDep) -> Page[DriftOut]:
    order = [db.DriftCheck.checked_at.desc(), db.DriftCheck.id.desc()]
    return paginate(session, db.DriftCheck, [], order, page, DriftOut.model_validate)


# -- schedule ---------------------------------------------------------------------------------


def scheduled_runs(session: Session, cfg: AppConfig, now: datetime) -> list[ScheduledRun]:
    """Next due time of each periodic task, from the beat schedule built from gmm_config.yaml.

    Computed as beat does (:func:`sonicmap.worker.schedule.next_run_after`) from the task's last
    recorded run (job runs), or from ``now`` when it never ran. Disabled entries are listed with
    ``enabled: false`` and no time.
    """
    from sonicmap.worker import app as wa
    from sonicmap.worker import schedule as ws

    tz = cfg.settings.timezone
    beat = ws.build_beat_schedule(cfg.gmm, broker_url=wa.effective_broker_url(cfg), tz=tz)
    periodic = cfg.gmm_clustering.periodic
    out: list[ScheduledRun] = []
    for name, attr, task, _prio in ws.ENTRIES:
        sc = getattr(periodic, attr)
        if sc.schedule == "interval":
            desc = f"every {sc.every}"
        else:
            desc = f"cron {sc.day_of_week} {sc.hour:02d}:{sc.minute:02d} {tz}"
        entry = beat.get(name)
        next_at = None
        if entry is not None:
            last = session.scalar(
                select(func.max(db.JobRun.started_at)).where(db.JobRun.task == task)
            )
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            try:
                due = ws.next_run_after(entry["schedule"], last or now)
                next_at = (due + timedelta(milliseconds=500)).replace(microsecond=0)
            except Exception:  # a schedule problem must not take the status page down
                log.exception("could not compute the next run entry=%s", name)
        out.append(
            ScheduledRun(
                name=name, task=task, enabled=entry is not None, schedule=desc, next_run_at=next_at
            )
        )
    return out
