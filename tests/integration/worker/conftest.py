"""Fixtures of the worker integration tests: real Redis, real PostgreSQL, real Celery processes.

Services: the suite's own throwaway Redis and PostgreSQL (``tests/testservices.py``); every
session takes its own Redis database index and every test a fresh PostgreSQL database; workers
and beat are subprocesses started for the test and killed (by their own process group) after it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # worker_cluster, worker_helpers, netfaults (also for workers)

from worker_cluster import Cluster  # noqa: E402

from testservices import allocate_redis_db, create_pg_database, drop_pg_database  # noqa: E402


@pytest.fixture(scope="session")
def redis_db() -> str:
    """``redis://.../<n>``: a Redis database index of this test session only (emptied first)."""
    return allocate_redis_db()


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
