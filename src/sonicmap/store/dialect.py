"""Which database an engine or URL is, and the SQLite transaction option (no other imports
from the store, so both :mod:`.db` and :mod:`.migrate` use it without importing each other)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

# Execution option: a SQLite transaction begun with it takes the write lock at once (BEGIN
# IMMEDIATE) instead of on its first write, so two such transactions queue (busy timeout) rather
# than one failing with "database is locked" when both read first and then write.
SQLITE_BEGIN_IMMEDIATE = "sonicmap_sqlite_begin_immediate"


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"
