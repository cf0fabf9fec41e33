"""The scan lock: one scan at a time per library (``scan.lock`` in ``app_state``).

The lock holds the scan id, host, pid, the process's start time and a heartbeat. Taking it is
atomic: the check and the write run in one transaction that holds the write lock from its start
(SQLite ``BEGIN IMMEDIATE``) or a transaction-scoped advisory lock (PostgreSQL), so two scans
started together cannot both pass the check. A ``running`` session whose lock holder is dead
(same host: no process with that pid *and* start time — a reused pid in a container is not the
holder; another host: no heartbeat for :data:`STALE_AFTER`) is marked ``interrupted``; a live one
makes a new scan fail with :class:`ConflictError` naming it.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from sonicmap.errors import ConflictError
from sonicmap.store.schema import KeyValue, ScanSession

log = logging.getLogger(__name__)

#: A ``running`` session whose heartbeat is older than this is considered dead.
STALE_AFTER = timedelta(minutes=15)
LOCK_KEY = "scan.lock"


def get_state(ses: Session, key: str) -> Any:
    """``app_state[key]`` (None when absent); the store's repository, imported on use."""
    from sonicmap.store.repo import get_state as _get

    return _get(ses, key)


def set_state(ses: Session, key: str, value: Any, now: datetime) -> None:
    from sonicmap.store.repo import set_state as _set

    _set(ses, key, value, now=now)


#: PostgreSQL advisory lock key serialising scan starts (any 64-bit number unique to sonicmap).
ADVISORY_KEY = 0x5E11_5CA4


def _process_started(pid: int) -> float | None:
    """The start time (epoch seconds) of process ``pid``, None when there is none."""
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(proc.create_time())
    except Exception:  # noqa: BLE001 - no such process (or no access): none for us
        return None


def lock_value(scan_id: int, host: str, now: datetime) -> dict[str, Any]:
    """What the lock holds for scan ``scan_id`` of this process at ``now``."""
    pid = os.getpid()
    return {
        "scan_id": scan_id,
        "host": host,
        "pid": pid,
        "started": _process_started(pid),
        "heartbeat": now.isoformat(),
    }


def serialise_starts(ses: Session) -> None:
    """Make this transaction the only one starting a scan until it ends (PostgreSQL: an
    advisory lock; SQLite: the session already holds the write lock)."""
    if ses.get_bind().dialect.name == "postgresql":
        ses.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_KEY})


def write_lock(ses: Session, scan_id: int, host: str, now: datetime) -> None:
    """Take the lock, or refresh its heartbeat."""
    set_state(ses, LOCK_KEY, lock_value(scan_id, host, now), now)


def release_lock(ses: Session, scan_id: int) -> None:
    """Drop the lock if scan ``scan_id`` holds it."""
    lock = get_state(ses, LOCK_KEY) or {}
    if lock.get("scan_id") == scan_id:
        ses.execute(delete(KeyValue).where(KeyValue.key == LOCK_KEY))


def end_dead_sessions(ses: Session, host: str, now: datetime) -> None:
    """Mark sessions left ``running`` by dead processes ``interrupted``; raise
    :class:`ConflictError` when a live one still holds the lock."""
    lock = get_state(ses, LOCK_KEY) or {}
    for sess in ses.scalars(select(ScanSession).where(ScanSession.status == "running")):
        if lock.get("scan_id") == sess.id and lock_alive(lock, host, now):
            started = sess.started_at.isoformat(timespec="seconds") if sess.started_at else "?"
            raise ConflictError(
                f"scan {sess.id} is still running (started {started}, host {lock.get('host')}, "
                f"pid {lock.get('pid')}); wait for it to finish"
            )
        log.warning(
            "marking scan left running by a dead process as interrupted scan_id=%s", sess.id
        )
        sess.status = "interrupted"
        sess.finished_at = sess.finished_at or now
        sess.error = sess.error or "the scanning process stopped before finishing"


def lock_alive(lock: dict[str, Any], host: str, now: datetime) -> bool:
    """Is the process holding the scan lock alive? Same host: by pid; else: by heartbeat age."""
    try:
        beat = datetime.fromisoformat(str(lock.get("heartbeat")))
    except ValueError:
        return False
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    if lock.get("host") == host:
        pid = int(lock.get("pid") or 0)
        if pid <= 0 or pid == os.getpid():
            return False
        started = _process_started(pid)
        if started is None:
            return False
        recorded = lock.get("started")
        # a lock written before start times were recorded: the pid alone decides
        return recorded is None or abs(started - float(recorded)) < 1.0
    return now - beat < STALE_AFTER


def running_scan(ses: Session, host: str, now: datetime) -> ScanSession | None:
    """The ``running`` scan session whose lock holder is alive, if any (read only)."""
    lock = get_state(ses, LOCK_KEY) or {}
    sess = ses.get(ScanSession, lock.get("scan_id")) if lock.get("scan_id") else None
    if sess is None or sess.status != "running" or not lock_alive(lock, host, now):
        return None
    return sess
