"""End to end in service mode: API, worker and beat as real processes on PostgreSQL + Redis.

``POST /scans`` on a generated library → the scan runs in the worker → the auto-queue policy
queues a training → the model is activated → clusters, similar tracks and similar artists come
back over HTTP; on the suite's PostgreSQL (it has pgvector) the same searches run on pgvector.
The processes are started with the containers' exact commands (docker/entrypoint.sh + the
compose ``command``), so this also proves the deployment wiring.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import yaml
from api_services import free_port, local_env, start_service, wait_http, wait_task
from sqlalchemy import text

from sonicmap.pipeline import embeddings
from sonicmap.store.db import Store, make_engine
from sonicmap.store.vectors import open_index

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "e2e-key"
N_ARTISTS, TRACKS_PER_ARTIST = 12, 3


def _gmm_config(path: Path) -> Path:
    """The shipped schedules, with auto-queue minimums lowered to this tiny library."""
    cfg = {
        "gmm_clustering": {
            "auto_queue": {
                "enabled": True,
                "min_artists": 6,
                "min_tracks": 18,
                "min_change_percent": 20,
                "max_components": 4,
                "priority": "high",
            }
        }
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def _poll(fn, what: str, timeout: float, services) -> object:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        for svc in services:
            assert svc.alive(), f"{svc.name} died:\n{svc.log_tail()}"
        time.sleep(1)
    logs = "\n\n".join(f"== {s.name}\n{s.log_tail(60)}" for s in services)
    raise AssertionError(f"{what} did not happen within {timeout} s\n{logs}")


def test_scan_to_clusters_and_similar_artists_over_http(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    from sonicmap.synth import generate_library

    music, data, logs = tmp_path / "music", tmp_path / "data", tmp_path / "logs"
    for d in (music, data, logs):
        d.mkdir()
    generate_library(
        music,
        n_artists=N_ARTISTS,
        tracks_per_artist=TRACKS_PER_ARTIST,
        formats=("wav",),
        seed=7,
        duration_s=4.0,
        sr=22050,
        channels=1,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    auth = {"Authorization": f"Bearer {KEY}"}
    extra = {
        "SONICMAP_API_KEY": KEY,
        "SONICMAP_GMM_CONFIG": str(_gmm_config(tmp_path / "gmm_config.yaml")),
        "SONICMAP_WORKER_CONCURRENCY": "2",
    }
    services = []
    try:
        for name in ("api", "worker", "beat"):
            env = local_env(
                name,
                database_url=pg_url,
                broker_url=redis_url,
                music=music,
                data=data,
                port=port,
                extra=extra,
            )
            services.append(start_service(name, env, data, logs))
            if name == "api":  # as in compose: worker and beat wait for a healthy (migrated) API
                wait_http(f"{base}/health", services[0], timeout=90)
        client = httpx.Client(base_url=base, timeout=30)
        assert client.get("/ready").status_code == 200

        r = client.post("/scans", json={}, headers=auth)
        assert r.status_code == 202, r.text
        scan = wait_task(base, r.json()["task_id"], timeout=600)
        assert scan["state"] == "SUCCESS", scan
        # A distributed scan answers {"status": "queued", "task_id": <finishing task>}: the
        # analysis runs as chunk tasks; follow the finishing task.
        while (scan["result"] or {}).get("status") == "queued":
            scan = wait_task(base, scan["result"]["task_id"], timeout=600)
            assert scan["state"] == "SUCCESS", scan

        def completed_scans() -> object:
            items = client.get("/scans").json()["items"]
            return [s for s in items if s["status"] != "running"]

        scans = _poll(completed_scans, "the scan session finishing", 120, services)
        assert scans[0]["status"] == "completed", scans  # type: ignore[index]
        assert scans[0]["added"] == N_ARTISTS * TRACKS_PER_ARTIST  # type: ignore[index]
        assert scans[0]["failed"] == 0  # type: ignore[index]

        def active() -> object:
            st = client.get("/gmm/status").json()
            return st["active_model"]

        model = _poll(active, "auto-queued training activating a model", 300, services)
        assert model["trigger"] == "auto_queue" and model["k"] >= 2  # type: ignore[index]
        jobs = client.get("/jobs", params={"task": "train_gmm"}).json()
        assert jobs["total"] == 1 and jobs["items"][0]["status"] == "succeeded"

        clusters = client.get("/gmm/clusters").json()
        assert clusters["model_id"] == model["id"] and len(clusters["items"]) >= 2  # type: ignore[index]
        assert sum(c["size"] for c in clusters["items"]) == N_ARTISTS
        detail = client.get(f"/gmm/clusters/{clusters['items'][0]['id']}").json()
        assert detail["members"] and detail["members_total"] == clusters["items"][0]["size"]

        artists = client.get("/artists", params={"limit": 100}).json()
        assert artists["total"] == N_ARTISTS
        aid = artists["items"][0]["id"]
        similar = client.get(f"/artists/{aid}/similar", params={"limit": 5})
        assert similar.status_code == 200, similar.text
        items = similar.json()["items"]
        assert len(items) == 5 and aid not in [i["id"] for i in items]
        assert all(0 <= i["score"] <= 1 for i in items)
        membership = client.get(f"/artists/{aid}/cluster").json()
        assert membership["model_id"] == model["id"]  # type: ignore[index]
        assert sum(p["probability"] for p in membership["probabilities"]) == pytest.approx(
            1, abs=1e-3
        )
        tracks = client.get("/tracks", params={"limit": 1}).json()
        tid = tracks["items"][0]["id"]
        near = client.get(f"/tracks/{tid}/similar", params={"limit": 5})
        assert near.status_code == 200, near.text
        near_ids = [i["id"] for i in near.json()["items"]]
        assert len(near_ids) == 5 and tid not in near_ids
        # pgvector answers on this PostgreSQL: the pipeline's searches (those of the CLI; the API
        # serves artists from its read cache) give the same neighbours as the API.
        pg = Store(make_engine(pg_url))
        try:
            assert open_index(pg).backend == "pgvector"
            by_pg = embeddings.similar_artists(pg, aid, 5)
            assert {r["id"] for r in by_pg} == {i["id"] for i in items}
            assert [r["id"] for r in embeddings.similar_tracks(pg, tid, 5)] == near_ids
            with pg.engine.connect() as c:
                n_tracks = c.execute(text("select count(*) from vec_tracks")).scalar()
                n_artists = c.execute(text("select count(*) from vec_artists")).scalar()
        finally:
            pg.dispose()
        assert (n_tracks, n_artists) == (N_ARTISTS * TRACKS_PER_ARTIST, N_ARTISTS)
        for svc in services:
            assert svc.alive(), f"{svc.name} died:\n{svc.log_tail()}"
    finally:
        for svc in reversed(services):
            svc.stop()
