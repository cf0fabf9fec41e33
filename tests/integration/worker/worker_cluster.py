"""The service-mode deployment a worker integration test drives (see conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


def wait_for(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Cluster:
    """One test's service-mode deployment: database, broker, config, worker/beat processes."""

    def __init__(self, tmp: Path, db_url: str, broker: str) -> None:
        self.tmp = tmp
        self.db_url = db_url
        self.broker = broker
        self.procs: list[subprocess.Popen[bytes]] = []
        self.gmm: dict[str, Any] = {
            "gmm_clustering": {
                "auto_queue": {"min_artists": 6, "min_tracks": 6, "min_change_percent": 20},
                "periodic": {
                    "gmm_refresh": {"min_tracks_since_last": 5, "days_since_last": 7},
                    "stability_check": {"min_tracks_changed": 4, "drift_threshold": 0.15},
                    "cleanup": {"keep_count": 2, "max_age_days": 30},
                },
                "retry": {"max_retries": 5},
            }
        }
        self.worker_env: dict[str, str] = {
            "SONICMAP_WORKER_REFRESH_COUNTDOWN_S": "0",
            "SONICMAP_WORKER_DRIFT_COUNTDOWN_S": "0",
            "SONICMAP_WORKER_RETRY_BASE_S": "0.5",
            "SONICMAP_WORKER_RETRY_MAX_S": "4",
            "SONICMAP_WORKER_LOCK_TTL_S": "6",
            "SONICMAP_WORKER_SCAN_ANALYZER": "worker_helpers:fake_analyze",
        }
        self.store: Any = None

    # -- configuration ---------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        path = self.tmp / "gmm_config.yaml"
        path.write_text(yaml.safe_dump(self.gmm))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
        env.update(
            {
                "SONICMAP_DATABASE_URL": self.db_url,
                "SONICMAP_BROKER_URL": self.broker,
                "SONICMAP_GMM_CONFIG": str(path),
                "SONICMAP_DATA_DIR": str(self.tmp / "data"),
                "SONICMAP_TIMEZONE": "UTC",
                "SONICMAP_LOG_LEVEL": "INFO",
                "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
                **self.worker_env,
                **extra,
            }
        )
        return env

    def configure(self, **extra: str) -> Any:
        """Configure the in-process Celery app (the test's client side) like the workers."""
        from sonicmap.config import load_config
        from sonicmap.worker.app import WorkerSettings, configure_app

        env = self.env(**extra)
        cfg = load_config(env)
        ws = WorkerSettings(
            **{
                k.removeprefix("SONICMAP_WORKER_").lower(): v
                for k, v in env.items()
                if k.startswith("SONICMAP_WORKER_")
            }
        )
        app = configure_app(cfg, ws)
        from sonicmap.worker import app as wa

        self.store = wa.get_store()
        return app

    # -- processes -------------------------------------------------------------------------

    def start_worker(
        self,
        name: str,
        *,
        concurrency: int = 1,
        queues: str = "maintenance,scan",
        pool: str = "prefork",
        wait: bool = True,
        cli: bool = False,
        **extra: str,
    ) -> subprocess.Popen[bytes]:
        """Start a worker: ``worker_helpers.py worker`` (fault hooks), or ``sonicmap worker``."""
        if cli:
            argv = [
                sys.executable,
                "-c",
                "from sonicmap.cli import main; main()",
                "worker",
                f"--hostname={name}@%h",
                f"--concurrency={concurrency}",
                f"--queues={queues}",
                f"--pool={pool}",
            ]
        else:
            argv = self._helper_argv(name, concurrency, queues, pool)
        log = open(self.tmp / f"worker-{name}.log", "ab")  # noqa: SIM115
        p = subprocess.Popen(
            argv,
            env=self.env(**extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(p)
        if wait:
            self.wait_worker(name)
        return p

    def _helper_argv(self, name: str, concurrency: int, queues: str, pool: str) -> list[str]:
        return [
            sys.executable,
            str(HERE / "worker_helpers.py"),
            "worker",
            f"--hostname={name}@%h",
            f"--concurrency={concurrency}",
            f"--queues={queues}",
            f"--pool={pool}",
            "--loglevel=INFO",
            "--prefetch-multiplier=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]

    def wait_worker(self, name: str, timeout: float = 40) -> None:
        from sonicmap.worker.app import app

        host = f"{name}@{os.uname().nodename}"
        wait_for(
            lambda: app.control.ping(destination=[host], timeout=0.5),
            timeout,
            f"worker {host} to answer a ping (log: {self.tmp}/worker-{name}.log)",
        )

    def start_beat(self) -> subprocess.Popen[bytes]:
        log = open(self.tmp / "beat.log", "ab")  # noqa: SIM115
        p = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "sonicmap.worker.app",
                "beat",
                "--loglevel=INFO",
            ],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.tmp,
        )
        self.procs.append(p)
        return p

    def kill(self, p: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)

    def stop_all(self) -> None:
        for p in self.procs:  # the test is over: no need for a warm shutdown
            if p.poll() is None:
                self.kill(p, signal.SIGKILL)
        self.procs.clear()

    # -- observations ----------------------------------------------------------------------

    def jobs(self, task: str | None = None) -> list[dict[str, Any]]:
        from sonicmap.pipeline.jobs import list_jobs

        return list_jobs(self.store, limit=500, task=task)

    def models(self) -> list[tuple[int, str, str]]:
        from sqlalchemy import select

        from sonicmap.store.schema import GmmModel

        with self.store.session() as s:
            return [
                (r.id, r.status, r.trigger)
                for r in s.scalars(select(GmmModel).order_by(GmmModel.id))
            ]

    def active_model(self) -> int | None:
        act = [m for m in self.models() if m[1] == "active"]
        return act[0][0] if act else None

    def log(self, name: str) -> str:
        p = self.tmp / name
        return p.read_text(errors="replace") if p.exists() else ""
