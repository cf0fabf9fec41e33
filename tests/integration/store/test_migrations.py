"""Migrations: the same schema on SQLite and PostgreSQL, round trips, refusal of wrong revisions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from typer.testing import CliRunner

from sonicmap.errors import SchemaVersionError
from sonicmap.store import migrate
from sonicmap.store.db import make_engine, open_store
from sonicmap.store.schema import Base

pytestmark = pytest.mark.integration


def snapshot(engine: Engine) -> dict[str, Any]:
    """Tables → columns (generic type, length, nullability), primary key, unique sets, indexes,
    foreign keys; normalised so that SQLite and PostgreSQL reflections compare equal."""
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        if table == "alembic_version":
            continue
        cols = {
            c["name"]: (
                c["type"]._type_affinity.__name__,
                getattr(c["type"], "length", None),
                bool(c["nullable"]),
            )
            for c in insp.get_columns(table)
        }
        uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints(table)}
        indexes = set()
        for ix in insp.get_indexes(table):
            if ix.get("unique"):
                uniques.add(tuple(ix["column_names"]))
            else:
                indexes.add((ix["name"], tuple(ix["column_names"])))
        fks = {
            (
                tuple(fk["constrained_columns"]),
                fk["referred_table"],
                tuple(fk["referred_columns"]),
                (fk.get("options") or {}).get("ondelete"),
            )
            for fk in insp.get_foreign_keys(table)
        }
        out[table] = {
            "columns": cols,
            "pk": tuple(insp.get_pk_constraint(table)["constrained_columns"]),
            "unique": sorted(uniques),
            "indexes": sorted(indexes),
            "fks": sorted(fks, key=repr),
        }
    return out


@pytest.fixture
def engines(tmp_path: Path, pg_url: str) -> Iterator[dict[str, Engine]]:
    found = {
        "sqlite": make_engine(f"sqlite:///{tmp_path / 'm.db'}"),
        "postgresql": make_engine(pg_url),
    }
    yield found
    for e in found.values():
        e.dispose()


def test_upgrade_from_empty_gives_the_same_schema_on_both(engines: dict[str, Engine]) -> None:
    snaps = {}
    for name, engine in engines.items():
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        snaps[name] = snapshot(engine)
    assert snaps["sqlite"] == snaps["postgresql"]
    # and the migrations build exactly what the models declare
    assert set(snaps["sqlite"]) == set(Base.metadata.tables)
    for table in ("tracks", "track_embeddings", "gmm_models", "artist_clusters", "scan_sessions"):
        assert table in snaps["sqlite"]
    assert snaps["sqlite"]["track_embeddings"]["columns"]["vector"][0] == "_Binary"


@pytest.mark.parametrize("which", ["sqlite", "postgresql"])
def test_downgrade_upgrade_round_trip(engines: dict[str, Engine], which: str) -> None:
    engine = engines[which]
    migrate.upgrade(engine)
    before = snapshot(engine)
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert snapshot(engine) == {}
    migrate.upgrade(engine)
    assert snapshot(engine) == before


@pytest.mark.parametrize("which", ["sqlite", "postgresql"])
def test_check_schema_refuses_unmigrated_and_newer(engines: dict[str, Engine], which: str) -> None:
    engine = engines[which]
    url = engine.url.render_as_string(hide_password=False)
    with engine.begin() as c:  # make it "existing" (a SQLite file) but unmigrated
        c.execute(text("CREATE TABLE unrelated (x integer)"))
    with pytest.raises(SchemaVersionError, match=r"not initialised; run `sonicmap db upgrade`"):
        migrate.check_schema(engine)
    with pytest.raises(SchemaVersionError, match="not initialised"):
        open_store(url)
    migrate.upgrade(engine)
    migrate.check_schema(engine)
    open_store(url).dispose()
    with engine.begin() as c:  # as if a newer sonicmap had migrated this database
        c.execute(text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
    with pytest.raises(
        SchemaVersionError, match=r"'ffff_from_the_future', newer than this sonicmap"
    ):
        open_store(url)


def test_db_commands(pg_url: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sonicmap.cli import _common, app

    monkeypatch.setenv("SONICMAP_DATABASE_URL", pg_url)
    _common.set_config(None)
    runner = CliRunner()
    res = runner.invoke(app, ["db", "current", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data == {"current": None, "head": migrate.head_revision(), "up_to_date": False}
    res = runner.invoke(app, ["db", "upgrade"])
    assert res.exit_code == 0, res.output
    assert json.loads(runner.invoke(app, ["db", "current", "--json"]).stdout)["up_to_date"] is True
    res = runner.invoke(app, ["db", "downgrade", "base"])
    assert res.exit_code == 0
    assert json.loads(runner.invoke(app, ["db", "current", "--json"]).stdout)["current"] is None
