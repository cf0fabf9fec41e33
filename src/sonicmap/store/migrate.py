"""Schema migrations (Alembic, driven programmatically: no alembic.ini needed).

``sonicmap db upgrade`` calls :func:`upgrade`; every other entry point calls :func:`check_schema`
and refuses to run on an unmigrated database or one migrated by newer code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, func, select

from sonicmap.errors import SchemaVersionError
from sonicmap.store.dialect import SQLITE_BEGIN_IMMEDIATE, is_sqlite

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# pg_advisory_xact_lock key held while migrating: "sonicmap" in ASCII, a 64-bit key outside the
# 32-bit range of the other advisory locks (hashtext() names, the model switch).
MIGRATION_LOCK = int.from_bytes(b"sonicmap", "big")


def _config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if engine is not None:
        # configparser interpolates '%': escape it (URL-encoded socket paths, passwords).
        url = engine.url.render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    return {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _serialised(engine: Engine) -> Iterator[Connection]:
    """One transaction for the whole migration, exclusive across processes: on PostgreSQL an
    advisory lock held until commit, on SQLite the write lock taken at BEGIN. Alembic reads the
    current revision only once it holds the lock, so every role of a deployment may run
    `sonicmap db upgrade` at once: the first migrates, the others wait and find the schema at
    the target."""
    if is_sqlite(engine):
        with engine.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True}).begin() as conn:
            yield conn
        return
    with engine.begin() as conn:
        conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        yield conn


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = _config(engine)
    with _serialised(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    cfg = _config(engine)
    with _serialised(engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaVersionError` unless the database is exactly at this code's head."""
    rev = current_revision(engine)
    head = head_revision()
    if rev == head:
        return
    url = engine.url.render_as_string(hide_password=True)
    if rev is None:
        raise SchemaVersionError(
            f"the database {url} is not initialised; run `sonicmap db upgrade` first"
        )
    if rev not in known_revisions():
        raise SchemaVersionError(
            f"the database {url} is at schema revision {rev!r}, newer than this sonicmap "
            f"(which knows up to {head!r}); upgrade sonicmap"
        )
    raise SchemaVersionError(
        f"the database {url} is at schema revision {rev!r}, older than {head!r}; "
        "run `sonicmap db upgrade`"
    )
