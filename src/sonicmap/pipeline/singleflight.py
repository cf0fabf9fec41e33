"""Single-flight for training: at most one training at a time, requests coalesce.

The state lives in one row of the database (``app_state``, key ``single_flight:train_gmm``), so
it works with any broker (Redis, RabbitMQ), in embedded mode, and survives a broker restart.
Every transition runs in one transaction that first locks the row (``UPDATE ... SET
updated_at = updated_at``: a row lock on PostgreSQL, the write lock on SQLite), then reads,
decides and writes — two workers can never both win.

State (JSON): ``state`` = ``idle`` | ``queued`` | ``running``, ``task_id``, ``queued_at``,
``heartbeat_at``, ``last_finished`` (task id of the last training that ended).

* :meth:`TrainingFlight.request` — a new request: if a training is queued (younger than
  ``queued_ttl_s``) or running (heartbeat younger than ``lock_ttl_s``) it is **coalesced** and the
  existing task id is returned; otherwise the new id is recorded as queued. A queued training
  older than ``queued_check_s`` is first checked with the caller's ``is_known(task_id)`` (the
  broker: is the message still there?); one the broker no longer knows (Redis flushed or
  restarted without its data) is released and the new request queued in its place.
* :meth:`TrainingFlight.start` — a training task begins: ``run``; ``busy`` while another live
  training holds the lock (the caller retries later); ``done`` when this task id already finished
  (duplicate delivery).
* :meth:`TrainingFlight.heartbeat` — keeps the lock alive while training (a background thread).
* :meth:`TrainingFlight.finish` / :meth:`TrainingFlight.requeue` — end, or go back to queued for a
  retry (new requests keep coalescing into the retrying task).

A worker killed mid-training stops its heartbeat: after ``lock_ttl_s`` the lock is stale, and the
redelivered message (same task id) or a new request may run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from sonicmap.store.db import Store
from sonicmap.store.schema import KeyValue

log = logging.getLogger(__name__)

T = TypeVar("T")

KEY = "single_flight:train_gmm"
IDLE: dict[str, Any] = {"state": "idle", "task_id": None}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def _parse(s: str | None) -> datetime | None:
    if not s:
        return None
    t = datetime.fromisoformat(s)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


@dataclass(frozen=True)
class StartOutcome:
    """``action``: ``run``, ``busy`` (retry in ``retry_in_s``) or ``done``; ``holder``: task id."""

    action: str
    holder: str | None = None
    retry_in_s: float = 0.0


class TrainingFlight:
    """Single-flight state of GMM training in ``store`` (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        lock_ttl_s: float = 90.0,
        queued_ttl_s: float = 6 * 3600.0,
        queued_check_s: float = 60.0,
    ) -> None:
        self.store = store
        self.lock_ttl = timedelta(seconds=lock_ttl_s)
        self.queued_ttl = timedelta(seconds=queued_ttl_s)
        self.queued_check = timedelta(seconds=queued_check_s)

    # -- plumbing --------------------------------------------------------------------------

    def _transact(self, fn: Callable[[dict[str, Any]], tuple[dict[str, Any] | None, T]]) -> T:
        """Run ``fn(session, value) -> (new_value | None, result)`` with the row locked."""
        for attempt in range(5):
            try:
                with self.store.session() as s:
                    locked = s.execute(
                        update(KeyValue)
                        .where(KeyValue.key == KEY)
                        .values(updated_at=KeyValue.updated_at)
                    ).rowcount
                    if not locked:
                        s.add(KeyValue(key=KEY, value=dict(IDLE), updated_at=datetime.now(UTC)))
                        s.flush()
                        value: dict[str, Any] = dict(IDLE)
                    else:
                        value = dict(s.scalar(select(KeyValue.value).where(KeyValue.key == KEY)))
                    new, result = fn(value)
                    if new is not None:
                        s.execute(
                            update(KeyValue)
                            .where(KeyValue.key == KEY)
                            .values(value=new, updated_at=datetime.now(UTC))
                        )
                    return result
            except IntegrityError:
                # Another process inserted the row first: lock it this time.
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _live(self, v: dict[str, Any], now: datetime) -> bool:
        """Whether ``v`` holds a queued or running training that is still alive."""
        if v.get("state") == "queued":
            t = _parse(v.get("queued_at"))
            return t is not None and now - t < self.queued_ttl
        if v.get("state") == "running":
            t = _parse(v.get("heartbeat_at"))
            return t is not None and now - t < self.lock_ttl
        return False

    # -- transitions -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self.store.read_session() as s:
            v = s.scalar(select(KeyValue.value).where(KeyValue.key == KEY))
        return dict(v) if v else dict(IDLE)

    def request(
        self,
        task_id: str,
        *,
        now: datetime | None = None,
        is_known: Callable[[str], bool | None] | None = None,
    ) -> tuple[bool, str]:
        """Claim the flight for a new request ``task_id``.

        Returns ``(True, task_id)`` when the caller must enqueue ``task_id`` now, or ``(False,
        existing_task_id)`` when the request coalesces into a queued/running training.
        ``is_known(queued_id)``: False when the broker no longer holds that task's message (None:
        cannot tell); asked only about a training queued at least ``queued_check_s`` ago.
        """
        t = now or datetime.now(UTC)
        lost = self._lost_queued(t, is_known)

        def fn(v: dict[str, Any]) -> tuple[dict[str, Any] | None, tuple[bool, str]]:
            if lost is not None and v.get("state") == "queued" and v.get("task_id") == lost:
                log.warning(
                    "queued training task_id=%s is unknown to the broker; released, "
                    "queueing task_id=%s",
                    lost,
                    task_id,
                )
            elif self._live(v, t):
                return None, (False, str(v["task_id"]))
            new = {
                "state": "queued",
                "task_id": task_id,
                "queued_at": _iso(t),
                "last_finished": v.get("last_finished"),
            }
            return new, (True, task_id)

        return self._transact(fn)

    def _lost_queued(
        self, now: datetime, is_known: Callable[[str], bool | None] | None
    ) -> str | None:
        """The id of the queued training when the broker says it no longer knows it (asked
        outside the row lock: the answer is applied only if that id is still the queued one)."""
        if is_known is None:
            return None
        v = self.state()
        queued_at = _parse(v.get("queued_at"))
        if v.get("state") != "queued" or queued_at is None or now - queued_at < self.queued_check:
            return None
        return str(v["task_id"]) if is_known(str(v["task_id"])) is False else None

    def start(self, task_id: str, *, now: datetime | None = None) -> StartOutcome:
        """A training task ``task_id`` is about to train; may it?"""
        t = now or datetime.now(UTC)

        def fn(v: dict[str, Any]) -> tuple[dict[str, Any] | None, StartOutcome]:
            if v.get("last_finished") == task_id:
                return None, StartOutcome("done", task_id)
            if v.get("state") == "running" and self._live(v, t):
                hb = _parse(v.get("heartbeat_at")) or t
                wait = max(1.0, (hb + self.lock_ttl - t).total_seconds())
                return None, StartOutcome("busy", str(v.get("task_id")), wait)
            new = {
                "state": "running",
                "task_id": task_id,
                "queued_at": v.get("queued_at") if v.get("task_id") == task_id else _iso(t),
                "heartbeat_at": _iso(t),
                "last_finished": v.get("last_finished"),
            }
            return new, StartOutcome("run", task_id)

        return self._transact(fn)

    def heartbeat(self, task_id: str, *, now: datetime | None = None) -> bool:
        """Refresh the lock; False when ``task_id`` no longer holds it."""
        t = now or datetime.now(UTC)

        def fn(v: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
            if v.get("state") != "running" or v.get("task_id") != task_id:
                return None, False
            return {**v, "heartbeat_at": _iso(t)}, True

        return self._transact(fn)

    def finish(self, task_id: str, *, now: datetime | None = None) -> None:
        """``task_id`` ended (success or permanent failure): the flight is idle again."""
        t = now or datetime.now(UTC)

        def fn(v: dict[str, Any]) -> tuple[dict[str, Any] | None, None]:
            if v.get("task_id") != task_id:
                return None, None
            return {
                "state": "idle",
                "task_id": None,
                "last_finished": task_id,
                "finished_at": _iso(t),
            }, None

        self._transact(fn)

    def requeue(self, task_id: str, *, now: datetime | None = None) -> None:
        """``task_id`` will be retried: it stays the flight's queued training."""
        t = now or datetime.now(UTC)

        def fn(v: dict[str, Any]) -> tuple[dict[str, Any] | None, None]:
            if v.get("task_id") not in (None, task_id):
                return None, None
            return {
                "state": "queued",
                "task_id": task_id,
                "queued_at": _iso(t),
                "last_finished": v.get("last_finished"),
            }, None

        self._transact(fn)

    def release(self, task_id: str) -> None:
        """Forget a queued ``task_id`` that was never enqueued (the broker refused it)."""

        def fn(v: dict[str, Any]) -> tuple[dict[str, Any] | None, None]:
            if v.get("task_id") != task_id or v.get("state") != "queued":
                return None, None
            return {"state": "idle", "task_id": None, "last_finished": v.get("last_finished")}, None

        self._transact(fn)


class Heartbeat:
    """Background thread calling :meth:`TrainingFlight.heartbeat` every ``lock_ttl / 3``."""

    def __init__(self, flight: TrainingFlight, task_id: str) -> None:
        self.flight = flight
        self.task_id = task_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sonicmap-heartbeat", daemon=True)

    def _loop(self) -> None:
        interval = max(0.2, self.flight.lock_ttl.total_seconds() / 3)
        while not self._stop.wait(interval):
            try:
                if not self.flight.heartbeat(self.task_id):
                    log.warning("training lock lost task_id=%s", self.task_id)
            except Exception as exc:  # database blip: the next beat tries again
                log.warning("heartbeat failed task_id=%s error=%s", self.task_id, exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
