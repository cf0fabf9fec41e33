"""Single-flight of training: coalescing, one runner, stale locks, concurrent claims."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sonicmap.pipeline.singleflight import TrainingFlight

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def test_request_coalesces_while_queued_and_running(store):
    f = TrainingFlight(store, lock_ttl_s=10, queued_ttl_s=100)
    assert f.request("a", now=T0) == (True, "a")
    assert f.request("b", now=T0 + S) == (False, "a")  # queued -> coalesced
    assert f.start("a", now=T0 + 2 * S).action == "run"
    assert f.request("c", now=T0 + 3 * S) == (False, "a")  # running -> coalesced
    assert f.heartbeat("a", now=T0 + 9 * S)
    assert f.request("d", now=T0 + 15 * S) == (False, "a")  # heartbeat kept it alive
    f.finish("a", now=T0 + 16 * S)
    assert f.state()["state"] == "idle"
    assert f.request("e", now=T0 + 17 * S) == (True, "e")


def test_only_one_runs_and_stale_lock_is_taken_over(store):
    f = TrainingFlight(store, lock_ttl_s=10, queued_ttl_s=100)
    assert f.start("a", now=T0).action == "run"
    busy = f.start("b", now=T0 + 2 * S)
    assert (busy.action, busy.holder) == ("busy", "a")
    assert busy.retry_in_s == 8
    # "a" was killed: no heartbeat for longer than the TTL
    assert f.start("b", now=T0 + 11 * S).action == "run"
    assert not f.heartbeat("a", now=T0 + 12 * S)  # a zombie learns it lost the lock


def test_redelivered_task_reruns_after_kill_but_not_after_success(store):
    f = TrainingFlight(store, lock_ttl_s=10)
    f.request("a", now=T0)
    assert f.start("a", now=T0).action == "run"
    # same id redelivered while the heartbeat is fresh: maybe a live duplicate -> wait
    assert f.start("a", now=T0 + 3 * S).action == "busy"
    # after the TTL the dead run's redelivery takes over
    assert f.start("a", now=T0 + 20 * S).action == "run"
    f.finish("a", now=T0 + 21 * S)
    assert f.start("a", now=T0 + 22 * S).action == "done"


def test_requeue_keeps_coalescing_and_release(store):
    f = TrainingFlight(store, lock_ttl_s=10, queued_ttl_s=100)
    f.request("a", now=T0)
    f.start("a", now=T0)
    f.requeue("a", now=T0 + S)  # transient failure, retry later
    assert f.request("b", now=T0 + 50 * S) == (False, "a")
    assert f.start("a", now=T0 + 60 * S).action == "run"
    f.finish("a")
    assert f.request("c", now=T0 + 200 * S) == (True, "c")
    f.release("c")
    assert f.request("d", now=T0 + 201 * S) == (True, "d")


def test_stale_queued_request_no_longer_coalesces(store):
    f = TrainingFlight(store, lock_ttl_s=10, queued_ttl_s=100)
    f.request("a", now=T0)
    assert f.request("b", now=T0 + 101 * S) == (True, "b")


def test_concurrent_requests_claim_once(store):
    n = 8
    results: list[tuple[bool, str]] = []
    barrier = threading.Barrier(n)

    def go(i: int) -> None:
        f = TrainingFlight(store)
        barrier.wait()
        results.append(f.request(f"t{i}"))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [tid for claimed, tid in results if claimed]
    assert len(winners) == 1
    assert {tid for _, tid in results} == set(winners)


def test_a_queued_training_the_broker_lost_is_released_after_the_check_time(sqlite_store):
    f = TrainingFlight(sqlite_store, lock_ttl_s=10, queued_ttl_s=3600, queued_check_s=60)
    asked: list[str] = []

    def gone(task_id: str) -> bool:
        asked.append(task_id)
        return False

    assert f.request("a", now=T0) == (True, "a")
    assert f.request("b", now=T0 + 59 * S, is_known=gone) == (False, "a")  # too young to ask
    assert asked == []
    assert f.request("c", now=T0 + 61 * S, is_known=lambda _id: None) == (False, "a")  # no verdict
    assert f.request("d", now=T0 + 61 * S, is_known=lambda _id: True) == (False, "a")  # still there
    assert f.request("e", now=T0 + 61 * S, is_known=gone) == (True, "e")  # lost: replaced
    assert asked == ["a"] and f.state()["task_id"] == "e"
    assert f.start("e", now=T0 + 62 * S).action == "run"
    assert f.request("g", now=T0 + 65 * S, is_known=gone) == (False, "e")  # running: no check
