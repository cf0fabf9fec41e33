"""Training, activation, stable ids, assignment, drift and cleanup on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from gmmdb import add_artists, make_cfg, remove_artists
from sqlalchemy import func, select

from sonicmap.clustering.synthetic import correlated_mixture
from sonicmap.errors import ConflictError, NotEnoughDataError
from sonicmap.pipeline import clustering as pc
from sonicmap.store.schema import ArtistCluster, DriftCheck, GmmModel, GmmModelArray

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _count(store, model_id: int) -> int:
    with store.session() as s:
        return s.scalar(
            select(func.count())
            .select_from(ArtistCluster)
            .where(ArtistCluster.model_id == model_id)
        )


def _assign_map(store, model_id: int) -> dict[int, int]:
    with store.session() as s:
        rows = s.execute(
            select(ArtistCluster.artist_id, ArtistCluster.cluster_id).where(
                ArtistCluster.model_id == model_id
            )
        ).all()
    return dict(rows)


def test_train_activates_with_assignments_and_listings(store, cfg) -> None:
    X, y = correlated_mixture(300, 4, seed=1)
    ids = add_artists(store, X)
    res = pc.train(store, cfg, now=T0)
    assert res.status == "active" and res.k == 4
    mid = res.model_id
    assert _count(store, mid) == 300
    models = pc.list_models(store)
    assert [m["status"] for m in models] == ["active"]
    assert models[0]["trigger"] == "manual" and models[0]["n_artists"] == 300
    clusters = pc.list_clusters(store)
    assert sorted(c["size"] for c in clusters) == sorted(np.bincount(y).tolist())
    assert all(len(c["artists"]) == 5 and c["label"] for c in clusters)
    one = pc.cluster_detail(store, clusters[0]["id"], limit=3)
    assert one["members_total"] == clusters[0]["size"] and len(one["members"]) == 3
    ac = pc.artist_cluster(store, ids[0])
    assert ac is not None and len(ac["probabilities"]) == 4
    assert abs(sum(p["probability"] for p in ac["probabilities"]) - 1) < 1e-4
    # The stored model predicts what was stored.
    model, _ = pc.load_model(store, mid)
    stored = _assign_map(store, mid)
    comp_to_id = {c["id"] for c in clusters}
    assert set(stored.values()) == comp_to_id
    # Nothing changed: a non-forced retrain is skipped.
    assert pc.train(store, cfg, now=T0 + timedelta(days=1)).status == "skipped"


def test_too_few_artists_is_refused_without_a_model(store) -> None:
    X, _ = correlated_mixture(15, 2, seed=0)
    add_artists(store, X)
    with pytest.raises(NotEnoughDataError, match="at least 20"):
        pc.train(store, make_cfg(min_artists=20), force=True)
    assert pc.list_models(store) == []


def test_retrain_with_another_seed_keeps_every_cluster_id(store, cfg) -> None:
    X, _ = correlated_mixture(400, 5, seed=2)
    add_artists(store, X)
    a = pc.train(store, cfg, now=T0, seed=0)
    b = pc.train(store, cfg, now=T0 + timedelta(hours=1), seed=1, force=True)
    assert {c.id for c in a.clusters} == {c.id for c in b.clusters}
    ma, mb = _assign_map(store, a.model_id), _assign_map(store, b.model_id)
    same = np.mean([ma[k] == mb[k] for k in ma])
    assert same >= 0.98
    statuses = {m["id"]: m["status"] for m in pc.list_models(store)}
    assert statuses == {a.model_id: "archived", b.model_id: "active"}


def test_new_style_gets_new_cluster_id_never_reused(store, cfg) -> None:
    X, _ = correlated_mixture(300, 3, seed=4)
    add_artists(store, X)
    a = pc.train(store, cfg, now=T0)
    extra, _ = correlated_mixture(100, 1, seed=9)
    add_artists(store, extra + 10.0, start=1000)
    b = pc.train(store, cfg, now=T0 + timedelta(hours=1))
    old = {c.id for c in a.clusters}
    new = {c.id for c in b.clusters}
    assert old <= new and max(new) > max(old)


def test_rollback_delete_and_assign_new_artists(store, cfg) -> None:
    X, _ = correlated_mixture(300, 3, seed=5)
    add_artists(store, X)
    a = pc.train(store, cfg, now=T0).model_id
    b = pc.train(store, cfg, now=T0 + timedelta(hours=1), force=True, seed=3).model_id
    with pytest.raises(ConflictError, match="active model"):
        pc.delete_model(store, b)
    pc.activate_model(store, a)
    status = {m["id"]: m["status"] for m in pc.list_models(store)}
    assert status == {a: "active", b: "archived"}
    with store.session() as s:
        flags = s.execute(select(GmmModel.id).where(GmmModel.active_flag.is_(True))).all()
    assert flags == [(a,)]
    # New artists get an assignment from the active model without retraining.
    new, _ = correlated_mixture(12, 3, seed=5)
    new_ids = add_artists(store, new, start=500)
    assert pc.assign_new_artists(store) == {"model_id": a, "assigned": 12}
    assert set(new_ids) <= set(_assign_map(store, a))
    # Every artist of the model has a map position, the late ones placed among the others.
    with store.session() as s:
        xy = dict(
            s.execute(
                select(ArtistCluster.artist_id, ArtistCluster.map_x).where(
                    ArtistCluster.model_id == a
                )
            ).all()
        )
    assert len(xy) == 312 and all(x is not None and -1 <= x <= 1 for x in xy.values())
    assert pc.assign_new_artists(store)["assigned"] == 0
    assert len(pc.list_models(store)) == 2
    # Deleting the archived model deletes its assignments and arrays.
    out = pc.delete_model(store, b)
    assert out["deleted_assignments"] == 300
    assert _count(store, b) == 0
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(GmmModelArray).where(
            GmmModelArray.model_id == b)) == 0  # fmt: skip


def test_drift_unchanged_vs_30_percent_new_style(store, cfg) -> None:
    X, _ = correlated_mixture(400, 4, seed=6)
    ids = add_artists(store, X)
    pc.train(store, cfg, now=T0)
    quiet = pc.check_stability(store, cfg, now=T0 + timedelta(days=1))
    assert quiet.drift <= 0.02 and quiet.decision == "stable"
    n = int(0.3 * len(ids))
    remove_artists(store, ids[:n])
    style, _ = correlated_mixture(n, 1, seed=77)
    add_artists(store, style + 8.0, start=10_000)
    loud = pc.check_stability(store, cfg, now=T0 + timedelta(days=2))
    assert loud.drift > 0.15 and loud.decision == "drifted" and loud.exceeded
    assert loud.inputs["n_new"] == n and loud.inputs["n_removed"] == n
    pc.record_decision(store, loud.check_id, "reclustering_queued")
    with store.session() as s:
        rows = s.execute(
            select(DriftCheck.drift, DriftCheck.decision).order_by(DriftCheck.id)
        ).all()
    assert [r[1] for r in rows] == ["stable", "reclustering_queued"]


def test_cleanup_deletes_old_models_and_their_assignments(store) -> None:
    cfg = make_cfg(keep_count=2, max_age_days=30)
    X, _ = correlated_mixture(200, 3, seed=8)
    add_artists(store, X)
    made = [
        pc.train(store, cfg, now=T0 + timedelta(days=d), force=True, n_components=3).model_id
        for d in (0, 1, 2, 3)
    ]
    pc.activate_model(store, made[0])  # an old model is active (rollback)
    res = pc.cleanup_models(store, cfg, now=T0 + timedelta(days=4))
    # keep_count=2 keeps the two newest (made[3], made[2]); the active one always survives.
    assert list(res.models_removed) == [made[1]] and res.deleted_count == 1
    assert _count(store, made[1]) == 0 and _count(store, made[0]) == 200
    res = pc.cleanup_models(store, cfg, now=T0 + timedelta(days=40))
    assert sorted(res.models_removed) == [made[2], made[3]]
    assert [m["id"] for m in pc.list_models(store)] == [made[0]]
