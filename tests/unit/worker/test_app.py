"""Celery configuration built from the settings (pure)."""

from __future__ import annotations

import pytest

from sonicmap.config import AppConfig, GmmConfig, load_settings
from sonicmap.worker.app import (
    PRIORITY_CLEANUP,
    PRIORITY_DRIFT,
    PRIORITY_REFRESH,
    PRIORITY_STABILITY,
    PRIORITY_TRAINING,
    WorkerSettings,
    broker_priority,
    build_celery_config,
)


def cfg_for(broker: str | None, **env: str) -> AppConfig:
    e = {"SONICMAP_TIMEZONE": "Europe/Berlin", **env}
    if broker:
        e["SONICMAP_BROKER_URL"] = broker
    return AppConfig(settings=load_settings(e), gmm=GmmConfig())


PLAN = [PRIORITY_TRAINING, PRIORITY_DRIFT, PRIORITY_REFRESH, PRIORITY_STABILITY, PRIORITY_CLEANUP]


def test_redis_serves_the_most_important_first():
    # kombu's Redis transport polls priority_steps in ascending order: 0 is served first.
    nums = [broker_priority(p, "redis://h:6379/0") for p in PLAN]
    assert nums == sorted(nums)
    assert nums[0] == 0 and nums[-1] == 8


def test_rabbitmq_keeps_plan_numbers():
    assert [broker_priority(p, "amqp://guest@h//") for p in PLAN] == PLAN


@pytest.mark.parametrize("p,expected", [(-3, 9), (0, 9), (9, 0), (12, 0)])
def test_priority_is_clamped(p, expected):
    assert broker_priority(p, "redis://x") == expected


def test_redis_config():
    conf = build_celery_config(
        cfg_for("redis://127.0.0.1:6379/3"), WorkerSettings(visibility_timeout_s=7)
    )
    assert conf["broker_url"] == "redis://127.0.0.1:6379/3"
    assert conf["result_backend"] == "redis://127.0.0.1:6379/3"
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["worker_concurrency"] == 2
    assert conf["worker_max_memory_per_child"] == 600 * 1024  # KiB
    assert conf["timezone"] == "Europe/Berlin"
    bto = conf["broker_transport_options"]
    assert bto["priority_steps"] == list(range(10))
    assert bto["sep"] == ":" and bto["queue_order_strategy"] == "priority"
    assert bto["visibility_timeout"] == 7
    # a message without explicit priority is "normal" (5 -> 4 on Redis), not the most urgent 0
    assert conf["task_default_priority"] == 4
    assert {q.name for q in conf["task_queues"]} == {"maintenance", "scan"}
    assert conf["task_routes"]["scan_library"]["queue"] == "scan"
    assert conf["task_routes"]["train_gmm"]["queue"] == "maintenance"


def test_default_broker_is_local_redis():
    conf = build_celery_config(cfg_for(None), WorkerSettings())
    assert conf["broker_url"].startswith("redis://127.0.0.1:6379")
    assert conf["result_backend"] == conf["broker_url"]


def test_rabbitmq_by_url_alone():
    conf = build_celery_config(cfg_for("amqp://guest:guest@rabbit:5672//"), WorkerSettings())
    assert "broker_transport_options" not in conf
    assert all(q.queue_arguments == {"x-max-priority": 10} for q in conf["task_queues"])
    assert conf["task_default_priority"] == 5
    assert conf["result_backend"] is None


def test_worker_settings_from_env(monkeypatch):
    monkeypatch.setenv("SONICMAP_WORKER_CONCURRENCY", "1")
    monkeypatch.setenv("SONICMAP_WORKER_VISIBILITY_TIMEOUT_S", "5")
    ws = WorkerSettings()
    assert ws.concurrency == 1 and ws.visibility_timeout_s == 5


def test_tasks_registered_with_plan_names():
    from sonicmap.worker.app import app

    names = {n for n in app.tasks if not n.startswith("celery.")}
    assert {
        "scan_library",
        "train_gmm",
        "periodic_gmm_refresh",
        "check_cluster_stability",
        "cleanup_old_models",
    } <= names


@pytest.mark.parametrize("broker", ["redis://h:6379/0", "amqp://guest@h//"])
def test_every_maintenance_task_outranks_scans(broker):
    from sonicmap.worker.app import PRIORITY_SCAN

    def served_first(a: int, b: int) -> bool:
        pa, pb = broker_priority(a, broker), broker_priority(b, broker)
        return pa < pb if broker.startswith("redis") else pa > pb

    assert all(served_first(p, PRIORITY_SCAN) for p in PLAN)


def test_task_time_limits_stay_below_the_visibility_timeout() -> None:
    from sonicmap.worker.app import task_time_limits

    assert task_time_limits(WorkerSettings(visibility_timeout_s=3600)) == (2916.0, 3240.0)
    capped = task_time_limits(WorkerSettings(visibility_timeout_s=100, task_time_limit_s=500))
    assert capped == (81.0, 90.0)  # never at or past the visibility timeout
    assert task_time_limits(WorkerSettings(task_time_limit_s=600)) == (540.0, 600.0)
    conf = build_celery_config(cfg_for("redis://127.0.0.1:6379/3"), WorkerSettings())
    assert conf["task_soft_time_limit"] < conf["task_time_limit"]
    assert conf["task_time_limit"] < conf["broker_transport_options"]["visibility_timeout"]
