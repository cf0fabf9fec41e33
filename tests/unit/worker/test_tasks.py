"""Task bodies run eagerly against a SQLite store, with a fake GMM pipeline at the seam."""

from __future__ import annotations

import random
import sys
import types
from pathlib import Path

import pytest
import sqlalchemy.exc

from sonicmap.config import load_config
from sonicmap.errors import NotEnoughDataError
from sonicmap.pipeline import jobs
from sonicmap.pipeline.results import CleanupResult, DriftResult, TrainResult
from sonicmap.worker.runs import backoff_seconds, is_transient

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration" / "worker"))
from worker_helpers import seed_library, touch_tracks  # noqa: E402


@pytest.mark.parametrize("retries", range(8))
def test_backoff_is_exponential_with_jitter_and_capped(retries):
    rng = random.Random(retries)
    full = min(60.0, 2.0 * 2**retries)
    for _ in range(50):
        d = backoff_seconds(retries, base_s=2.0, max_s=60.0, rng=rng)
        assert full / 2 <= d <= full
    assert backoff_seconds(5, base_s=2.0, max_s=60.0, exponential=False, rng=rng) <= 2.0


def test_transient_classification():
    import redis.exceptions

    op = sqlalchemy.exc.OperationalError("select 1", {}, Exception("connection refused"))
    assert is_transient(op)
    assert is_transient(redis.exceptions.ConnectionError("down"))
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(NotEnoughDataError("3 artists, need 6"))
    assert not is_transient(ValueError("bad"))
    assert not is_transient(RuntimeError("bug"))


class FakeClustering(types.ModuleType):
    """Stands in for sonicmap.pipeline.clustering (the GMM engineer's) at the seam."""

    def __init__(self) -> None:
        super().__init__("sonicmap.pipeline.clustering")
        self.train_calls: list[dict] = []
        self.failures: list[BaseException] = []
        self.drift = 0.0
        self.decisions: list[tuple[int, str]] = []

    def train(
        self,
        store,
        cfg,
        *,
        n_components=None,
        reason="manual",
        force=False,
        now=None,
        progress=None,
    ):
        self.train_calls.append({"reason": reason, "force": force, "n_components": n_components})
        if self.failures:
            raise self.failures.pop(0)
        return TrainResult(
            status="active",
            model_id=len(self.train_calls),
            k=3,
            n_artists=9,
            n_tracks=27,
            bic=-1.5,
            training_seconds=0.25,
        )

    def check_stability(self, store, cfg, **kw):
        return DriftResult(
            check_id=7,
            model_id=1,
            drift=self.drift,
            threshold=0.15,
            decision="stable",
            exceeded=False,
            inputs={},
        )

    def record_decision(self, store, check_id, decision):
        self.decisions.append((check_id, decision))

    def cleanup_models(self, store, cfg, *, now=None):
        return CleanupResult(models_removed=(4, 2))


@pytest.fixture
def eager(tmp_path, monkeypatch):
    """The worker app on a SQLite file and an in-memory broker; tasks run with .apply()."""
    import sonicmap.pipeline
    from sonicmap.worker import app as wa

    env = {
        "SONICMAP_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "SONICMAP_BROKER_URL": "memory://",
        "SONICMAP_DATA_DIR": str(tmp_path),
        "SONICMAP_TIMEZONE": "UTC",
    }
    gmm = tmp_path / "gmm.yaml"
    gmm.write_text(
        "gmm_clustering:\n  auto_queue: {min_artists: 6, min_tracks: 6}\n"
        "  periodic:\n    stability_check: {min_tracks_changed: 2, drift_threshold: 0.15}\n"
        "  retry: {max_retries: 2}\n"
    )
    env["SONICMAP_GMM_CONFIG"] = str(gmm)
    cfg = load_config(env)
    wa.configure_app(cfg, wa.WorkerSettings(retry_base_s=0.01, retry_max_s=0.02))
    fake = FakeClustering()
    monkeypatch.setitem(sys.modules, "sonicmap.pipeline.clustering", fake)
    monkeypatch.setattr(sonicmap.pipeline, "clustering", fake, raising=False)
    store = wa.get_store()
    yield store, fake
    store.dispose()
    wa._state.clear()


def test_train_gmm_completes_and_records(eager):
    from sonicmap.pipeline.singleflight import TrainingFlight
    from sonicmap.worker.tasks import train_gmm

    store, fake = eager
    out = train_gmm.apply(kwargs={"reason": "manual"}).get()
    assert out["status"] == "completed" and out["model_id"] == 1 and out["reason"] == "manual"
    [run] = jobs.list_jobs(store, task="train_gmm")
    assert run["status"] == "succeeded" and run["result"] == out
    assert TrainingFlight(store).state()["state"] == "idle"


def test_permanent_failure_fails_at_once(eager):
    from sonicmap.worker.tasks import train_gmm

    store, fake = eager
    fake.failures = [NotEnoughDataError("only 3 artists with vectors; need at least 6")]
    out = train_gmm.apply(kwargs={"reason": "auto_queue"}).get()
    assert out == {"status": "error", "message": "only 3 artists with vectors; need at least 6"}
    assert len(fake.train_calls) == 1
    assert [r["status"] for r in jobs.list_jobs(store, task="train_gmm")] == ["failed"]


def test_transient_failure_retries_then_succeeds(eager):
    from sonicmap.worker.tasks import train_gmm

    store, fake = eager
    op = sqlalchemy.exc.OperationalError("x", {}, Exception("server closed the connection"))
    fake.failures = [op, op]
    out = train_gmm.apply(kwargs={"reason": "drift", "force_refresh": True}).get()
    assert out["status"] == "completed"
    assert len(fake.train_calls) == 3
    statuses = [r["status"] for r in jobs.list_jobs(store, task="train_gmm")]
    assert sorted(statuses) == ["retrying", "retrying", "succeeded"]


def test_transient_failure_gives_up_after_max_retries(eager):
    from sonicmap.worker.tasks import train_gmm

    store, fake = eager
    op = sqlalchemy.exc.OperationalError("x", {}, Exception("refused"))
    fake.failures = [op, op, op, op]
    out = train_gmm.apply(kwargs={}).get()
    assert out["status"] == "error" and out["message"].startswith("gave up after 2 retries")
    assert len(fake.train_calls) == 3


def test_periodic_refresh_queues_then_coalesces(eager):
    from sonicmap.worker.tasks import periodic_gmm_refresh

    store, fake = eager
    assert periodic_gmm_refresh.apply().get() == {
        "status": "skipped",
        "reason": "below_min_artists",
    }
    seed_library(store, n_artists=9)
    first = periodic_gmm_refresh.apply().get()
    assert first["status"] == "queued" and first["coalesced"] is False
    assert first["trigger"] == "no_active_model"
    second = periodic_gmm_refresh.apply().get()
    assert second["status"] == "queued" and second["coalesced"] is True
    assert second["task_id"] == first["task_id"]


def test_stability_and_cleanup_results(eager):
    from sqlalchemy import update

    from sonicmap.store.schema import GmmModel
    from sonicmap.worker.tasks import check_cluster_stability, cleanup_old_models

    store, fake = eager
    assert check_cluster_stability.apply().get() == {
        "status": "skipped",
        "reason": "no_active_model",
    }
    ids = seed_library(store, n_artists=9)
    with store.session() as s:
        s.add(GmmModel(status="active", format_version=1, trigger="manual", active_flag=True))
    out = check_cluster_stability.apply().get()
    assert out == {"status": "skipped", "reason": "too_few_changes"}
    touch_tracks(store, ids[:3])
    fake.drift = 0.05
    assert check_cluster_stability.apply().get()["status"] == "stable"
    fake.drift = 0.4
    out = check_cluster_stability.apply().get()
    assert out["status"] == "reclustering_queued" and out["drift_score"] == 0.4
    assert fake.decisions == [(7, "reclustering_queued")]
    from sqlalchemy import func, select

    from sonicmap.store.schema import DriftCheck

    with store.session() as s:  # the two skipped checks are in the history too
        assert s.scalar(select(func.count()).select_from(DriftCheck)) == 2
    with store.session() as s:
        s.execute(update(GmmModel).values(status="active"))
    out = cleanup_old_models.apply().get()
    assert out == {"status": "completed", "deleted_count": 2, "models_removed": [2, 4]}


def test_embedded_hook_trains_in_process(eager, tmp_path):
    from sonicmap.pipeline.autoqueue import embedded_after_scan
    from sonicmap.pipeline.scan import ScanResult
    from sonicmap.worker.hooks import after_scan_hook

    store, fake = eager
    cfg = load_config(
        {
            "SONICMAP_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "SONICMAP_GMM_CONFIG": str(tmp_path / "gmm.yaml"),
            "SONICMAP_DATA_DIR": str(tmp_path),
        }
    )
    hook = after_scan_hook(cfg)
    assert hook.__name__ == "after_scan"  # embedded: no broker configured
    assert hook(store, None) == {"status": "skipped", "reason": "below_min_artists"}
    seed_library(store, n_artists=9)
    failed_scan = ScanResult(scan_id=1, status="failed")
    assert embedded_after_scan(cfg)(store, failed_scan) == {
        "status": "skipped",
        "reason": "scan_failed",
    }
    fake.failures = [NotEnoughDataError("9 distinct artists; need 10")]
    assert hook(store, None) == {"status": "error", "message": "9 distinct artists; need 10"}
    fake.train_calls.clear()
    out = hook(store, None)
    assert out["status"] == "completed" and out["reason"] == "auto_queue"
    assert fake.train_calls == [{"reason": "auto_queue", "force": False, "n_components": None}]
    assert [r["status"] for r in jobs.list_jobs(store, task="train_gmm")] == ["succeeded", "failed"]


def test_training_skipped_by_the_pipeline_is_reported_skipped(eager, monkeypatch):
    from sonicmap.worker.tasks import train_gmm

    store, fake = eager
    monkeypatch.setattr(
        fake,
        "train",
        lambda *a, **k: TrainResult.skipped(
            {"id": 3, "k": 4, "n_artists": 9, "n_tracks": 30, "bic": -2.0, "training_seconds": 1.0},
            "unchanged",
        ),
        raising=False,
    )
    out = train_gmm.apply(kwargs={"reason": "periodic_refresh"}).get()
    assert out == {
        "status": "skipped",
        "reason": "unchanged",
        "model_id": 3,
        "id": 3,
        "k": 4,
        "n_artists": 9,
        "n_tracks": 30,
        "bic": -2.0,
        "training_seconds": 1.0,
    }
    assert [r["status"] for r in jobs.list_jobs(store, task="train_gmm")] == ["skipped"]


def test_a_task_whose_worker_keeps_dying_is_run_a_bounded_number_of_times(eager):
    """Each delivery of a task whose worker died leaves a ``running`` row (marked lost at the
    next delivery); past SONICMAP_WORKER_MAX_REDELIVERIES (2) it is recorded failed, not run."""
    from sonicmap.worker.tasks import cleanup_old_models

    store, fake = eager
    for _ in range(3):  # three deliveries that died mid-run (the worker was SIGKILLed)
        jobs.start_job(store, "cleanup_old_models", task_id="doomed")
    out = cleanup_old_models.apply(task_id="doomed").get()
    assert out["status"] == "error"
    assert "lost 3 times" in out["message"] and "MAX_REDELIVERIES=2" in out["message"]
    runs = jobs.list_jobs(store, task="cleanup_old_models")
    assert [r["status"] for r in runs] == ["failed"] * 4
    # a task lost only twice still runs
    for _ in range(2):
        jobs.start_job(store, "cleanup_old_models", task_id="unlucky")
    assert cleanup_old_models.apply(task_id="unlucky").get()["status"] != "error"
