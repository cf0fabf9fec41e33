"""Fixtures of the worker integration tests: real Redis, real PostgreSQL, real Celery processes.

Isolation from other test sessions: every session takes its own Redis database index (``INCR``
of a counter in db 0, modulo 15, + 1) and every test a fresh PostgreSQL database; workers and
beat are subprocesses started for the test and killed (by their own process group) after it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # worker_cluster, worker_helpers, netfaults (also for workers)

from worker_cluster import Cluster  # noqa: E402


def _root_conftest() -> Any:
    """The root tests/conftest.py helpers (create/drop a PostgreSQL database, Redis URL)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_sonicmap_root_conftest", HERE.parents[1] / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_root = _root_conftest()
REDIS_URL: str = _root.REDIS_URL
create_pg_database = _root.create_pg_database
drop_pg_database = _root.drop_pg_database


def _redis_ok(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_db() -> str:
    """``redis://.../<n>``: a Redis database index of this test session only."""
    if not _redis_ok(REDIS_URL + "/0"):
        pytest.skip("no Redis at " + REDIS_URL)
    n = redis.Redis.from_url(REDIS_URL + "/0").incr("sonicmap:test:redis-db-counter")
    return f"{REDIS_URL}/{n % 15 + 1}"


@pytest.fixture
def cluster(tmp_path: Path, redis_db: str) -> Iterator[Cluster]:
    from sonicmap.store import migrate
    from sonicmap.store.db import make_engine

    r = redis.Redis.from_url(redis_db)
    r.flushdb()
    db_url = create_pg_database()
    eng = make_engine(db_url)
    migrate.upgrade(eng)
    eng.dispose()
    c = Cluster(tmp_path, db_url, redis_db)
    try:
        yield c
    finally:
        c.stop_all()
        if c.store is not None:
            c.store.dispose()
        r.flushdb()
        drop_pg_database(db_url)
