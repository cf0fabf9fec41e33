"""Job runs: one ``job_runs`` row per run of a worker task (or its embedded-mode equivalent).

``status`` of a row: ``running`` → ``succeeded`` | ``failed`` | ``retrying`` | ``skipped``.
A run whose worker died keeps ``running`` until the same task id runs again (redelivery), which
marks the orphan ``failed`` with the message ``worker lost; task redelivered``.

``sonicmap jobs`` and the API list them with :func:`list_jobs`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from sonicmap.store.db import Store
from sonicmap.store.schema import JobRun

log = logging.getLogger(__name__)

JOB_STATUSES = ("running", "succeeded", "failed", "retrying", "skipped")
#: The result message of a run whose worker was lost (the broker delivered the task again).
LOST_MESSAGE = "worker lost; task redelivered"

#: Task result ``status`` → job-run status.
_RESULT_TO_JOB = {"skipped": "skipped", "error": "failed"}


def job_status_for(result: Mapping[str, Any] | None) -> str:
    """Job-run status for a task result dict: ``skipped``, ``failed`` (``error``) or ``succeeded``."""
    if not result:
        return "succeeded"
    return _RESULT_TO_JOB.get(str(result.get("status")), "succeeded")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def start_job(
    store: Store,
    task: str,
    *,
    task_id: str | None = None,
    args: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """Record the start of a run; returns the job-run id.

    Earlier rows of the same ``task_id`` still ``running`` belong to a worker that died (the
    broker redelivered the task): they are marked ``failed``.
    """
    t = _now(now)
    with store.session() as s:
        if task_id:
            s.execute(
                update(JobRun)
                .where(JobRun.task_id == task_id, JobRun.status == "running")
                .values(
                    status="failed",
                    finished_at=t,
                    result={"status": "error", "message": LOST_MESSAGE},
                )
            )
        row = JobRun(
            task=task, task_id=task_id, status="running", args=dict(args or {}), started_at=t
        )
        s.add(row)
        s.flush()
        return int(row.id)


def lost_runs(store: Store, task_id: str) -> int:
    """How many earlier runs of ``task_id`` ended with their worker lost (see :func:`start_job`)."""
    with store.read_session() as s:
        results = s.scalars(
            select(JobRun.result).where(JobRun.task_id == task_id, JobRun.status == "failed")
        ).all()
    return sum(1 for r in results if isinstance(r, dict) and r.get("message") == LOST_MESSAGE)


def finish_job(
    store: Store,
    job_id: int,
    result: Mapping[str, Any] | None,
    *,
    status: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record the end of a run with its (small, JSON-able) result.

    status : job-run status; default from the result (:func:`job_status_for`).
    """
    st = status or job_status_for(result)
    if st not in JOB_STATUSES:
        raise ValueError(f"job status must be one of {JOB_STATUSES}, got {st!r}")
    with store.session() as s:
        s.execute(
            update(JobRun)
            .where(JobRun.id == job_id)
            .values(
                status=st,
                result=dict(result) if result is not None else None,
                finished_at=_now(now),
            )
        )


def _as_dict(row: JobRun) -> dict[str, Any]:
    def iso(t: datetime | None) -> str | None:
        if t is None:
            return None
        return (t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)).isoformat()

    return {
        "id": row.id,
        "task": row.task,
        "status": row.status,
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "result": row.result,
        "task_id": row.task_id,
        "args": row.args,
    }


def list_jobs(
    store: Store,
    *,
    limit: int = 50,
    task: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Most recent runs first: ``{id, task, status, started_at, finished_at, result, task_id, args}``.

    Times are ISO 8601 strings in UTC.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    q = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit)
    if task:
        q = q.where(JobRun.task == task)
    if status:
        q = q.where(JobRun.status == status)
    with store.read_session() as s:
        return [_as_dict(r) for r in s.scalars(q)]


def get_job(store: Store, job_id: int) -> dict[str, Any] | None:
    with store.read_session() as s:
        row = s.get(JobRun, job_id)
        return _as_dict(row) if row is not None else None
