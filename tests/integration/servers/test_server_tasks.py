"""Service mode: the ``sync_servers`` and ``push_playlists`` tasks (run eagerly, the worker app on
the test's database and an in-memory broker), and the scan hook that queues the sync."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from sonicmap.config import load_config
from sonicmap.pipeline import servers as srv
from sonicmap.store.schema import JobRun

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_app(sm: Any, tmp_path: Path) -> Iterator[Any]:
    from sonicmap.worker import app as wa

    gmm = tmp_path / "gmm.yaml"
    gmm.write_text("gmm_clustering:\n  auto_queue: {min_artists: 4}\n")
    cfg = load_config(
        {
            "SONICMAP_DATABASE_URL": sm.db_url,
            "SONICMAP_BROKER_URL": "memory://",
            "SONICMAP_DATA_DIR": str(tmp_path / "data"),
            "SONICMAP_LIBRARY_ROOTS": str(sm.music),
            "SONICMAP_GMM_CONFIG": str(gmm),
        }
    )
    wa.configure_app(cfg, wa.WorkerSettings())
    yield wa
    wa.get_store().dispose()
    wa._state.clear()


def test_sync_and_push_tasks(sm: Any, supysonic: Any, worker_app: Any) -> None:
    from sonicmap.worker.tasks import celery_after_scan, push_playlists, sync_servers

    srv.add_server(
        sm.store, name="sup", kind="subsonic", url=supysonic.url, username="alice",
        secret={"type": "password", "source": "stored", "value": "correct horse"},
    )  # fmt: skip
    out = sync_servers.apply(kwargs={"name": "sup"}).get()
    assert out["status"] == "completed"
    assert out["servers"][0]["matched"]["path"] == 40
    out = push_playlists.apply(
        kwargs={"server": "sup", "request": {"all_clusters": True, "count": 4}}
    ).get()
    assert out["status"] == "completed" and out["created"] == 2
    with sm.store.session() as ses:
        runs = ses.execute(select(JobRun.task, JobRun.status).order_by(JobRun.id)).all()
    assert [tuple(r) for r in runs][-2:] == [
        ("sync_servers", "succeeded"), ("push_playlists", "succeeded")
    ]  # fmt: skip
    # after a completed scan the worker queues a sync (a failed scan queues nothing)
    queued = celery_after_scan(worker_app.get_store(), SimpleNamespace(status="completed"))
    assert queued["servers"]["status"] == "queued"
    assert "servers" not in celery_after_scan(
        worker_app.get_store(), SimpleNamespace(status="failed")
    )
    # a server that is down fails the task with its one-line reason
    srv.set_options(sm.store, "sup", url="http://127.0.0.1:9")
    out = sync_servers.apply(kwargs={"name": "sup"}).get()
    assert out["status"] == "failed"
    assert out["servers"][0]["error"] == (
        "server 'sup': cannot reach http://127.0.0.1:9 (connection refused)"
    )
