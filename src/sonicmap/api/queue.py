"""The API's seam to the task queue: enqueue by task name, coalesce trainings, read task states.

The API never runs heavy work itself. :class:`CeleryQueue` talks to the worker's Celery app
(:mod:`sonicmap.worker.app`); :class:`NoBrokerQueue` answers every enqueue with 503 in embedded
mode (no ``SONICMAP_BROKER_URL``). Tests hand :func:`sonicmap.api.app.create_app` a fake with the
same methods.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from sonicmap.api.errors import BrokerUnavailable, is_broker_error
from sonicmap.config import AppConfig
from sonicmap.store.db import Store

log = logging.getLogger(__name__)


class TaskQueue(Protocol):
    def ping(self) -> str:
        """Check the broker; return a short description; raise BrokerUnavailable when down."""

    def enqueue(self, task: str, kwargs: dict[str, Any]) -> str:
        """Send ``task`` with ``kwargs``; return the task id."""

    def request_training(
        self, *, n_components: int | None, force: bool, reason: str
    ) -> tuple[str, bool]:
        """Queue a training unless one is queued or running; return (task id, coalesced)."""

    def status(self, task_id: str) -> dict[str, Any]:
        """``{state, ready, result, error}`` of a task id."""


class NoBrokerQueue:
    """Embedded mode: there is no worker to send work to."""

    MESSAGE = (
        "no task broker is configured (embedded mode), so this endpoint cannot queue work; "
        "set SONICMAP_BROKER_URL (e.g. redis://localhost:6379/0) and run `sonicmap worker`, "
        "or use the CLI (`sonicmap scan`, `sonicmap cluster`)"
    )

    def ping(self) -> str:
        return "not configured (embedded mode); task endpoints answer 503"

    def enqueue(self, task: str, kwargs: dict[str, Any]) -> str:
        raise BrokerUnavailable(self.MESSAGE)

    def request_training(
        self, *, n_components: int | None, force: bool, reason: str
    ) -> tuple[str, bool]:
        raise BrokerUnavailable(self.MESSAGE)

    def status(self, task_id: str) -> dict[str, Any]:
        raise BrokerUnavailable(self.MESSAGE)


class CeleryQueue:
    """Enqueue through the worker's Celery app, with short broker timeouts (503, never a hang)."""

    def __init__(self, cfg: AppConfig, store: Store, *, connect_timeout_s: float = 2.0) -> None:
        self.cfg = cfg
        self.store = store
        self.connect_timeout_s = connect_timeout_s
        self._app: Any = None

    # -- plumbing -------------------------------------------------------------------------

    @property
    def app(self) -> Any:
        if self._app is None:
            from sonicmap.worker import app as worker_app

            self._app = worker_app.configure_app(self.cfg)
        return self._app

    def _unavailable(self, exc: BaseException) -> BrokerUnavailable:
        from sonicmap.config.messages import mask_url

        url = mask_url(self.cfg.settings.broker_url or "")
        return BrokerUnavailable(
            f"the task broker at {url} cannot be reached ({type(exc).__name__}: {exc}); "
            "check SONICMAP_BROKER_URL and that the broker is running"
        )

    def ping(self) -> str:
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(
                    max_retries=1,
                    interval_start=0,
                    interval_step=0.2,
                    timeout=self.connect_timeout_s,
                )
        except Exception as exc:  # kombu/redis/socket errors all mean "down"
            raise self._unavailable(exc) from None
        return "reachable"

    # -- API ------------------------------------------------------------------------------

    def enqueue(self, task: str, kwargs: dict[str, Any]) -> str:
        from sonicmap.worker import app as wa
        from sonicmap.worker import tasks as wt

        priorities = {
            "scan_library": wa.PRIORITY_SCAN,
            "check_cluster_stability": wa.PRIORITY_STABILITY,
            "cleanup_old_models": wa.PRIORITY_CLEANUP,
            "sync_servers": wa.PRIORITY_REFRESH,
            "push_playlists": wa.PRIORITY_REFRESH,
        }
        if task not in priorities:
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join(priorities)}")
        self.ping()
        try:
            res = getattr(wt, task).apply_async(
                kwargs=kwargs,
                queue=wa.TASK_QUEUES[task],
                priority=wa.plan_to_broker(priorities[task]),
                retry_policy=_RETRY_POLICY,
            )
        except Exception as exc:
            if _is_connection_error(exc):
                raise self._unavailable(exc) from None
            raise
        log.info("task queued task=%s task_id=%s", task, res.id)
        return str(res.id)

    def request_training(
        self, *, n_components: int | None, force: bool, reason: str
    ) -> tuple[str, bool]:
        self.ping()
        from sonicmap.worker import tasks as wt

        try:
            out = wt.request_training(
                reason, n_components=n_components, force_refresh=force, store=self.store
            )
        except Exception as exc:
            if _is_connection_error(exc):
                raise self._unavailable(exc) from None
            raise
        return str(out["task_id"]), out.get("status") == "coalesced"

    def status(self, task_id: str) -> dict[str, Any]:
        from celery.result import AsyncResult

        self.ping()
        res = AsyncResult(task_id, app=self.app)
        try:
            state = str(res.state)
            ready = state in ("SUCCESS", "FAILURE", "REVOKED")
            value = res.result if ready else None
        except Exception as exc:
            if _is_connection_error(exc):
                raise self._unavailable(exc) from None
            raise
        result: dict[str, Any] | None = None
        error: str | None = None
        if isinstance(value, BaseException):
            error = f"{type(value).__name__}: {value}"
        elif isinstance(value, dict):
            result = value
        elif value is not None:
            result = {"value": value}
        return {"state": state, "ready": ready, "result": result, "error": error}


#: Publishing retries: one quick retry, then 503 (the broker was just pinged).
_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


def _is_connection_error(exc: BaseException) -> bool:
    return is_broker_error(exc) or isinstance(exc, ConnectionError)


def make_queue(cfg: AppConfig, store: Store) -> TaskQueue:
    """The queue matching the configuration: Celery with a broker, else embedded (503s)."""
    if cfg.settings.broker_url:
        return CeleryQueue(cfg, store)
    return NoBrokerQueue()
