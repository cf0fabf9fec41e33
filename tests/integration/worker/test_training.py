"""Training through real workers: auto-queue, coalescing, drift, priorities, SIGKILL mid-training."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from worker_cluster import wait_for
from worker_helpers import drift_library, seed_library, touch_tracks, write_wav

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def finished(cluster, task):
    return [r for r in cluster.jobs(task) if r["status"] not in ("running", "retrying")]


def test_auto_queue_once_none_below_thresholds_and_five_scans_coalesce(cluster, tmp_path: Path):
    lib = tmp_path / "music"
    write_wav(lib / "one.wav")
    app = cluster.configure(SONICMAP_LIBRARY_ROOTS=str(lib))
    artists = seed_library(cluster.store, n_artists=12, n_styles=3)
    cluster.start_worker("w1", concurrency=2, SONICMAP_LIBRARY_ROOTS=str(lib))

    # 1. a scan over the thresholds (no model yet) queues exactly one training, which activates
    res = app.send_task("scan_library", queue="scan").get(timeout=60)
    assert res["status"] == "completed", res
    assert res["auto_queue"]["status"] == "queued"
    wait_for(lambda: finished(cluster, "train_gmm"), 60, "the auto-queued training")
    runs = finished(cluster, "train_gmm")
    assert len(runs) == 1 and runs[0]["status"] == "succeeded", runs
    assert runs[0]["args"]["reason"] == "auto_queue"
    first = cluster.active_model()
    assert first is not None
    assert [m for m in cluster.models() if m[0] == first][0][2] == "auto_queue"

    # 2. a scan with nothing changed: below min_change_percent, no training
    res = app.send_task("scan_library", queue="scan").get(timeout=60)
    assert res["auto_queue"] == {"status": "skipped", "reason": "below_min_change_percent"}

    # 3. five scans finishing together (their hooks at once) -> one training
    touch_tracks(cluster.store, artists[:6])  # 50 % of the tracks changed
    from sonicmap.worker.tasks import celery_after_scan

    outs: list[dict] = []
    barrier = threading.Barrier(5)

    def hook() -> None:
        barrier.wait()
        outs.append(celery_after_scan(cluster.store, None))

    threads = [threading.Thread(target=hook) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o["status"] for o in outs) == ["coalesced"] * 4 + ["queued"]
    assert len({o["task_id"] for o in outs}) == 1
    wait_for(lambda: len(finished(cluster, "train_gmm")) == 2, 60, "the coalesced training")
    wait_for(lambda: cluster.active_model() not in (None, first), 10, "a new active model")
    assert len(cluster.jobs("train_gmm")) == 2
    assert app.send_task("periodic_gmm_refresh").get(timeout=30)["status"] == "skipped"


def test_stability_drift_retrains_stable_does_not(cluster):
    app = cluster.configure()
    artists = seed_library(cluster.store, n_artists=30, n_styles=3)
    cluster.start_worker("w1", concurrency=2)
    from sonicmap.worker.tasks import request_training

    request_training("manual", store=cluster.store)
    wait_for(lambda: cluster.active_model(), 60, "the first model")
    first = cluster.active_model()

    # stable: tracks re-analysed (enough changes to check) but vectors unchanged
    touch_tracks(cluster.store, artists[:10])
    out = app.send_task("check_cluster_stability").get(timeout=60)
    assert out["status"] == "stable", out
    assert out["drift_score"] <= 0.15

    # drifted: 40 % of the artists moved to a brand-new style
    drift_library(cluster.store, artists, fraction=0.4)
    out = app.send_task("check_cluster_stability").get(timeout=60)
    assert out["status"] == "reclustering_queued", out
    assert out["drift_score"] > 0.15
    wait_for(lambda: len(finished(cluster, "train_gmm")) == 2, 60, "the drift retrain")
    drift_runs = [r for r in cluster.jobs("train_gmm") if r["args"]["reason"] == "drift"]
    assert len(drift_runs) == 1 and drift_runs[0]["status"] == "succeeded"
    assert drift_runs[0]["args"]["force_refresh"] is True
    assert cluster.active_model() != first
    assert [m[2] for m in cluster.models() if m[0] == cluster.active_model()] == ["drift"]


def test_high_priority_training_overtakes_queued_maintenance(cluster, tmp_path: Path):
    lib = tmp_path / "music"
    for i in range(3):
        write_wav(lib / f"t{i}.wav")
    slow = {"SONICMAP_TEST_ANALYZE_SLEEP_S": "1.0", "SONICMAP_LIBRARY_ROOTS": str(lib)}
    cluster.configure(**slow)
    seed_library(cluster.store, n_artists=9, n_styles=3)
    cluster.gmm["gmm_clustering"]["auto_queue"]["enabled"] = False
    app = cluster.configure(**slow)
    cluster.start_worker("solo", concurrency=1, **slow)

    busy = app.send_task("scan_library", queue="scan")  # occupies the only process ~3 s
    wait_for(lambda: cluster.jobs("scan_library"), 20, "the busy task to start")
    from sonicmap.worker.app import PRIORITY_CLEANUP, plan_to_broker
    from sonicmap.worker.tasks import request_training

    low = [
        app.send_task(
            "cleanup_old_models", queue="maintenance", priority=plan_to_broker(PRIORITY_CLEANUP)
        )
        for _ in range(6)
    ]

    assert request_training("manual", store=cluster.store)["status"] == "queued"
    busy.get(timeout=60)
    for r in low:
        r.get(timeout=60)
    wait_for(lambda: finished(cluster, "train_gmm"), 60, "the training")
    train = finished(cluster, "train_gmm")[0]
    cleanups = cluster.jobs("cleanup_old_models")
    assert len(cleanups) == 6
    assert all(train["started_at"] < c["started_at"] for c in cleanups), (train, cleanups)


def test_worker_killed_during_training_task_redelivered(cluster, tmp_path: Path):
    marker = tmp_path / "training-started"
    fault = {  # tasks' time limits are 90 % of the visibility timeout: room for a training
        "SONICMAP_WORKER_VISIBILITY_TIMEOUT_S": "8",
        "SONICMAP_WORKER_RESTORE_INTERVAL_S": "1",
        "SONICMAP_WORKER_LOCK_TTL_S": "3",
    }
    cluster.configure(**fault)
    seed_library(cluster.store, n_artists=12, n_styles=3)
    from sonicmap.worker.tasks import request_training

    a = cluster.start_worker(
        "doomed", SONICMAP_TEST_TRAIN_DELAY_S="1", SONICMAP_TEST_TRAIN_MARKER=str(marker), **fault
    )
    request_training("manual", store=cluster.store)
    wait_for(lambda: cluster.active_model(), 60, "the first model")
    first = cluster.active_model()
    cluster.kill(a, signal.SIGTERM)

    marker.unlink()
    a = cluster.start_worker(
        "doomed2", SONICMAP_TEST_TRAIN_DELAY_S="30", SONICMAP_TEST_TRAIN_MARKER=str(marker), **fault
    )
    task_id = request_training("manual", force_refresh=True, store=cluster.store)["task_id"]
    wait_for(marker.exists, 30, "the second training to start")
    cluster.kill(a)  # SIGKILL the whole worker (main process and pool) mid-training
    assert cluster.active_model() == first
    assert [m[1] for m in cluster.models()].count("active") == 1

    cluster.start_worker("rescuer", **fault)
    wait_for(
        lambda: any(
            r["status"] == "succeeded" for r in cluster.jobs("train_gmm") if r["task_id"] == task_id
        ),
        60,
        "the redelivered training to complete",
    )
    runs = [r for r in cluster.jobs("train_gmm") if r["task_id"] == task_id]
    assert runs[0]["status"] == "succeeded"
    assert any(r["status"] == "failed" and "redelivered" in r["result"]["message"] for r in runs)
    assert cluster.active_model() not in (None, first)
    assert [m[1] for m in cluster.models()].count("active") == 1


def _cli_cluster(cluster, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from sonicmap.cli import main; main()", "cluster", *args]
    return subprocess.run(
        argv, env=cluster.env(), capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_cluster_is_refused_while_a_worker_training_is_queued_or_running(
    cluster, tmp_path: Path
):
    marker = tmp_path / "training-started"
    cluster.configure()
    seed_library(cluster.store, n_artists=12, n_styles=3)
    from sonicmap.worker.tasks import request_training

    # queued: no worker consumes it yet
    task_id = request_training("manual", store=cluster.store)["task_id"]
    out = _cli_cluster(cluster, "--json")
    assert out.returncode == 1, out
    assert out.stdout == ""
    assert f"a training is already queued (task {task_id})" in out.stderr

    # running: the worker holds the flight while it fits
    cluster.start_worker(
        "w1", SONICMAP_TEST_TRAIN_DELAY_S="20", SONICMAP_TEST_TRAIN_MARKER=str(marker)
    )
    wait_for(marker.exists, 30, "the worker's training to start")
    out = _cli_cluster(cluster, "--force")
    assert out.returncode == 1, out
    assert f"a training is already running (task {task_id})" in out.stderr
    assert cluster.active_model() is None  # the CLI trained nothing meanwhile

    wait_for(lambda: finished(cluster, "train_gmm"), 60, "the worker's training")
    runs = cluster.jobs("train_gmm")
    assert [(r["task_id"], r["status"]) for r in runs] == [(task_id, "succeeded")]
    first = cluster.active_model()
    assert first is not None

    # idle again: the CLI trains in-process, under the flight, recorded like a worker's run
    out = _cli_cluster(cluster, "--json", "--force")
    assert out.returncode == 0, out
    doc = json.loads(out.stdout)
    assert doc["status"] == "active" and doc["model_id"] not in (None, first)
    runs = cluster.jobs("train_gmm")
    assert len(runs) == 2
    cli_run = [r for r in runs if r["task_id"] != task_id][0]
    assert cli_run["task_id"].startswith("cli-") and cli_run["status"] == "succeeded"
    assert (
        cli_run["args"]["reason"] == "manual" and cli_run["result"]["model_id"] == doc["model_id"]
    )
    assert cluster.active_model() == doc["model_id"]
