"""Schema migrations (Alembic, driven programmatically: no alembic.ini needed).

``sonicmap db upgrade`` calls :func:`upgrade`; every other entry point calls :func:`check_schema`
and refuses to run on an unmigrated database or one migrated by newer code.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from sonicmap.errors import SchemaVersionError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


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


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = _config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    cfg = _config(engine)
    with engine.begin() as conn:
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
