"""Engine and session factory for SQLite (sqlean + sqlite-vec) and PostgreSQL (psycopg 3).

SQLite goes through ``sqlean`` (a sqlite3-compatible module that allows loading extensions, which
some CPython builds disable) so that sqlite-vec always loads; it runs in WAL mode with foreign keys
on and a busy timeout so that a CLI scan and a reader can share the file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from sonicmap.store.dialect import SQLITE_BEGIN_IMMEDIATE, is_sqlite

if TYPE_CHECKING:
    from sonicmap.store.vectors import VectorIndex

log = logging.getLogger(__name__)


def normalise_url(url: str) -> str:
    """``postgresql://`` → ``postgresql+psycopg://`` (psycopg 3); SQLite URLs unchanged."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    import sqlite_vec

    dbapi_conn.enable_load_extension(True)
    sqlite_vec.load(dbapi_conn)
    dbapi_conn.enable_load_extension(False)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; for SQLite also create the folder of the file and load sqlite-vec."""
    url = normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        import sqlean

        if u.database and u.database != ":memory:":
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, module=sqlean, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)

        # pysqlite's default transaction handling defers BEGIN; emit it ourselves so that
        # SAVEPOINT and transactional DDL behave as on PostgreSQL.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _r: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get(SQLITE_BEGIN_IMMEDIATE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any exception."""
    with factory() as session, session.begin():
        yield session


class Store:
    """An open database: engine + session factory. Shared by pipeline, CLI, worker and API."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: plain sessions (reads: the API's request sessions)
        self.sessions = session_factory(engine)
        # :meth:`session` transactions write: on SQLite they take the write lock when they
        # begin (BEGIN IMMEDIATE), so one that reads first and writes later never fails with
        # "database is locked" because another process committed in between; they queue
        # behind other writers (busy timeout) instead.
        self._write_sessions = (
            session_factory(engine.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True}))
            if is_sqlite(engine)
            else self.sessions
        )
        #: open vector indexes by backend name (:func:`sonicmap.store.vectors.open_index`)
        self.vector_indexes: dict[str, VectorIndex] = {}
        self.vector_lock = threading.Lock()

    @property
    def vectors(self) -> VectorIndex:
        """The vector index of this store (backend ``auto``)."""
        from sonicmap.store.vectors import open_index

        return open_index(self)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.engine)

    def session(self) -> Any:
        """Context manager: one transaction, committed on success, rolled back on error (on
        SQLite it holds the write lock from its start, see ``__init__``)."""
        return session_scope(self._write_sessions)

    def read_session(self) -> Any:
        """Context manager: one transaction that only reads (on SQLite a deferred ``BEGIN``: it
        never waits for a writer's lock, and sees the last committed state under WAL)."""
        return session_scope(self.sessions)

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(
    url: str, *, check: bool = True, init_if_new: bool = True, **engine_kwargs: Any
) -> Store:
    """Open the database at ``url``.

    ``check``: refuse (``SchemaVersionError``) unless the schema is at this code's head.
    ``init_if_new``: a SQLite file that does not exist yet is created and migrated, so the
    embedded default works on a fresh machine; any existing database is never migrated implicitly.
    """
    from sonicmap.store import migrate

    u = make_url(normalise_url(url))
    new_sqlite = (
        u.get_backend_name() == "sqlite"
        and bool(u.database)
        and u.database != ":memory:"
        and not Path(str(u.database)).expanduser().exists()
    )
    engine = make_engine(url, **engine_kwargs)
    if new_sqlite and init_if_new:
        log.info("creating database path=%s", u.database)
        migrate.upgrade(engine)
    if check:
        migrate.check_schema(engine)
    return Store(engine)
