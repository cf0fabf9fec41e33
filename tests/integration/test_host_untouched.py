"""``./scripts/test`` leaves the machine as it found it.

The machine is simulated in a private network namespace (``unshare -n``): there, nothing listens on
PostgreSQL's 5432 (the installed server is "stopped"), and a Redis holding data listens on 6379 (a
Redis "already running there"). ``./scripts/test`` then runs a few tests that use PostgreSQL,
Redis and Celery workers. It must pass; the data of that Redis (every key of all 16 databases,
``DUMP``-ed) and every ``/etc/postgresql/*/*/pg_hba.conf`` must be byte-for-byte unchanged.
Needs root (network namespaces); skipped elsewhere, saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
INNER_TESTS = [
    "tests/integration/api/test_api_celery_queue.py",
    "tests/integration/store/test_vector_backends.py::test_auto_picks_pgvector_or_numpy",
]

# Runs inside the namespace: loopback up, the "machine's" Redis on 6379 with data, scripts/test.
_DRIVER = r"""
import base64, json, os, subprocess, sys, tempfile, time
import redis

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
folder = tempfile.mkdtemp(prefix="sonicmap-host-redis-")
binary, tests = sys.argv[1], sys.argv[2:]
machine = subprocess.Popen(
    ["redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--dir", folder],
    executable=binary, stdout=subprocess.DEVNULL,
)
try:
    for _ in range(100):
        try:
            redis.Redis(port=6379).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    for db in (0, 1, 2, 5, 15):
        r = redis.Redis(port=6379, db=db)
        r.set(f"owner:data:{db}", f"precious {db}")
        r.rpush("owner:list", *range(db + 1))

    def snapshot():
        out = {}
        for db in range(16):
            r = redis.Redis(port=6379, db=db)
            out[db] = {k.decode(): base64.b64encode(r.dump(k)).decode() for k in r.keys("*")}
        return out

    before = snapshot()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
    run = subprocess.run(
        ["./scripts/test", *tests], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    after = snapshot()
finally:
    machine.terminate()
    machine.wait(timeout=10)
print(json.dumps({"rc": run.returncode, "out": run.stdout[-4000:],
                  "before": before, "after": after}))
"""


def _pg_hba_digests() -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path("/etc/postgresql").glob("*/*/pg_hba.conf"))
    }


def test_scripts_test_leaves_pg_hba_and_a_running_redis_untouched(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs root with unshare and ip (a private network namespace)")
    redis_bin = shutil.which("redis-server") or shutil.which("redis-check-rdb")
    if redis_bin is None:
        pytest.skip("redis-server is not installed")
    # the namespace has no network: bring the .venv up to date out here first
    subprocess.run(["bash", "-c", "source scripts/_env.sh test"], cwd=ROOT, check=True, timeout=600)
    hba_before = _pg_hba_digests()
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER)
    proc = subprocess.run(
        ["unshare", "-n", "--", sys.executable, str(driver), redis_bin, *INNER_TESTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0, result["out"]
    assert " passed" in result["out"] and "skipped" not in result["out"], result["out"]
    assert result["before"]["1"], "the machine's Redis was not populated"
    assert result["after"] == result["before"]
    assert _pg_hba_digests() == hba_before
