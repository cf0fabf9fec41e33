"""Alembic environment: runs against the connection handed in by sonicmap.store.migrate."""

from __future__ import annotations

from alembic import context

from sonicmap.store.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # pragma: no cover - sonicmap never runs offline migrations
    raise SystemExit("offline migrations are not supported; use `sonicmap db upgrade`")
run_migrations_online()
