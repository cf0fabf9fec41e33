"""``POST /scans`` while a scan runs: coalesced into its task, or 409 naming a CLI scan."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime

import psutil
import pytest
from apitest import API, KEY

from sonicmap.pipeline.scan import LOCK_KEY
from sonicmap.store.repo import set_state
from sonicmap.store.schema import ScanSession

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def holder():
    """A live process standing in for the scanning one (the lock checks its pid + start)."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield p.pid, psutil.Process(p.pid).create_time()
    p.kill()
    p.wait()


@pytest.mark.parametrize("task_id", ["running-task", None])
def test_a_scan_request_while_one_runs(client_factory, sqlite_store, fake_queue, holder, task_id):
    pid, started = holder
    now = datetime.now(UTC)
    with sqlite_store.session() as s:
        run = ScanSession(status="running", roots=[], started_at=now, task_id=task_id)
        s.add(run)
        s.flush()
        lock = {"scan_id": run.id, "host": socket.gethostname(), "pid": pid, "started": started}
        set_state(s, LOCK_KEY, {**lock, "heartbeat": now.isoformat()}, now=now)
    c = client_factory(api_key=KEY, library_roots="/tmp")
    r = c.post(f"{API}/scans", headers=AUTH)
    if task_id:
        assert r.status_code == 202, r.text
        assert r.json() == {"task_id": task_id, "task": "scan_library", "status": "coalesced"}
    else:
        assert r.status_code == 409, r.text
        assert r.json()["error"]["message"].startswith(f"scan {run.id} is still running")
    assert fake_queue.sent == []
