"""`sonicmap scan`, `sonicmap tracks`, `sonicmap demo` through the real CLI (embedded SQLite)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from scan_helpers import Library, cli_env, run_cli

from sonicmap.pipeline.demo import format_demo


def clean_env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
    env.update(SONICMAP_DATA_DIR=str(data), SONICMAP_LOG_LEVEL="WARNING", **extra)
    return env


@pytest.mark.slow
def test_scan_tracks_json_and_errors(small_library: Library, tmp_path: Path) -> None:
    lib = small_library
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    env = cli_env(lib.root, db)
    out = run_cli("scan", "--json", "--jobs", "1", env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)  # exactly one JSON document on stdout
    for key in (
        "added",
        "changed",
        "removed",
        "unchanged",
        "failed",
        "failures",
        "moved",
        "scan_id",
        "duration_s",
    ):
        assert key in doc
    assert doc["added"] == len(lib.good) and doc["failed"] == len(lib.bad)
    assert {f["path"] for f in doc["failures"]} == {str(p) for p in lib.bad}
    assert "processed" in out.stderr  # plain progress lines when not on a terminal

    listing = run_cli("tracks", "--json", "--status", "failed", "--limit", "0", env=env)
    rows = json.loads(listing.stdout)
    assert {r["path"] for r in rows} == {str(p) for p in lib.bad}
    assert all(r["status"] == "failed" and r["last_error"] for r in rows)
    table = run_cli("tracks", "--limit", "3", env=env)
    assert table.returncode == 0 and len(table.stdout.strip().splitlines()) == 3

    bad = run_cli("scan", str(lib.outside), env=env)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("error: path ")
    assert "outside the library roots" in bad.stderr
    wrong = run_cli("tracks", "--status", "nope", env=env)
    assert wrong.returncode != 0


@pytest.mark.slow
def test_demo_on_a_fresh_machine(tmp_path: Path) -> None:
    data = tmp_path / "fresh-data"
    env = clean_env(data)
    first = run_cli(
        "demo",
        "--artists",
        "10",
        "--tracks",
        "1",
        "--duration",
        "3",
        "--json",
        env=env,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    doc = json.loads(first.stdout)
    assert doc["generated"] is True and Path(doc["library"]) == data / "demo-library"
    assert doc["scan"]["added"] == 10 and doc["scan"]["failed"] == 0
    assert len({p.suffix for p in (data / "demo-library").rglob("*.*") if p.suffix != ".json"}) >= 4
    assert doc["training"].get("model_id") is not None, doc["training"]
    assert doc["settings_used"]["min_artists"] == 10
    assert isinstance(doc["clusters"], list) and doc["clusters"]
    assert doc["similar"] and all(isinstance(v, list) and v for v in doc["similar"].values())
    again = run_cli(
        "demo",
        "--artists",
        "10",
        "--tracks",
        "1",
        "--duration",
        "3",
        "--json",
        env=env,
        timeout=300,
    )
    doc2 = json.loads(again.stdout)
    assert (
        doc2["generated"] is False
        and doc2["scan"]["unchanged"] == 10
        and doc2["scan"]["added"] == 0
    )
    text = format_demo(doc2)  # what `sonicmap demo` prints without --json
    assert "similar artists:" in text and "clusters (" in text and "(demo only)" in text
