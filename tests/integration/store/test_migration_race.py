"""Concurrent `sonicmap db upgrade`: every role of a deployment migrates on start, possibly all at
once (compose without health conditions, `--scale`, Kubernetes). Three processes started together
on a fresh database must all succeed and leave the schema at head exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from sonicmap.store import migrate
from sonicmap.store.db import make_engine
from sonicmap.store.schema import Base

pytestmark = pytest.mark.integration

PROCESSES = 3
# Import everything first, then wait on stdin: the release puts the three upgrades in step.
_START = (
    "import sys; from sonicmap.cli import main; import sonicmap.store.migrate; "
    "sys.stdin.read(1); sys.argv[0] = 'sonicmap'; main()"
)


def _env(url: str, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
    env.update(SONICMAP_DATABASE_URL=url, SONICMAP_DATA_DIR=str(data))
    return env


def _upgrade_at_once(url: str, data: Path) -> list[tuple[int, str]]:
    """Start PROCESSES `sonicmap db upgrade` processes, let them import, then release them
    together (each waits for a byte on stdin before it runs the command)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _START, "db", "upgrade"],
            env=_env(url, data),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("x")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        results.append((p.returncode, out + err))
    return results


def _check_at_head_once(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            versions = c.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert versions == [migrate.head_revision()]
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert tables == set(Base.metadata.tables)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_three_upgrades_at_once_all_succeed(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    results = _upgrade_at_once(url, tmp_path / "data")
    for code, output in results:
        assert code == 0, output
        assert f"database at revision {migrate.head_revision()}" in output
    _check_at_head_once(url)
