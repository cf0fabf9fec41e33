"""A real worker scanning a library in which one file's analysis kills its process and one hangs.

The scan completes, both files are ``failed`` with their reasons, every other file is analysed,
the worker still consumes new tasks, and no message is delivered twice (the documented bound is
1 + SONICMAP_WORKER_MAX_REDELIVERIES runs, only when a worker itself is lost; here none is).
"""

from __future__ import annotations

import pytest
from worker_helpers import write_wav

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_worker_scan_survives_a_killing_and_a_hanging_file(cluster, tmp_path):
    from sqlalchemy import select

    from sonicmap.store.schema import Track

    lib = tmp_path / "music"
    for i in range(6):
        write_wav(lib / "artist" / f"t{i}.wav", freq=200 + 30 * i)
    write_wav(lib / "artist" / "KILL me.wav")
    write_wav(lib / "artist" / "HANG me.wav")
    cluster.worker_env.update(
        {
            "SONICMAP_WORKER_SCAN_ANALYZER": "worker_helpers:kill_or_hang",
            "SONICMAP_WORKER_SCAN_CHUNK_SIZE": "4",  # distributed: chunk tasks + scan_finish
        }
    )
    env = {"SONICMAP_LIBRARY_ROOTS": str(lib), "SONICMAP_ANALYSIS_TIMEOUT_S": "4"}
    app = cluster.configure(**env)
    cluster.start_worker("w1", concurrency=1, **env)

    res = app.send_task("scan_library", queue="scan").get(timeout=120)
    assert res["status"] == "queued" and res["chunks"] == 2, res
    final = app.AsyncResult(res["task_id"]).get(timeout=120)
    assert final["status"] == "completed", final
    assert (final["added"], final["failed"]) == (6, 2), final
    with cluster.store.session() as s:
        rows = {t.path.rsplit("/", 1)[1]: t for t in s.scalars(select(Track))}
    assert rows["KILL me.wav"].status == "failed"
    assert rows["KILL me.wav"].last_error == "analysis process killed by signal 9 (SIGKILL)"
    assert rows["HANG me.wav"].status == "failed"
    assert rows["HANG me.wav"].last_error == "timed out after 4 s"
    assert sorted(n for n, t in rows.items() if t.status == "analysed") == [
        f"t{i}.wav" for i in range(6)
    ]

    # the worker still consumes new tasks
    out = app.send_task("cleanup_old_models", queue="maintenance").get(timeout=60)
    assert out["status"] in ("clean", "completed"), out
    # and every message was delivered once: one job run per task id, none lost
    runs = cluster.jobs()
    ids = [r["task_id"] for r in runs]
    assert len(ids) == len(set(ids)), runs
    assert all(r["status"] == "succeeded" for r in runs), runs
