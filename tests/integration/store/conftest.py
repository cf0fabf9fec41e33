"""Fixtures for storage integration tests.

``pgvector_server``: admin URL of the suite's PostgreSQL (``tests/testservices.py``: PostgreSQL 16
with pgvector from the ``pgserver`` wheel, started in a temp folder on a free loopback port), or of
the server ``SONICMAP_TEST_PG_URL`` names when that one has pgvector. ``pg_url``: a fresh database
on the suite's PostgreSQL, whatever its extensions.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from sonicmap.store import migrate
from sonicmap.store.db import Store, make_engine
from testservices import create_pg_database, drop_pg_database, pg_admin_url


@pytest.fixture(scope="session")
def pgvector_server() -> str:
    """Admin URL of a PostgreSQL that has the pgvector extension available."""
    url = pg_admin_url()
    eng = make_engine(url)
    with eng.connect() as c:
        ok = c.execute(text("select 1 from pg_available_extensions where name = 'vector'")).first()
    eng.dispose()
    if ok is None:
        pytest.skip(f"the test PostgreSQL has no pgvector ({url}); install the test extra")
    return url


def _migrated_store(url: str) -> Store:
    engine = make_engine(url)
    migrate.upgrade(engine)
    return Store(engine)


@pytest.fixture
def pgvector_store(pgvector_server: str) -> Iterator[Store]:
    """A migrated store in a fresh database on the pgvector server."""
    url = create_pg_database(pgvector_server)
    store = _migrated_store(url)
    try:
        yield store
    finally:
        store.dispose()
        drop_pg_database(url, pgvector_server)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database on the suite's PostgreSQL."""
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    """A migrated store on ``pg_url``."""
    store = _migrated_store(pg_url)
    try:
        yield store
    finally:
        store.dispose()
