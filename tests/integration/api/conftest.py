"""Fixtures for API integration tests: a private Redis database index per test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The shared API test helpers (``apitest``) live beside the unit tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "api"))

REDIS_BASE = os.environ.get("SONICMAP_TEST_REDIS_URL", "redis://127.0.0.1:6379")
COUNTER_KEY = "sonicmap:test:redis-db-counter"


def allocate_redis_db() -> str:
    """A Redis URL on a database index (1..15) no concurrent test session is likely to use.

    Other engineers' Celery tests share the machine's Redis, so each session takes the next index
    from a counter in db 0 (``INCR``, modulo 15, + 1) and empties it before use.
    """
    import redis

    base = REDIS_BASE.rstrip("/")
    r0 = redis.Redis.from_url(base + "/0", socket_connect_timeout=3)
    index = int(r0.incr(COUNTER_KEY)) % 15 + 1
    r0.close()
    url = f"{base}/{index}"
    r = redis.Redis.from_url(url, socket_connect_timeout=3)
    r.flushdb()
    r.close()
    return url


def redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_BASE + "/0", socket_connect_timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {REDIS_BASE}")
    return allocate_redis_db()


def _root_conftest():  # noqa: ANN202 - the module tests/conftest.py
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "conftest.py"
    spec = importlib.util.spec_from_file_location("sonicmap_tests_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def pg_url():  # noqa: ANN201
    """A fresh database on the machine's PostgreSQL (dropped afterwards)."""
    root = _root_conftest()
    if not root.pg_available():
        pytest.skip("PostgreSQL is not reachable")
    url = root.create_pg_database()
    try:
        yield url
    finally:
        root.drop_pg_database(url)
