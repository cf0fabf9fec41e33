"""How every task runs: a ``job_runs`` row, retries of transient failures with backoff and
jitter, and the mapping of any other failure to ``status: error`` (see :func:`run_recorded`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from celery import Task
from celery.exceptions import Retry

from sonicmap.errors import SonicmapError
from sonicmap.pipeline import jobs
from sonicmap.store.db import Store

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# failure classification and backoff
# --------------------------------------------------------------------------------------------


def _transient_types() -> tuple[type[BaseException], ...]:
    import kombu.exceptions
    import redis.exceptions
    import sqlalchemy.exc

    out: list[type[BaseException]] = [
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        sqlalchemy.exc.DisconnectionError,
        sqlalchemy.exc.TimeoutError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        kombu.exceptions.OperationalError,
        ConnectionError,
        TimeoutError,
    ]
    try:
        import psycopg

        out.append(psycopg.OperationalError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(out)


TRANSIENT_ERRORS = _transient_types()
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (SonicmapError, ValueError, TypeError, KeyError)


def is_transient(exc: BaseException) -> bool:
    """Connection-level failures that a later attempt may not meet."""
    import sqlalchemy.exc

    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT_ERRORS) and not isinstance(exc, PERMANENT_ERRORS)


def backoff_seconds(
    retries: int,
    *,
    base_s: float,
    max_s: float,
    exponential: bool = True,
    rng: random.Random | None = None,
) -> float:
    """Delay before retry number ``retries + 1``: ``base * 2**retries`` capped at ``max_s``,
    with "equal jitter" (uniform in [half, full] of that), so synchronized failures spread out.
    """
    r = rng or random
    full = min(max_s, base_s * (2**retries if exponential else 1))
    return full / 2 + r.uniform(0, full / 2)


# --------------------------------------------------------------------------------------------
# the common run wrapper
# --------------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def run_recorded(
    task: Task,
    name: str,
    args: dict[str, Any],
    body: Callable[[Any], dict[str, Any]],
    *,
    on_retry: Callable[[Any], None] | None = None,
    on_end: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Run ``body(store)`` as task ``name``: job-run row, retries, error mapping.

    ``on_retry(store)`` runs before a transient-failure retry, ``on_end(store)`` after a final
    outcome (success or permanent failure). Both are best effort.
    """
    # imported here: worker.app imports worker.tasks (task discovery), which imports this module
    from sonicmap.worker.app import get_config, get_store, get_worker_settings

    retry_cfg = get_config().gmm_clustering.retry
    ws = get_worker_settings()
    task_id = task.request.id
    store: Store | None = None
    job_id: int | None = None

    def finish(result: dict[str, Any], **kw: Any) -> None:
        """Record the outcome on the job-run row, once there is one."""
        if store is not None and job_id is not None:
            jobs.finish_job(store, job_id, result, **kw)

    try:
        store = get_store()
        job_id = jobs.start_job(store, name, task_id=task_id, args=args, now=_now())
        lost = jobs.lost_runs(store, task_id) if task_id else 0
        if lost > ws.max_redeliveries:
            # the worker died running this task again and again: stop here (acknowledged)
            message = (
                f"the worker running this task was lost {lost} times (killed, or out of "
                f"memory); not run again (SONICMAP_WORKER_MAX_REDELIVERIES={ws.max_redeliveries})"
            )
            log.error("task given up task=%s task_id=%s: %s", name, task_id, message)
            result = {"status": "error", "message": message}
            _best_effort(lambda: on_end and on_end(store))
            _best_effort(lambda: finish(result, now=_now()))
            return result
        result = body(store)
    except Retry:
        if job_id is not None:
            _best_effort(
                lambda: finish({"status": "skipped", "reason": "busy; retrying"}, status="retrying")
            )
        raise
    except Exception as exc:
        if is_transient(exc):
            attempt = task.request.retries
            if retry_cfg.enabled and attempt < retry_cfg.max_retries:
                delay = backoff_seconds(
                    attempt,
                    base_s=ws.retry_base_s,
                    max_s=ws.retry_max_s,
                    exponential=retry_cfg.backoff,
                )
                msg = f"{type(exc).__name__}: {_one_line(exc)}"
                log.warning(
                    "transient failure task=%s task_id=%s attempt=%d retry_in=%.1fs error=%s",
                    name,
                    task_id,
                    attempt + 1,
                    delay,
                    msg,
                )
                _best_effort(lambda: store is not None and on_retry and on_retry(store))
                _best_effort(
                    lambda: finish(
                        {"status": "error", "message": msg, "retry_in_s": round(delay, 2)},
                        status="retrying",
                    )
                )
                raise task.retry(
                    exc=exc, countdown=delay, max_retries=retry_cfg.max_retries
                ) from exc
            message = f"gave up after {attempt} retries: {type(exc).__name__}: {_one_line(exc)}"
        elif isinstance(exc, PERMANENT_ERRORS):
            message = _one_line(exc)
        else:
            log.exception("task failed task=%s task_id=%s", name, task_id)
            message = f"{type(exc).__name__}: {_one_line(exc)}"
        result = {"status": "error", "message": message}
        log.error("task failed task=%s task_id=%s error=%s", name, task_id, message)
    _best_effort(lambda: store is not None and on_end and on_end(store))
    if job_id is not None:
        _best_effort(lambda: finish(result, now=_now()))
    return result


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500] or type(exc).__name__


def _best_effort(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception as exc:
        log.warning("could not record state: %s", _one_line(exc))
