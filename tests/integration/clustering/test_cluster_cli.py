"""``sonicmap cluster``, ``clusters`` and ``models`` end to end on a SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gmmdb import add_artists
from typer.testing import CliRunner

from sonicmap.cli import app
from sonicmap.clustering.synthetic import correlated_mixture
from sonicmap.store.db import open_store


@pytest.fixture
def cli_db(cli_state: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    conf = tmp_path / "gmm_config.yaml"
    conf.write_text("gmm_clustering:\n  auto_queue: {min_artists: 20, max_components: 6}\n")
    monkeypatch.setenv("SONICMAP_DATABASE_URL", url)
    monkeypatch.setenv("SONICMAP_GMM_CONFIG", str(conf))
    store = open_store(url)
    X, _ = correlated_mixture(200, 3, seed=3)
    add_artists(store, X)
    store.dispose()
    yield url


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_cluster_clusters_models_json(cli_db) -> None:
    res = run("cluster", "--json")
    assert res.exit_code == 0, res.output
    trained = json.loads(res.stdout)
    assert trained["status"] == "active" and trained["k"] == 3

    res = run("clusters", "--json")
    assert res.exit_code == 0, res.output
    clusters = json.loads(res.stdout)
    assert len(clusters) == 3
    assert all({"id", "label", "size", "artists"} <= set(c) for c in clusters)
    assert sum(c["size"] for c in clusters) == 200

    res = run("cluster", "--components", "4", "--force", "--json")
    assert res.exit_code == 0, res.output
    second = json.loads(res.stdout)["model_id"]

    res = run("models", "list", "--json")
    models = json.loads(res.stdout)
    assert [(m["id"], m["status"], m["k"]) for m in models] == [
        (second, "active", 4),
        (trained["model_id"], "archived", 3),
    ]
    assert all({"id", "status", "k", "created_at", "trigger"} <= set(m) for m in models)

    res = run("models", "delete", str(second))
    assert res.exit_code == 1 and "active model" in res.stderr
    assert run("models", "activate", str(trained["model_id"])).exit_code == 0
    res = run("models", "delete", str(second), "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["deleted_assignments"] == 200
    assert len(json.loads(run("models", "--json").stdout)) == 1


def test_cluster_refuses_too_few_artists(cli_state, monkeypatch, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'few.db'}"
    monkeypatch.setenv("SONICMAP_DATABASE_URL", url)
    res = run("cluster")
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines()[-1].startswith("error: 0 artists have vectors")
    assert "min_artists" in res.stderr
    assert run("clusters", "--json").stdout.strip() == "[]"
