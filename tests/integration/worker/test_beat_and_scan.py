"""Real beat + worker run the periodic tasks; scans share analysis across two workers."""

from __future__ import annotations

import pytest
from worker_cluster import wait_for
from worker_helpers import seed_library, write_wav

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PERIODIC = ("periodic_gmm_refresh", "check_cluster_stability", "cleanup_old_models")


def test_accelerated_beat_runs_all_three_periodic_tasks(cluster):
    every = {"schedule": "interval", "every": "2s"}
    p = cluster.gmm["gmm_clustering"]["periodic"]
    for name in ("gmm_refresh", "stability_check", "cleanup"):
        p[name].update(every)
    cluster.configure()
    # a library too small to train on: refresh and stability skip with their reasons
    seed_library(cluster.store, n_artists=3)
    cluster.start_worker("w1")
    cluster.start_beat()

    def all_ran():
        runs = cluster.jobs()
        done = {r["task"] for r in runs if r["status"] != "running"}
        return runs if set(PERIODIC) <= done else None

    runs = wait_for(all_ran, 40, "beat to run the three periodic tasks")
    by_task = {t: [r for r in runs if r["task"] == t and r["finished_at"]] for t in PERIODIC}
    refresh = by_task["periodic_gmm_refresh"][0]
    assert refresh["status"] == "skipped"
    assert refresh["result"] == {"status": "skipped", "reason": "below_min_artists"}
    stab = by_task["check_cluster_stability"][0]
    assert stab["result"] == {"status": "skipped", "reason": "no_active_model"}
    clean = by_task["cleanup_old_models"][0]
    assert clean["status"] == "succeeded", clean
    assert clean["result"] == {"status": "clean", "deleted_count": 0, "models_removed": []}
    # nothing trained, nothing queued
    assert not cluster.jobs("train_gmm")


def test_two_workers_share_a_scans_analysis(cluster, tmp_path):
    lib = tmp_path / "music"
    for i in range(12):
        write_wav(lib / f"artist{i % 3}" / f"track{i}.wav", freq=200 + 30 * i)
    cluster.worker_env["SONICMAP_WORKER_SCAN_CHUNK_SIZE"] = "2"
    app = cluster.configure(SONICMAP_TEST_ANALYZE_SLEEP_S="0.4", SONICMAP_LIBRARY_ROOTS=str(lib))
    cluster.start_worker(
        "alpha", wait=False, SONICMAP_TEST_ANALYZE_SLEEP_S="0.4", SONICMAP_LIBRARY_ROOTS=str(lib)
    )
    cluster.start_worker(
        "beta", wait=False, SONICMAP_TEST_ANALYZE_SLEEP_S="0.4", SONICMAP_LIBRARY_ROOTS=str(lib)
    )
    cluster.wait_worker("alpha")
    cluster.wait_worker("beta")

    res = app.send_task("scan_library", kwargs={"paths": None}, queue="scan").get(timeout=60)
    assert res["status"] == "queued" and res["chunks"] == 6 and res["files"] == 12
    final = app.AsyncResult(res["task_id"]).get(timeout=90)
    assert final["status"] == "completed", final
    assert final["added"] == 12 and final["failed"] == 0

    chunks = [r for r in cluster.jobs("scan_analyse_chunk") if r["status"] == "succeeded"]
    assert sum(r["result"]["files"] for r in chunks) == 12
    nodes = {r["result"]["worker"].split("@")[0] for r in chunks}
    assert nodes == {"alpha", "beta"}, nodes
    # the scan stored features computed by the chunk workers (not re-analysed at the end)
    from sqlalchemy import select

    from sonicmap.store.schema import TrackFeatures

    with cluster.store.session() as s:
        feats = list(s.scalars(select(TrackFeatures.features)))
    assert len(feats) == 12
    assert len({f["pid"] for f in feats}) >= 2
    # the parked analyses are gone (they were this chord's)
    from sonicmap.store.schema import KeyValue
    from sonicmap.worker.distributed import CACHE_PREFIX

    with cluster.store.session() as s:
        assert not list(
            s.scalars(select(KeyValue.key).where(KeyValue.key.like(CACHE_PREFIX + "%")))
        )
    # a second scan has nothing to analyse and runs in place
    again = app.send_task("scan_library", queue="scan").get(timeout=60)
    assert again["status"] == "completed" and again["unchanged"] == 12
