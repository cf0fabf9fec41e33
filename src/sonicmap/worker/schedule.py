"""The Celery beat schedule, built by a pure function from ``gmm_config.yaml``.

Entries (names fixed; each disabled entry is simply absent):

============================ ============================ ========= ============
entry                        task                         priority  default
============================ ============================ ========= ============
``periodic-gmm-refresh``     ``periodic_gmm_refresh``     5         Sun 03:00
``check-cluster-stability``  ``check_cluster_stability``  3         Wed 02:00
``cleanup-old-models``       ``cleanup_old_models``       1         Mon 01:00
============================ ============================ ========= ============

Cron entries are read in ``Settings.timezone`` (beat runs with ``app.conf.timezone`` set to it,
so a DST change moves the UTC time, never the wall-clock time). Each entry's message ``expires``
just under its period (90 %), so runs missed while no worker was up do not pile up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab, schedule

from sonicmap.config import DAY_NAMES, GmmConfig
from sonicmap.config.gmm_config import _Schedule as ScheduleConfig
from sonicmap.worker.priorities import (
    PRIORITY_CLEANUP,
    PRIORITY_REFRESH,
    PRIORITY_STABILITY,
    QUEUE_MAINTENANCE,
    broker_priority,
)

ENTRIES = (
    # entry name, config attribute, task name, plan priority
    ("periodic-gmm-refresh", "gmm_refresh", "periodic_gmm_refresh", PRIORITY_REFRESH),
    ("check-cluster-stability", "stability_check", "check_cluster_stability", PRIORITY_STABILITY),
    ("cleanup-old-models", "cleanup", "cleanup_old_models", PRIORITY_CLEANUP),
)

EXPIRES_FRACTION = 0.9


def period_of(sc: ScheduleConfig) -> timedelta:
    """Shortest gap between two runs of ``sc``: ``every``, or the day gap of a cron entry."""
    if sc.schedule == "interval":
        assert sc.every is not None
        return sc.every
    days = sc.day_of_week.split(",")
    if "*" in days:
        return timedelta(days=1)
    idx = sorted({DAY_NAMES.index(d) for d in days})
    gaps = [(idx[(i + 1) % len(idx)] - idx[i]) % 7 or 7 for i in range(len(idx))]
    return timedelta(days=min(gaps))


def celery_schedule_of(sc: ScheduleConfig, tz: str, *, nowfun: Any = None) -> crontab | schedule:
    """A Celery schedule object: ``crontab`` in zone ``tz`` or a plain interval."""
    if sc.schedule == "interval":
        assert sc.every is not None
        return schedule(run_every=sc.every, nowfun=nowfun)
    cron = crontab(minute=sc.minute, hour=sc.hour, day_of_week=sc.day_of_week, nowfun=nowfun)
    cron.tz = ZoneInfo(tz)
    return cron


def build_beat_schedule(
    gmm: GmmConfig, *, broker_url: str, tz: str, nowfun: Any = None
) -> dict[str, dict[str, Any]]:
    """``app.conf.beat_schedule`` for ``gmm`` (pure).

    Each value: ``task``, ``schedule`` (crontab or interval), ``options`` with the ``queue``, the
    broker ``priority`` (see :func:`~sonicmap.worker.app.broker_priority`) and ``expires``
    (seconds, 90 % of the period).
    """
    periodic = gmm.gmm_clustering.periodic
    out: dict[str, dict[str, Any]] = {}
    for name, attr, task, prio in ENTRIES:
        sc: ScheduleConfig = getattr(periodic, attr)
        if not sc.enabled:
            continue
        out[name] = {
            "task": task,
            "schedule": celery_schedule_of(sc, tz, nowfun=nowfun),
            "options": {
                "queue": QUEUE_MAINTENANCE,
                "priority": broker_priority(prio, broker_url),
                "expires": round(period_of(sc).total_seconds() * EXPIRES_FRACTION, 3),
            },
        }
    return out


def next_run_after(sched: crontab | schedule, last_run_at: datetime) -> datetime:
    """When ``sched`` is next due (UTC), given its last run, as beat itself computes it.

    ``remaining_estimate`` is a real (elapsed) duration measured from the schedule's ``now()``
    (its ``nowfun``, a fixed clock in tests); it is added in UTC, because adding a timedelta to a
    zone-aware datetime would do wall-clock arithmetic and be an hour off across a DST change.
    """
    now: datetime = sched.now()
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    remaining: timedelta = sched.remaining_estimate(last_run_at)
    return now.astimezone(UTC) + remaining
