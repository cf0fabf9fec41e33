"""The Celery application ``sonicmap.worker.app`` (``celery -A sonicmap.worker.app worker``).

Configured once from :class:`sonicmap.config.Settings` (broker, result backend, timezone) and
:class:`WorkerSettings` (``SONICMAP_WORKER_*``: concurrency, memory ceiling, visibility timeout,
lock TTL, countdowns). Redis is the default broker and result backend; an ``amqp://`` broker URL
alone switches to RabbitMQ.

Priorities: the plan (and ``gmm_config.yaml``) speaks of 0..9 where **higher is more important**
(training 9, drift retrain 7, refresh 5, stability 3, cleanup 1), as on RabbitMQ. kombu's Redis
transport does the opposite: a message of priority ``n`` goes to the list ``<queue>:<n>`` and the
worker's BRPOP polls ``priority_steps`` in ascending order, so **0 is served first**.
:func:`broker_priority` is the one place where plan priorities become broker priorities.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from celery import Celery
from kombu.entity import Exchange, Queue
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sonicmap.config import AppConfig, load_config

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"

from sonicmap.worker.priorities import (  # noqa: E402,F401 - re-exported
    ALL_QUEUES,
    PRIORITY_CLEANUP,
    PRIORITY_DEFAULT,
    PRIORITY_DRIFT,
    PRIORITY_REFRESH,
    PRIORITY_SCAN,
    PRIORITY_STABILITY,
    PRIORITY_TRAINING,
    QUEUE_MAINTENANCE,
    QUEUE_SCAN,
    TASK_QUEUES,
    broker_priority,
    is_redis_url,
)


class WorkerSettings(BaseSettings):
    """Worker tuning, each read from ``SONICMAP_WORKER_<NAME>``. Defaults suit a Raspberry Pi 4."""

    model_config = SettingsConfigDict(env_prefix="SONICMAP_WORKER_", extra="ignore", frozen=True)

    concurrency: int = Field(
        2,
        ge=1,
        le=64,
        description="Worker processes (one slot for maintenance while a scan chunk runs).",
    )
    queues: str = Field(
        ",".join(ALL_QUEUES), description="Comma-separated queues this worker consumes."
    )
    max_tasks_per_child: int = Field(
        50, ge=1, description="Recycle a worker process after this many tasks."
    )
    max_memory_per_child_mb: int = Field(
        600, ge=50, description="Recycle a worker process above this resident memory (MB)."
    )
    visibility_timeout_s: float = Field(
        3 * 3600,
        gt=0,
        description="Redis: an unacknowledged task is redelivered after this (worker died).",
    )
    task_time_limit_s: float | None = Field(
        None,
        gt=0,
        description="Hard time limit of a task (its process is killed); the soft limit (the "
        "task fails cleanly) is 90 % of it. Default and maximum: 90 % of the visibility "
        "timeout, so a running task is never delivered a second time.",
    )
    max_redeliveries: int = Field(
        2,
        ge=0,
        description="A task whose worker was lost (killed, out of memory) is delivered again at "
        "most this many times, then recorded failed.",
    )
    restore_interval_s: float = Field(
        60, gt=0, description="Redis: how often a worker looks for tasks of dead workers."
    )
    lock_ttl_s: float = Field(
        90, gt=1, description="Single-flight training lock lifetime without a heartbeat."
    )
    queued_ttl_s: float = Field(
        6 * 3600,
        gt=1,
        description="A queued training request older than this no longer coalesces new ones.",
    )
    queued_check_s: float = Field(
        60,
        gt=0,
        description="A queued training older than this is checked against the broker (Redis) by "
        "the next request and released when its message is gone.",
    )
    refresh_countdown_s: float = Field(
        60, ge=0, description="Delay before a periodic-refresh training starts."
    )
    drift_countdown_s: float = Field(30, ge=0, description="Delay before a drift retrain starts.")
    scan_chunk_size: int = Field(
        25, ge=1, description="Files per analysis chunk task of a distributed scan."
    )
    scan_analyzer: str | None = Field(
        None,
        description="Analyser seam 'module:function' for scans (default: sonicmap.analysis:analyze_file).",
    )
    retry_base_s: float = Field(
        5,
        gt=0,
        description="First retry delay of a transient failure (doubles each time, with jitter).",
    )
    retry_max_s: float = Field(600, gt=0, description="Cap on a retry delay.")
    result_expires_s: float = Field(
        86400, gt=0, description="How long task results stay in the result backend."
    )


def task_time_limits(ws: WorkerSettings) -> tuple[float, float]:
    """``(soft, hard)`` time limits of every task, in seconds: both below the visibility timeout
    (a task still running when it expires would be delivered to a second worker)."""
    ceiling = 0.9 * ws.visibility_timeout_s
    hard = min(ws.task_time_limit_s or ceiling, ceiling)
    return 0.9 * hard, hard


def effective_broker_url(cfg: AppConfig) -> str:
    return cfg.settings.broker_url or DEFAULT_BROKER_URL


def build_celery_config(cfg: AppConfig, ws: WorkerSettings) -> dict[str, Any]:
    """The Celery configuration mapping for ``cfg`` (pure; tested)."""
    broker = effective_broker_url(cfg)
    backend = cfg.settings.effective_result_backend or (broker if is_redis_url(broker) else None)
    # kombu's Exchange and Queue constructors are untyped
    exchange = Exchange("sonicmap", type="direct")  # type: ignore[no-untyped-call]
    queue_args = {} if is_redis_url(broker) else {"x-max-priority": 10}
    queues = [
        Queue(q, exchange, routing_key=q, queue_arguments=queue_args or None)  # type: ignore[no-untyped-call]
        for q in ALL_QUEUES
    ]
    conf: dict[str, Any] = {
        "broker_url": broker,
        "result_backend": backend,
        "timezone": cfg.settings.timezone,
        "enable_utc": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "task_soft_time_limit": task_time_limits(ws)[0],
        "task_time_limit": task_time_limits(ws)[1],
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": ws.concurrency,
        "worker_max_tasks_per_child": ws.max_tasks_per_child,
        # Celery takes KiB.
        "worker_max_memory_per_child": ws.max_memory_per_child_mb * 1024,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "task_track_started": True,
        # In-memory beat state: no shelve (pickle) file; cron entries fire at their wall-clock
        # time whenever beat was started, interval entries one period after start.
        "beat_scheduler": "celery.beat:Scheduler",
        "beat_max_loop_interval": 30,
        "result_expires": timedelta(seconds=ws.result_expires_s),
        "result_extended": True,
        "task_queues": queues,
        "task_default_queue": QUEUE_MAINTENANCE,
        "task_default_exchange": "sonicmap",
        "task_default_routing_key": QUEUE_MAINTENANCE,
        "task_routes": {name: {"queue": q, "routing_key": q} for name, q in TASK_QUEUES.items()},
        # Messages sent without an explicit priority still land in a sane bucket (on Redis a
        # missing priority would mean 0 = the most urgent).
        "task_default_priority": broker_priority(PRIORITY_DEFAULT, broker),
        "broker_connection_retry_on_startup": True,
        # A Redis restart must not cancel running tasks: their messages stay in the unacked set
        # (persisted with the queue) and are acknowledged after the reconnection.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_connection_max_retries": None,
        "broker_channel_error_retry": True,
        "result_backend_always_retry": True,
        "result_backend_max_retries": 20,
        "redis_backend_health_check_interval": 5,
        "redis_retry_on_timeout": True,
    }
    if is_redis_url(broker):
        conf["broker_transport_options"] = {
            "priority_steps": list(range(10)),
            "sep": ":",
            "queue_order_strategy": "priority",
            "visibility_timeout": ws.visibility_timeout_s,
            # sweep for messages of dead workers every restore_interval_s (kombu: 10 s x 10)
            "unacked_restore_interval": ws.restore_interval_s,
            "unacked_restore_throttle": 1,
            "health_check_interval": 5,
            "socket_keepalive": True,
            "retry_on_timeout": True,
        }
        conf["result_backend_transport_options"] = {"retry_policy": {"timeout": 5.0}}
    return conf


app = Celery("sonicmap", set_as_current=False)
_state: dict[str, Any] = {}


def configure_app(cfg: AppConfig | None = None, ws: WorkerSettings | None = None) -> Celery:
    """(Re)configure :data:`app`; with no arguments from the environment (``SONICMAP_*``).

    Connection pools and the result backend are dropped so that the new URLs take effect.
    """
    cfg = cfg if cfg is not None else load_config()
    ws = ws if ws is not None else WorkerSettings()
    _state["config"] = cfg
    _state["worker_settings"] = ws
    _state["store"] = None
    from sonicmap.worker.schedule import build_beat_schedule

    conf = build_celery_config(cfg, ws)
    conf["beat_schedule"] = build_beat_schedule(
        cfg.gmm, broker_url=conf["broker_url"], tz=cfg.settings.timezone
    )
    app.conf.update(conf)
    app._pool = None
    if "amqp" in app.__dict__:
        app.__dict__["amqp"]._producer_pool = None
    app._backend_cache = None
    app._local = threading.local()
    return app


def get_config() -> AppConfig:
    if "config" not in _state:
        configure_app()
    cfg: AppConfig = _state["config"]
    return cfg


def get_worker_settings() -> WorkerSettings:
    if "worker_settings" not in _state:
        configure_app()
    ws: WorkerSettings = _state["worker_settings"]
    return ws


def get_store() -> Store:
    """The store of the configured database, opened once per process (after fork: again)."""
    store: Store | None = _state.get("store")
    if store is None:
        from sonicmap.store.db import open_store

        store = open_store(get_config().settings.effective_database_url)
        _state["store"] = store
    return store


def plan_to_broker(plan_priority: int) -> int:
    """:func:`broker_priority` for the configured broker."""
    return broker_priority(plan_priority, effective_broker_url(get_config()))


def _reset_store_after_fork(**_: Any) -> None:
    store = _state.get("store")
    if store is not None:
        store.engine.dispose(close=False)


from celery.signals import worker_process_init  # noqa: E402

worker_process_init.connect(_reset_store_after_fork, weak=False)

configure_app()
app.autodiscover_tasks(["sonicmap.worker"], related_name="tasks", force=True)
