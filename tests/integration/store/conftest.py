"""Fixtures for storage integration tests.

``pgvector_server``: a PostgreSQL 16 with the pgvector extension, started once per session from
PyPI's ``pgserver`` in a temp folder (the machine's own PostgreSQL lacks pgvector). Run as root,
pgserver creates a system user ``pgserver`` (``useradd``), hands it the data folder and runs
``initdb``/``pg_ctl`` as that user; it listens on a Unix socket only (no TCP port, so parallel
runs never collide). ``cleanup_mode="delete"`` stops the server and removes its data at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sonicmap.store import migrate
from sonicmap.store.db import Store, make_engine

PG_ADMIN_URL = os.environ.get(
    "SONICMAP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def create_database(admin_url: str) -> str:
    """Create an empty database next to ``admin_url``'s; return its URL."""
    name = "sonicmap_test_" + uuid.uuid4().hex[:12]
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[str]:
    """Admin URL of a session-wide PostgreSQL 16 + pgvector (pgserver)."""
    pgserver = pytest.importorskip("pgserver", reason="pgserver (test extra) is not installed")
    folder = tempfile.mkdtemp(prefix="sonicmap-pgserver-")
    try:
        server = pgserver.get_server(os.path.join(folder, "pgdata"), cleanup_mode="delete")
    except Exception as exc:  # pragma: no cover - platform without pgserver binaries
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"pgserver could not start a PostgreSQL here: {exc}")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def _migrated_store(url: str) -> Store:
    engine = make_engine(url)
    migrate.upgrade(engine)
    return Store(engine)


@pytest.fixture
def pgvector_store(pgvector_server: str) -> Iterator[Store]:
    """A migrated store in a fresh database on the pgvector server."""
    url = create_database(pgvector_server)
    store = _migrated_store(url)
    try:
        yield store
    finally:
        store.dispose()
        drop_database(pgvector_server, url)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database on the machine's PostgreSQL (no pgvector there)."""
    url = create_database(PG_ADMIN_URL)
    try:
        yield url
    finally:
        drop_database(PG_ADMIN_URL, url)


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    """A migrated store on ``pg_url``."""
    store = _migrated_store(pg_url)
    try:
        yield store
    finally:
        store.dispose()
