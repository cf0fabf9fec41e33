"""Two ``sonicmap scan`` processes started together: exactly one runs, the other is refused
naming the running scan (no traceback, no "database is locked"), on SQLite and PostgreSQL; and
the API reading a SQLite file while a CLI scan writes it never fails a request."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audio_fixtures import write_tone
from sonicmap.store import migrate
from sonicmap.store.db import make_engine

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-c", "from sonicmap.cli import main; main()"]


def _library(root: Path, n: int) -> Path:
    for i in range(n):
        write_tone(root / f"artist{i % 2}" / f"t{i}.wav", freq_hz=220 + 40 * i, duration_s=3.0)
    return root


def _env(db_url: str, lib: Path, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
    env.update(
        {
            "SONICMAP_DATABASE_URL": db_url,
            "SONICMAP_LIBRARY_ROOTS": str(lib),
            "SONICMAP_DATA_DIR": str(data),
            "SONICMAP_JOBS": "1",
            "SONICMAP_TIMEZONE": "UTC",
        }
    )
    return env


def test_two_scans_started_together_one_runs_the_other_names_it(db_url: str, tmp_path: Path):
    lib = _library(tmp_path / "music", 4)
    eng = make_engine(db_url)
    migrate.upgrade(eng)
    eng.dispose()
    env = _env(db_url, lib, tmp_path / "data")
    procs = [
        subprocess.Popen(
            [*CLI, "scan", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]  # fmt: skip
    outs = [(p.wait(timeout=240), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in outs)
    assert codes == [0, 1], outs
    (_, _, refused_err) = next(o for o in outs if o[0] == 1)
    (_, ran_out, _) = next(o for o in outs if o[0] == 0)
    import json

    ran = json.loads(ran_out)
    assert ran["status"] == "completed" and ran["added"] == 4
    assert refused_err.startswith(f"error: scan {ran['scan_id']} is still running (started ")
    for _, out, err in outs:
        assert "Traceback" not in err and "database is locked" not in err + out


def test_api_reads_while_a_cli_scan_writes_one_sqlite_file(tmp_path: Path):
    from fastapi.testclient import TestClient

    from sonicmap.api import create_app
    from sonicmap.config import load_config

    db_url = f"sqlite:///{tmp_path / 'sonicmap.db'}"
    lib = _library(tmp_path / "music", 6)
    eng = make_engine(db_url)
    migrate.upgrade(eng)
    eng.dispose()
    env = _env(db_url, lib, tmp_path / "data")
    scan = subprocess.Popen(
        [*CLI, "scan", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    cfg = load_config({k: v for k, v in env.items() if k.startswith("SONICMAP_")})
    statuses: list[int] = []
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        while scan.poll() is None:
            for path in ("/api/v1/tracks", "/api/v1/scans", "/api/v1/artists", "/api/v1/ready"):
                r = c.get(path)
                statuses.append(r.status_code)
                assert r.status_code == 200, (path, r.text)
            time.sleep(0.05)
        total = c.get("/api/v1/tracks").json()["total"]
    out, err = scan.communicate()
    assert scan.returncode == 0, err
    assert "database is locked" not in err
    assert len(statuses) >= 8 and total == 6
