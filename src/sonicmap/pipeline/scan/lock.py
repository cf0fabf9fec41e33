"""The scan lock: one scan at a time per library (``scan.lock`` in ``app_state``).

The lock holds the scan id, host, pid and a heartbeat. A ``running`` session whose lock holder
is dead (same host and its pid gone, or no heartbeat for :data:`STALE_AFTER`) is marked
``interrupted``; a live one makes a new scan fail with :class:`ConflictError`.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
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


def lock_value(scan_id: int, host: str, now: datetime) -> dict[str, Any]:
    """What the lock holds for scan ``scan_id`` of this process at ``now``."""
    return {"scan_id": scan_id, "host": host, "pid": os.getpid(), "heartbeat": now.isoformat()}


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
            raise ConflictError(
                f"scan {sess.id} is still running (host {lock.get('host')}, pid "
                f"{lock.get('pid')}); wait for it to finish"
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
        try:
            import psutil

            proc = psutil.Process(pid)
            return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
        except Exception:  # noqa: BLE001 - no such process (or no access): dead for us
            return False
    return now - beat < STALE_AFTER
