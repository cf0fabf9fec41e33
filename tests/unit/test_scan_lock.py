"""Scan-lock liveness on the same host: the pid *and* the process's start time must match (a
pid reused in a container by another process is not the holder)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psutil

from sonicmap.pipeline.scan.lock import lock_alive


def test_a_reused_pid_is_not_the_lock_holder() -> None:
    now = datetime.now(UTC)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = psutil.Process(other.pid).create_time()
        lock = {"scan_id": 1, "host": "h", "pid": other.pid, "heartbeat": now.isoformat()}
        assert lock_alive({**lock, "started": started}, "h", now)
        assert not lock_alive({**lock, "started": started - 3600}, "h", now)  # pid reused
        assert lock_alive({**lock, "started": None}, "h", now)  # a lock of an older version
    finally:
        other.kill()
        other.wait()
    assert not lock_alive({**lock, "started": started}, "h", now)  # the holder is gone
    # another host: by heartbeat age
    stale = (now - timedelta(hours=1)).isoformat()
    assert lock_alive({**lock, "host": "elsewhere"}, "h", now)
    assert not lock_alive({**lock, "host": "elsewhere", "heartbeat": stale}, "h", now)
