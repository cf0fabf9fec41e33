"""The API's Celery queue against the machine's real Redis: enqueue, coalesce, 503 when down."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from apitest import API, KEY, make_config
from fastapi.testclient import TestClient

from sonicmap.api import create_app
from sonicmap.store.db import Store

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {KEY}"}


def _client(tmp_path: Path, store: Store, broker: str) -> TestClient:
    cfg = make_config(tmp_path, api_key=KEY, broker_url=broker)
    return TestClient(create_app(cfg, store=store), raise_server_exceptions=False)


def test_tasks_reach_the_broker_and_training_is_coalesced(tmp_path, store, redis_url) -> None:
    r = redis.Redis.from_url(redis_url)
    r.flushdb()  # this session's private index
    with _client(tmp_path, store, redis_url) as c:
        assert c.get(f"{API}/ready").json()["broker"]["ok"] is True
        cleanup = c.post(f"{API}/gmm/cleanup", headers=AUTH)
        assert cleanup.status_code == 202, cleanup.text
        first = c.post(f"{API}/gmm/train", json={"force": True}, headers=AUTH).json()
        second = c.post(f"{API}/gmm/train", headers=AUTH).json()
        assert first["status"] == "queued"
        assert second == {**first, "status": "coalesced"}
        keys = [k.decode() for k in r.keys("maintenance*")]
        assert keys, "no message reached the maintenance queue"
        waiting = sum(r.llen(k) for k in keys)
        assert waiting == 2  # one cleanup + one training, not two trainings
        st = c.get(f"{API}/tasks/{first['task_id']}").json()
        assert st == {
            "task_id": first["task_id"],
            "state": "PENDING",
            "ready": False,
            "result": None,
            "error": None,
        }


def test_broker_down_answers_503_fast(tmp_path, sqlite_store) -> None:
    with _client(tmp_path, sqlite_store, "redis://127.0.0.1:9/0") as c:
        t0 = time.monotonic()
        for method, path in (
            ("POST", "/gmm/train"),
            ("POST", "/gmm/cleanup"),
            ("GET", "/tasks/abc"),
        ):
            resp = c.request(method, API + path, headers=AUTH)
            assert resp.status_code == 503, resp.text
            err = resp.json()["error"]
            assert err["code"] == "broker_unavailable" and "SONICMAP_BROKER_URL" in err["message"]
        ready = c.get(f"{API}/ready")
        assert ready.status_code == 503 and "broker" in ready.json()["error"]["message"]
        assert time.monotonic() - t0 < 20
        # Reads do not need the broker.
        assert c.get(f"{API}/artists").status_code == 200


def test_a_training_lost_by_the_broker_is_requeued_within_the_check_time(
    tmp_path, store, redis_url, monkeypatch
) -> None:
    """Redis flushed while a training is queued: the next POST /gmm/train after
    SONICMAP_WORKER_QUEUED_CHECK_S queues a new task instead of coalescing into a lost one."""
    monkeypatch.setenv("SONICMAP_WORKER_QUEUED_CHECK_S", "1")
    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    with _client(tmp_path, store, redis_url) as c:

        def train() -> dict:
            resp = c.post(f"{API}/gmm/train", json={"force": True}, headers=AUTH)
            assert resp.status_code == 202, resp.text
            return resp.json()

        first = train()
        assert first["status"] == "queued"
        time.sleep(1.2)
        assert train() == {**first, "status": "coalesced"}  # the message is still in Redis
        r.flushdb()  # Redis loses its state
        t0 = time.monotonic()
        while (again := train())["status"] == "coalesced":
            assert time.monotonic() - t0 < 3, "the lost training still coalesces new requests"
            time.sleep(0.2)
        assert again["status"] == "queued" and again["task_id"] != first["task_id"]
        raw = b"".join(m for k in r.keys("maintenance*") for m in r.lrange(k, 0, -1))
        assert again["task_id"].encode() in raw and first["task_id"].encode() not in raw
        assert train() == {**again, "status": "coalesced"}
