"""Faults: PostgreSQL refusing connections, Redis restarted mid-run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from netfaults import PausableProxy, PrivateRedis
from sqlalchemy.engine import make_url
from worker_cluster import wait_for
from worker_helpers import write_wav

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_postgres_refusing_connections_is_retried_with_backoff(cluster):
    u = make_url(cluster.db_url)
    proxy = PausableProxy((u.host or "127.0.0.1", u.port or 5432))
    try:
        proxied = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        cluster.db_url = proxied
        app = cluster.configure()
        cluster.start_worker("w1")
        proxy.pause()
        t0 = time.monotonic()
        res = app.send_task("periodic_gmm_refresh", queue="maintenance")
        time.sleep(3)
        assert not res.ready()  # retrying, not failed
        proxy.resume()
        out = res.get(timeout=40)
        elapsed = time.monotonic() - t0
        assert out == {"status": "skipped", "reason": "below_min_artists"}
        assert elapsed >= 3
        log = cluster.log("worker-w1.log")
        assert "transient failure task=periodic_gmm_refresh" in log
        assert "attempt=1" in log and "attempt=2" in log  # backed off more than once
        runs = cluster.jobs("periodic_gmm_refresh")
        assert [r["status"] for r in runs] == ["skipped"]
    finally:
        proxy.close()


def test_redis_restart_mid_run_loses_no_task(cluster, tmp_path: Path):
    r = PrivateRedis(tmp_path / "redis")
    r.start()
    try:
        lib = tmp_path / "music"
        for i in range(3):
            write_wav(lib / f"a{i}.wav", freq=300 + 50 * i)
        cluster.broker = r.url
        slow = {"SONICMAP_TEST_ANALYZE_SLEEP_S": "1.5", "SONICMAP_LIBRARY_ROOTS": str(lib)}
        app = cluster.configure(**slow)
        cluster.start_worker("w1", concurrency=1, **slow)
        scan = app.send_task("scan_library", queue="scan")  # ~4.5 s of "analysis" in place
        wait_for(lambda: cluster.jobs("scan_library"), 20, "the scan to start")
        queued = [app.send_task("periodic_gmm_refresh", queue="maintenance") for _ in range(4)]
        r.stop()
        time.sleep(2)
        r.start()
        results = [q.get(timeout=60) for q in queued]
        assert all(x["status"] == "skipped" for x in results)
        assert scan.get(timeout=60)["status"] == "completed"
        runs = cluster.jobs()
        assert len([x for x in runs if x["task"] == "periodic_gmm_refresh"]) == 4
        assert [x["status"] for x in runs if x["task"] == "scan_library"] == ["succeeded"]
    finally:
        r.stop()
