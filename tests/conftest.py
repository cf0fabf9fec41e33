"""Shared fixtures.

Databases: ``db_url`` is parametrised over SQLite (a temp file) and PostgreSQL: the suite's own
throwaway server with pgvector (``tests/testservices.py``; ``SONICMAP_TEST_PG_URL`` points it at an
existing one instead); each test gets a fresh database created for it and dropped afterwards, so
parallel runs never collide. ``store`` is an open, migrated :class:`sonicmap.store.db.Store` on
that database. Redis likewise: the suite's own ``redis-server`` (or ``SONICMAP_TEST_REDIS_URL``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import testservices
from sonicmap.store import migrate
from sonicmap.store.db import Store, make_engine
from testservices import create_pg_database, drop_pg_database, pg_available  # noqa: F401


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the throwaway PostgreSQL / Redis this session started (and delete their folders)."""
    testservices.stop_all()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL: a SQLite file, or a fresh database on the suite's PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sonicmap.db'}"
        return
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store on ``db_url`` (both backends)."""
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    s = Store(engine)
    try:
        yield s
    finally:
        s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A migrated store on a SQLite file only (for tests that need no PostgreSQL run)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'sonicmap.db'}")
    migrate.upgrade(engine)
    s = Store(engine)
    try:
        yield s
    finally:
        s.dispose()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Remove every SONICMAP_* variable and point the data dir at a temp folder."""
    for k in list(os.environ):
        if k.startswith("SONICMAP_"):
            monkeypatch.delenv(k)
    data = tmp_path / "data"
    monkeypatch.setenv("SONICMAP_DATA_DIR", str(data))
    return data


@pytest.fixture
def cli_state(clean_env: Path) -> Iterator[Path]:
    """A clean environment for in-process CLI runs: the CLI's cached configuration and store are
    reset before the test and the store is closed after it. Yields the data dir."""
    from sonicmap.cli import _common

    _common.set_config(None)
    _common._state.pop("store", None)
    yield clean_env
    s = _common._state.pop("store", None)
    if s is not None:
        s.dispose()
    _common.set_config(None)
