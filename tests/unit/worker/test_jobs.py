"""Job-run recording (sonicmap.pipeline.jobs) and `sonicmap jobs --json`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sonicmap.pipeline import jobs

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_start_finish_list(store):
    a = jobs.start_job(store, "cleanup_old_models", task_id="t1", now=T0)
    b = jobs.start_job(
        store, "train_gmm", task_id="t2", args={"reason": "drift"}, now=T0 + timedelta(seconds=1)
    )
    jobs.finish_job(
        store,
        a,
        {"status": "clean", "deleted_count": 0, "models_removed": []},
        now=T0 + timedelta(seconds=2),
    )
    jobs.finish_job(
        store, b, {"status": "error", "message": "too few artists"}, now=T0 + timedelta(seconds=3)
    )
    rows = jobs.list_jobs(store)
    assert [r["id"] for r in rows] == [b, a]  # newest first
    assert rows[0]["status"] == "failed" and rows[0]["args"] == {"reason": "drift"}
    assert rows[1]["status"] == "succeeded"
    assert rows[1]["result"]["status"] == "clean"
    assert rows[1]["started_at"] == T0.isoformat()
    assert rows[1]["finished_at"] == (T0 + timedelta(seconds=2)).isoformat()
    assert [r["id"] for r in jobs.list_jobs(store, task="train_gmm")] == [b]
    assert [r["id"] for r in jobs.list_jobs(store, limit=1)] == [b]


def test_skipped_status_and_redelivery(store):
    a = jobs.start_job(store, "periodic_gmm_refresh", task_id="x", now=T0)
    jobs.finish_job(store, a, {"status": "skipped", "reason": "no_changes"})
    assert jobs.get_job(store, a)["status"] == "skipped"
    # a worker died: the row stays running until the same task id runs again
    c = jobs.start_job(store, "train_gmm", task_id="dup", now=T0)
    d = jobs.start_job(store, "train_gmm", task_id="dup", now=T0 + timedelta(seconds=5))
    assert jobs.get_job(store, c)["status"] == "failed"
    assert "redelivered" in jobs.get_job(store, c)["result"]["message"]
    assert jobs.get_job(store, d)["status"] == "running"


def test_bad_status_and_limit(sqlite_store):
    a = jobs.start_job(sqlite_store, "x")
    with pytest.raises(ValueError, match="job status must be one of"):
        jobs.finish_job(sqlite_store, a, {}, status="exploded")
    with pytest.raises(ValueError, match="limit must be >= 1"):
        jobs.list_jobs(sqlite_store, limit=0)


def test_cli_jobs_json(cli_state, monkeypatch):
    from typer.testing import CliRunner

    from sonicmap.cli import app
    from sonicmap.store.db import open_store

    db = cli_state / "sonicmap.db"
    store = open_store(f"sqlite:///{db}")
    jid = jobs.start_job(store, "cleanup_old_models", task_id="t")
    jobs.finish_job(store, jid, {"status": "clean", "deleted_count": 0, "models_removed": []})
    store.dispose()
    res = CliRunner().invoke(app, ["jobs", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out) == 1
    assert set(out[0]) == {"id", "task", "status", "started_at", "finished_at", "result"}
    assert out[0]["task"] == "cleanup_old_models" and out[0]["status"] == "succeeded"
