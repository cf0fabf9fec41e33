"""Embedded mode: a real scan's after_scan hook applies the policy and trains in-process."""

from __future__ import annotations

from pathlib import Path

import yaml
from worker_helpers import seed_library, write_wav

from sonicmap.config import load_config
from sonicmap.pipeline import jobs
from sonicmap.pipeline.scan import scan_library
from sonicmap.worker.hooks import after_scan_hook


def test_embedded_scan_auto_queues_training_in_process(sqlite_store, tmp_path: Path):
    lib = tmp_path / "music"
    write_wav(lib / "one.wav")
    gmm = tmp_path / "gmm.yaml"
    gmm.write_text(
        yaml.safe_dump({"gmm_clustering": {"auto_queue": {"min_artists": 6, "min_tracks": 6}}})
    )
    cfg = load_config(
        {
            "SONICMAP_LIBRARY_ROOTS": str(lib),
            "SONICMAP_GMM_CONFIG": str(gmm),
            "SONICMAP_DATA_DIR": str(tmp_path),
            "SONICMAP_DATABASE_URL": str(sqlite_store.engine.url),
        }
    )
    assert cfg.settings.embedded
    hook = after_scan_hook(cfg)

    def scan() -> dict:
        res = scan_library(
            sqlite_store,
            cfg,
            in_process=True,
            analyzer="worker_helpers:fake_analyze",
            after_scan=hook,
        )
        return res.post["after_scan"]

    # below the thresholds: nothing trained
    assert scan() == {"status": "skipped", "reason": "below_min_artists"}
    seed_library(sqlite_store, n_artists=12, n_styles=3)
    write_wav(lib / "two.wav", freq=330)
    out = scan()
    assert out["status"] == "completed" and out["reason"] == "auto_queue", out
    assert isinstance(out["model_id"], int)
    [run] = jobs.list_jobs(sqlite_store, task="train_gmm")
    assert run["status"] == "succeeded" and run["args"]["reason"] == "auto_queue"
    # nothing changed since: no second training
    assert scan() == {"status": "skipped", "reason": "below_min_change_percent"}
