"""Pure decision functions of the maintenance policy (config/gmm_config.yaml).

Every function here is a pure function of plain data: library statistics gathered by
:mod:`sonicmap.pipeline.maintenance`, the validated configuration sections of
:mod:`sonicmap.config`, and an explicit ``now``. No database, no broker, no clock. The worker
tasks, the embedded-mode scan hook and the API all call these, so one rule has one home.

Interpretations of the rules (also in ``docs/periodic-tasks.md``):

* *changed tracks* = tracks added or re-analysed (``tracks.updated_at``) after the active
  model's ``created_at``, plus tracks removed since (when the store can count them).
* auto-queue: ``changed / n_tracks * 100 >= min_change_percent`` (``>=``; an empty library never
  qualifies because ``min_tracks``/``min_artists`` are checked first).
* periodic refresh: ``changed >= min_tracks_since_last`` (with ``min_tracks_since_last = 0``
  meaning "any change at all", never "always"), or ``days since the active model's creation >=
  days_since_last`` and ``changed >= 1``. With no active model it trains when the library meets
  the auto-queue minimums (``min_artists``, ``min_tracks``) — even when auto-queue itself is
  disabled, because the periodic refresh is its own switch.
* stability: no active model → skipped; ``changed < min_tracks_changed`` → skipped; otherwise
  drift is computed and ``drift > drift_threshold`` (strictly above) queues a forced retrain.
* cleanup: see :func:`models_to_delete`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sonicmap.config import (
    AutoQueueConfig,
    CleanupConfig,
    GmmClusteringConfig,
    StabilityCheckConfig,
)

__all__ = [
    "Decision",
    "LibraryStats",
    "ModelRecord",
    "as_utc",
    "models_to_delete",
    "should_auto_queue",
    "should_check_stability",
    "should_refresh",
    "stability_decision",
]


@dataclass(frozen=True)
class Decision:
    """Outcome of a policy rule.

    ``run`` says whether to act; ``reason`` is a short machine-readable slug (``below_min_artists``,
    ``no_active_model``, ``enough_changes``, ...) that the tasks copy into their results as the
    ``reason`` of a ``skipped`` status; ``details`` holds the numbers the decision used.
    """

    run: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.run


@dataclass(frozen=True)
class LibraryStats:
    """What the maintenance rules need to know about the library and the active model.

    n_artists : artists with an embedding (the ones a GMM can be trained on).
    n_tracks : analysed tracks.
    has_active_model : whether a model is active.
    tracks_changed : tracks added, re-analysed or removed since the active model was trained
        (equals ``n_tracks`` when there is no active model).
    last_trained_at : ``created_at`` of the active model (UTC) or ``None``.
    """

    n_artists: int
    n_tracks: int
    has_active_model: bool
    tracks_changed: int
    last_trained_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_artists": self.n_artists,
            "n_tracks": self.n_tracks,
            "has_active_model": self.has_active_model,
            "tracks_changed": self.tracks_changed,
            "last_trained_at": self.last_trained_at.isoformat() if self.last_trained_at else None,
        }


@dataclass(frozen=True)
class ModelRecord:
    """Minimal model record for :func:`models_to_delete` (any object with these fields works)."""

    id: int
    status: str
    created_at: datetime


def as_utc(t: datetime) -> datetime:
    """Aware UTC datetime; a naive value (SQLite returns those) is taken to be UTC already."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _field(rec: Any, name: str) -> Any:
    if isinstance(rec, Mapping):
        return rec[name]
    return getattr(rec, name)


# --------------------------------------------------------------------------------------------
# auto-queue after a completed scan
# --------------------------------------------------------------------------------------------


def _meets_minimums(stats: LibraryStats, cfg: AutoQueueConfig) -> Decision | None:
    """``None`` when the library is big enough to train on, else the skip decision."""
    details = {"n_artists": stats.n_artists, "n_tracks": stats.n_tracks}
    if stats.n_artists < cfg.min_artists:
        return Decision(False, "below_min_artists", {**details, "min_artists": cfg.min_artists})
    if stats.n_tracks < cfg.min_tracks:
        return Decision(False, "below_min_tracks", {**details, "min_tracks": cfg.min_tracks})
    return None


def change_percent(stats: LibraryStats) -> float:
    """Changed tracks as a percentage of the library (0 for an empty library)."""
    if stats.n_tracks <= 0:
        return 0.0
    return 100.0 * stats.tracks_changed / stats.n_tracks


def should_auto_queue(stats: LibraryStats, cfg: AutoQueueConfig) -> Decision:
    """Whether a completed scan should queue a training (reason ``auto_queue``).

    Rule: enabled, and ``n_artists >= min_artists`` and ``n_tracks >= min_tracks``, and either
    no active model or ``tracks_changed / n_tracks >= min_change_percent %``.
    """
    if not cfg.enabled:
        return Decision(False, "auto_queue_disabled")
    small = _meets_minimums(stats, cfg)
    if small is not None:
        return small
    if not stats.has_active_model:
        return Decision(True, "no_active_model", stats.as_dict())
    pct = change_percent(stats)
    details = {
        **stats.as_dict(),
        "change_percent": round(pct, 3),
        "min_change_percent": cfg.min_change_percent,
    }
    if pct >= cfg.min_change_percent:
        return Decision(True, "enough_changes", details)
    return Decision(False, "below_min_change_percent", details)


# --------------------------------------------------------------------------------------------
# periodic refresh
# --------------------------------------------------------------------------------------------


def should_refresh(stats: LibraryStats, now: datetime, cfg: GmmClusteringConfig) -> Decision:
    """Whether the periodic refresh should queue a training (reason ``periodic_refresh``).

    ``cfg`` is the whole ``gmm_clustering`` section: the refresh thresholds live in
    ``periodic.gmm_refresh``, the "library big enough" minimums in ``auto_queue``.

    Rule: with no active model, train as soon as the library meets ``auto_queue.min_artists``
    and ``min_tracks``. Otherwise train when ``tracks_changed >= max(1, min_tracks_since_last)``,
    or when ``now - last_trained_at >= days_since_last`` days and ``tracks_changed >= 1``.
    """
    rcfg = cfg.periodic.gmm_refresh
    if not stats.has_active_model:
        small = _meets_minimums(stats, cfg.auto_queue)
        if small is not None:
            return small
        return Decision(True, "no_active_model", stats.as_dict())
    details: dict[str, Any] = {
        **stats.as_dict(),
        "min_tracks_since_last": rcfg.min_tracks_since_last,
        "days_since_last": rcfg.days_since_last,
    }
    if stats.tracks_changed <= 0:
        return Decision(False, "no_changes", details)
    if stats.tracks_changed >= max(1, rcfg.min_tracks_since_last):
        return Decision(True, "enough_changes", details)
    if stats.last_trained_at is not None:
        age = as_utc(now) - as_utc(stats.last_trained_at)
        details["days_since_training"] = round(age / timedelta(days=1), 4)
        if age >= timedelta(days=rcfg.days_since_last):
            return Decision(True, "model_old_and_library_changed", details)
    return Decision(False, "too_few_changes", details)


# --------------------------------------------------------------------------------------------
# stability check
# --------------------------------------------------------------------------------------------


def should_check_stability(stats: LibraryStats, cfg: StabilityCheckConfig) -> Decision:
    """Whether drift is worth computing at all (cheap gate before the drift computation)."""
    details = {**stats.as_dict(), "min_tracks_changed": cfg.min_tracks_changed}
    if not stats.has_active_model:
        return Decision(False, "no_active_model", details)
    if stats.tracks_changed < cfg.min_tracks_changed:
        return Decision(False, "too_few_changes", details)
    return Decision(True, "enough_changes", details)


def stability_decision(
    stats: LibraryStats, drift: float | None, cfg: StabilityCheckConfig
) -> Decision:
    """Whether to queue a forced retrain (reason ``drift``) given the measured drift.

    drift : float in [0, 1] or ``None`` when it was not computed (the gate said skip).
    ``run`` is True only when the gate passes and ``drift > drift_threshold`` (strictly).
    A NaN drift is treated as "cannot tell" and never triggers a retrain.
    """
    gate = should_check_stability(stats, cfg)
    if not gate.run:
        return gate
    if drift is None:
        return Decision(False, "drift_not_computed", gate.details)
    details = {**gate.details, "drift_score": drift, "drift_threshold": cfg.drift_threshold}
    if math.isnan(drift):
        return Decision(False, "drift_undefined", details)
    if drift > cfg.drift_threshold:
        return Decision(True, "drift_above_threshold", details)
    return Decision(False, "stable", details)


# --------------------------------------------------------------------------------------------
# cleanup
# --------------------------------------------------------------------------------------------


def models_to_delete(models: Iterable[Any], now: datetime, cfg: CleanupConfig) -> list[int]:
    """Ids of the models the cleanup deletes, ascending.

    models : records (objects or mappings) with ``id``, ``status`` and ``created_at``.

    Rule (issue 7): the active model is never deleted; any other model is deleted when it is
    beyond the ``keep_count`` newest **or** older than ``max_age_days``.

    Interpretations:

    * ``keep_count`` **counts the active model**: the newest ``keep_count`` models (by
      ``created_at``, ties broken by the higher id) are the window that survives the count rule,
      whether or not the active model is one of them; the active model survives regardless. So
      with ``keep_count = 3`` at most 3 models remain, or 4 when the active model is an old one
      (after a rollback).
    * A model in status ``training`` may be in progress: it neither takes a slot of the window
      nor is deleted by the count rule; it is deleted only by the age rule (a training older
      than ``max_age_days`` has certainly died).
    * ``max_age_days = 0`` disables the age rule (otherwise ``keep_count`` would be moot).
    * Ages use ``created_at``; naive timestamps are UTC.
    """
    now_utc = as_utc(now)
    recs = [
        (int(_field(m, "id")), str(_field(m, "status")), as_utc(_field(m, "created_at")))
        for m in models
    ]
    max_age = timedelta(days=cfg.max_age_days) if cfg.max_age_days > 0 else None
    finished = sorted(
        (r for r in recs if r[1] != "training"), key=lambda r: (r[2], r[0]), reverse=True
    )
    window = {r[0] for r in finished[: cfg.keep_count]}
    out: list[int] = []
    for mid, status, created in recs:
        if status == "active":
            continue
        too_old = max_age is not None and now_utc - created > max_age
        beyond = status != "training" and mid not in window
        if too_old or beyond:
            out.append(mid)
    return sorted(out)
