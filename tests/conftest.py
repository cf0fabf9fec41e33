"""Shared fixtures.

Databases: ``db_url`` is parametrised over SQLite (a temp file) and the machine's real PostgreSQL
(``SONICMAP_TEST_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``); each test
gets a fresh database created for it and dropped afterwards, so parallel runs never collide.
``store`` is an open, migrated :class:`sonicmap.store.db.Store` on that database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from sonicmap.store import migrate
from sonicmap.store.db import Store, make_engine

PG_ADMIN_URL = os.environ.get(
    "SONICMAP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SONICMAP_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def pg_available() -> bool:
    try:
        eng = make_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:
        return False


def create_pg_database() -> str:
    """Create a fresh, empty PostgreSQL database; return its URL."""
    name = "sonicmap_test_" + uuid.uuid4().hex[:12]
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL: a SQLite file, or a fresh database on the real PostgreSQL."""
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
