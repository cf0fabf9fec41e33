"""Table tests of the pure maintenance policy (sonicmap.policy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sonicmap.config import (
    AutoQueueConfig,
    CleanupConfig,
    GmmClusteringConfig,
    GmmRefreshConfig,
    PeriodicConfig,
    StabilityCheckConfig,
)
from sonicmap.policy import (
    LibraryStats,
    ModelRecord,
    models_to_delete,
    should_auto_queue,
    should_refresh,
    stability_decision,
)

NOW = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)


def days_ago(d: float) -> datetime:
    return NOW - timedelta(days=d)


# --------------------------------------------------------------------------------------------
# models_to_delete
# --------------------------------------------------------------------------------------------

CLEANUP = CleanupConfig(keep_count=3, max_age_days=30)


def M(mid: int, status: str, age_days: float) -> ModelRecord:
    return ModelRecord(id=mid, status=status, created_at=days_ago(age_days))


@pytest.mark.parametrize(
    ("models", "cfg", "expected"),
    [
        pytest.param([], CLEANUP, [], id="no models"),
        pytest.param([M(1, "active", 1)], CLEANUP, [], id="only active"),
        pytest.param([M(1, "active", 400)], CLEANUP, [], id="active very old is kept"),
        pytest.param(
            [M(1, "archived", 4), M(2, "archived", 3), M(3, "archived", 2), M(4, "active", 1)],
            CLEANUP,
            [1],
            id="beyond count: active counts in the window",
        ),
        pytest.param(
            [M(1, "active", 10), M(2, "archived", 4), M(3, "archived", 3), M(4, "archived", 2)],
            CLEANUP,
            [],
            id="active old and beyond count is kept; 3 newest kept",
        ),
        pytest.param(
            [
                M(1, "active", 10),
                M(2, "archived", 5),
                M(3, "archived", 4),
                M(4, "archived", 3),
                M(5, "archived", 2),
            ],
            CLEANUP,
            [2],
            id="active beyond count: the window is still the 3 newest",
        ),
        pytest.param(
            [M(1, "archived", 31), M(2, "active", 1)],
            CLEANUP,
            [1],
            id="older than max_age within count",
        ),
        pytest.param(
            [M(1, "archived", 29.9), M(2, "active", 1)],
            CLEANUP,
            [],
            id="just younger than max_age",
        ),
        pytest.param(
            [M(1, "archived", 30), M(2, "active", 1)],
            CLEANUP,
            [],
            id="exactly max_age is not older",
        ),
        pytest.param(
            [M(1, "failed", 1), M(2, "failed", 2), M(3, "archived", 3), M(4, "active", 4)],
            CLEANUP,
            [],
            id="failed models take slots; active 4th newest kept",
        ),
        pytest.param(
            [
                M(1, "failed", 1),
                M(2, "failed", 2),
                M(3, "archived", 3),
                M(4, "archived", 4),
                M(5, "active", 5),
            ],
            CLEANUP,
            [4],
            id="archived beyond count deleted",
        ),
        pytest.param(
            [M(1, "training", 0.01), M(2, "archived", 3), M(3, "archived", 2), M(4, "active", 1)],
            CLEANUP,
            [],
            id="fresh training neither takes a slot nor is deleted",
        ),
        pytest.param(
            [M(1, "training", 45), M(2, "active", 1)],
            CLEANUP,
            [1],
            id="stale training deleted by age",
        ),
        pytest.param(
            [M(1, "archived", 100), M(2, "archived", 200), M(3, "active", 300)],
            CleanupConfig(keep_count=3, max_age_days=0),
            [],
            id="max_age_days 0 disables the age rule",
        ),
        pytest.param(
            [M(1, "archived", 1), M(2, "archived", 2), M(3, "active", 3)],
            CleanupConfig(keep_count=1, max_age_days=0),
            [2],
            id="keep_count 1: only the newest and the active survive",
        ),
        pytest.param(
            [M(i, "archived", i) for i in range(1, 8)] + [M(8, "active", 0.5)],
            CLEANUP,
            [3, 4, 5, 6, 7],
            id="many archived",
        ),
    ],
)
def test_models_to_delete(models, cfg, expected):
    assert models_to_delete(models, NOW, cfg) == expected


def test_models_to_delete_ties_break_on_id_and_accepts_mappings():
    t = days_ago(1)
    models = [
        {"id": 1, "status": "archived", "created_at": t},
        {"id": 2, "status": "archived", "created_at": t},
        {"id": 3, "status": "active", "created_at": t},
    ]
    assert models_to_delete(models, NOW, CleanupConfig(keep_count=2, max_age_days=30)) == [1]


def test_models_to_delete_naive_timestamps_are_utc():
    naive_old = (NOW - timedelta(days=31)).replace(tzinfo=None)
    models = [ModelRecord(1, "archived", naive_old), ModelRecord(2, "active", NOW)]
    assert models_to_delete(models, NOW, CLEANUP) == [1]


# --------------------------------------------------------------------------------------------
# should_auto_queue
# --------------------------------------------------------------------------------------------

AQ = AutoQueueConfig(min_artists=5, min_tracks=20, min_change_percent=20)


def S(artists=10, tracks=100, active=True, changed=0, last=None) -> LibraryStats:
    return LibraryStats(artists, tracks, active, changed, last)


@pytest.mark.parametrize(
    ("stats", "cfg", "run", "reason"),
    [
        (S(active=False, changed=100), AQ, True, "no_active_model"),
        (S(artists=4, active=False), AQ, False, "below_min_artists"),
        (S(tracks=19, active=False), AQ, False, "below_min_tracks"),
        (S(artists=5, tracks=20, active=False), AQ, True, "no_active_model"),
        (S(changed=19), AQ, False, "below_min_change_percent"),
        (S(changed=20), AQ, True, "enough_changes"),
        (S(changed=100), AQ, True, "enough_changes"),
        (S(artists=0, tracks=0, active=False), AQ, False, "below_min_artists"),
        (S(active=False), AutoQueueConfig(enabled=False), False, "auto_queue_disabled"),
        (
            S(changed=0),
            AutoQueueConfig(min_artists=5, min_tracks=0, min_change_percent=0),
            True,
            "enough_changes",
        ),
    ],
)
def test_should_auto_queue(stats, cfg, run, reason):
    d = should_auto_queue(stats, cfg)
    assert (d.run, d.reason) == (run, reason)
    assert bool(d) is run


# --------------------------------------------------------------------------------------------
# should_refresh
# --------------------------------------------------------------------------------------------

GC = GmmClusteringConfig(
    auto_queue=AQ,
    periodic=PeriodicConfig(
        gmm_refresh=GmmRefreshConfig(min_tracks_since_last=10, days_since_last=7)
    ),
)


@pytest.mark.parametrize(
    ("stats", "run", "reason"),
    [
        (S(active=False, changed=100), True, "no_active_model"),
        (S(artists=2, active=False), False, "below_min_artists"),
        (S(tracks=5, active=False), False, "below_min_tracks"),
        (S(changed=0, last=days_ago(100)), False, "no_changes"),
        (S(changed=10, last=days_ago(1)), True, "enough_changes"),
        (S(changed=9, last=days_ago(1)), False, "too_few_changes"),
        (S(changed=1, last=days_ago(7)), True, "model_old_and_library_changed"),
        (S(changed=1, last=days_ago(6.9)), False, "too_few_changes"),
    ],
)
def test_should_refresh(stats, run, reason):
    d = should_refresh(stats, NOW, GC)
    assert (d.run, d.reason) == (run, reason)


def test_refresh_with_no_model_ignores_auto_queue_switch():
    cfg = GC.model_copy(update={"auto_queue": AQ.model_copy(update={"enabled": False})})
    assert should_refresh(S(active=False), NOW, cfg).run


def test_refresh_min_tracks_zero_means_any_change():
    cfg = GmmClusteringConfig(
        periodic=PeriodicConfig(gmm_refresh=GmmRefreshConfig(min_tracks_since_last=0))
    )
    assert not should_refresh(S(changed=0, last=days_ago(1)), NOW, cfg).run
    assert should_refresh(S(changed=1, last=days_ago(1)), NOW, cfg).run


# --------------------------------------------------------------------------------------------
# stability_decision
# --------------------------------------------------------------------------------------------

ST = StabilityCheckConfig(min_tracks_changed=10, drift_threshold=0.15)


@pytest.mark.parametrize(
    ("stats", "drift", "run", "reason"),
    [
        (S(active=False, changed=100), 0.9, False, "no_active_model"),
        (S(changed=9), 0.9, False, "too_few_changes"),
        (S(changed=10), None, False, "drift_not_computed"),
        (S(changed=10), 0.15, False, "stable"),
        (S(changed=10), 0.02, False, "stable"),
        (S(changed=10), 0.151, True, "drift_above_threshold"),
        (S(changed=10), float("nan"), False, "drift_undefined"),
    ],
)
def test_stability_decision(stats, drift, run, reason):
    d = stability_decision(stats, drift, ST)
    assert (d.run, d.reason) == (run, reason)
    if reason in ("stable", "drift_above_threshold"):
        assert d.details["drift_score"] == drift
