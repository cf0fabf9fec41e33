"""``GET /tasks/{task_id}`` (Celery state and result) and ``GET /jobs`` (recent job runs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from sonicmap.api.deps import READ_ERRORS, PageDep, QueueDep, ReadAccess, SessionDep, responses
from sonicmap.api.queries import paginate
from sonicmap.api.schemas import JobRunOut, Page, TaskStatus
from sonicmap.store.schema import JobRun

router = APIRouter(tags=["tasks"], dependencies=[ReadAccess])

TASK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


@router.get(
    "/tasks/{task_id}",
    response_model=TaskStatus,
    responses=responses(*READ_ERRORS),
    summary="State and result of a queued task",
)
def task_status(
    queue: QueueDep,
    task_id: Annotated[str, Path(pattern=TASK_ID_PATTERN, description="Id returned by a 202.")],
) -> TaskStatus:
    """Celery's view of the task (an unknown id reads as PENDING, as in Celery)."""
    info = queue.status(task_id)
    return TaskStatus(task_id=task_id, **info)


@router.get(
    "/jobs",
    response_model=Page[JobRunOut],
    responses=responses(*READ_ERRORS),
    summary="Recent job runs (every worker task run is recorded), newest first",
)
def list_jobs(
    session: SessionDep,
    page: PageDep,
    task: Annotated[str | None, Query(max_length=64, description="Filter by task name.")] = None,
    status: Annotated[str | None, Query(max_length=16, description="Filter by status.")] = None,
) -> Page[JobRunOut]:
    where = []
    if task:
        where.append(JobRun.task == task)
    if status:
        where.append(JobRun.status == status)
    return paginate(
        session,
        JobRun,
        where,
        [JobRun.started_at.desc(), JobRun.id.desc()],
        page,
        JobRunOut.model_validate,
    )
