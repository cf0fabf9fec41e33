"""pgvector: create the ``vector`` extension on PostgreSQL when the server offers it

The vector index (``sonicmap.store.vectors``) uses pgvector when the database has the extension
and its in-memory numpy backend otherwise; it only reads which one it is (never runs DDL on a
read). A server without pgvector, or a role that may not create the extension, keeps the numpy
backend: the migration logs it and goes on. SQLite: nothing to do.

Revision ID: 0004_pgvector
Revises: 0003_artist_map
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0004_pgvector"
down_revision = "0003_artist_map"
branch_labels = None
depends_on = None

log = logging.getLogger("sonicmap.store.migrations")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    offered = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).first()
    if offered is None:
        log.info("pgvector is not installed on this server; the numpy vector index will be used")
        return
    try:
        with bind.begin_nested():  # a refusal must not abort the migration's transaction
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError as exc:
        first = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        log.warning("could not create the pgvector extension (%s); using the numpy index", first)


def downgrade() -> None:
    # The extension may serve other users of the database (and dropping it would drop the
    # derived vec_* tables with it); it stays.
    pass
