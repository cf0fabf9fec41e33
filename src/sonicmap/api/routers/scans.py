"""Scans: ``POST /scans`` queues a scan (path confined to the library roots); list and detail."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from sqlalchemy import select

from sonicmap.api.deps import (
    READ_ERRORS,
    WRITE_ERRORS,
    ConfigDep,
    PageDep,
    QueueDep,
    ReadAccess,
    RequireKey,
    SessionDep,
    responses,
)
from sonicmap.api.errors import ApiError
from sonicmap.api.paths import confine_scan_path
from sonicmap.api.queries import paginate
from sonicmap.api.schemas import (
    Page,
    ScanDetail,
    ScanFailureOut,
    ScanOut,
    ScanRequest,
    TaskAccepted,
)
from sonicmap.pipeline.scan.lock import running_scan
from sonicmap.store.schema import ScanFailure, ScanSession

router = APIRouter(prefix="/scans", tags=["scans"])

MAX_FAILURES = 1000


@router.post(
    "",
    status_code=202,
    response_model=TaskAccepted,
    dependencies=[RequireKey],
    responses=responses(*WRITE_ERRORS, 409),
    summary="Queue a scan of the library (or of one folder inside it)",
)
def start_scan(
    cfg: ConfigDep,
    queue: QueueDep,
    session: SessionDep,
    body: Annotated[ScanRequest | None, Body()] = None,
) -> TaskAccepted:
    """Queue ``scan_library``. ``path`` (optional) must lie inside a library root: ``..``,
    absolute paths elsewhere and symlinks leading out are refused with 403 ``path_not_allowed``;
    a path inside a root that does not exist is 422. While a scan is running the request is
    ``coalesced`` into it (its task id is returned); a running scan started by the CLI (no task)
    answers 409 naming it."""
    roots = list(cfg.settings.library_roots)
    paths: list[str] | None = None
    if body is not None and body.path is not None:
        try:
            paths = [str(confine_scan_path(body.path, roots))]
        except ValueError as exc:
            raise ApiError(422, "invalid_parameter", str(exc), field="path") from None
    elif not roots:
        raise ApiError(
            409,
            "conflict",
            "no library roots are configured, so there is nothing to scan; "
            "set SONICMAP_LIBRARY_ROOTS (':'-separated folders)",
        )
    running = running_scan(session, socket.gethostname(), datetime.now(UTC))
    if running is not None:
        if running.task_id:
            return TaskAccepted(task_id=running.task_id, task="scan_library", status="coalesced")
        raise ApiError(
            409,
            "conflict",
            f"scan {running.id} is still running (started by the command line, not a task); "
            "wait for it to finish",
        )
    task_id = queue.enqueue("scan_library", {"paths": paths})
    return TaskAccepted(task_id=task_id, task="scan_library", status="queued")


@router.get(
    "",
    response_model=Page[ScanOut],
    dependencies=[ReadAccess],
    responses=responses(*READ_ERRORS),
    summary="Recent scans, newest first",
)
def list_scans(
    session: SessionDep,
    page: PageDep,
    status: Annotated[
        str | None,
        Query(max_length=16, description="Filter: running, completed, failed, interrupted."),
    ] = None,
) -> Page[ScanOut]:
    where = [ScanSession.status == status] if status else []
    return paginate(
        session, ScanSession, where, [ScanSession.id.desc()], page, ScanOut.model_validate
    )


@router.get(
    "/{scan_id}",
    response_model=ScanDetail,
    dependencies=[ReadAccess],
    responses=responses(*READ_ERRORS, 404),
    summary="One scan with its counts and failures",
)
def get_scan(session: SessionDep, scan_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> ScanDetail:
    scan = session.get(ScanSession, scan_id)
    if scan is None:
        raise ApiError(404, "not_found", f"no scan with id {scan_id}")
    failures = session.scalars(
        select(ScanFailure)
        .where(ScanFailure.scan_id == scan_id)
        .order_by(ScanFailure.id)
        .limit(MAX_FAILURES)
    ).all()
    return ScanDetail(
        **ScanOut.model_validate(scan).model_dump(),
        failures=[ScanFailureOut.model_validate(f) for f in failures],
    )
