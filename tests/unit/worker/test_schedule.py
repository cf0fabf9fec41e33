"""The beat schedule built from gmm_config.yaml, and its due times across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab, schedule

from sonicmap.config import parse_gmm_config
from sonicmap.worker.schedule import build_beat_schedule, next_run_after, period_of

REDIS = "redis://127.0.0.1:6379/0"
BERLIN = ZoneInfo("Europe/Berlin")


def test_default_schedule_equals_config():
    beat = build_beat_schedule(parse_gmm_config({}), broker_url=REDIS, tz="Europe/Berlin")
    assert set(beat) == {"periodic-gmm-refresh", "check-cluster-stability", "cleanup-old-models"}
    expected = {
        "periodic-gmm-refresh": ("periodic_gmm_refresh", {0}, {3}, {0}, 5),
        "check-cluster-stability": ("check_cluster_stability", {3}, {2}, {0}, 3),
        "cleanup-old-models": ("cleanup_old_models", {1}, {1}, {0}, 1),
    }
    for name, (task, dow, hour, minute, plan_prio) in expected.items():
        e = beat[name]
        assert e["task"] == task
        s = e["schedule"]
        assert isinstance(s, crontab)
        assert s.day_of_week == dow and s.hour == hour and s.minute == minute
        assert str(s.tz) == "Europe/Berlin"
        assert e["options"]["priority"] == 9 - plan_prio  # Redis numbering
        assert e["options"]["queue"] == "maintenance"
        week = 7 * 86400
        assert 0.8 * week < e["options"]["expires"] < week


def test_custom_config_disabled_and_interval():
    gmm = parse_gmm_config(
        {
            "gmm_clustering": {
                "periodic": {
                    "gmm_refresh": {"schedule": "interval", "every": "2s"},
                    "stability_check": {"enabled": False},
                    "cleanup": {"day_of_week": "mon,thu", "hour": 4, "minute": 30},
                }
            }
        }
    )
    beat = build_beat_schedule(gmm, broker_url="amqp://h//", tz="UTC")
    assert set(beat) == {"periodic-gmm-refresh", "cleanup-old-models"}
    refresh = beat["periodic-gmm-refresh"]
    assert isinstance(refresh["schedule"], schedule)
    assert refresh["schedule"].run_every == timedelta(seconds=2)
    assert refresh["options"]["expires"] == pytest.approx(1.8)
    assert refresh["options"]["priority"] == 5  # RabbitMQ numbering
    cleanup = beat["cleanup-old-models"]
    assert cleanup["schedule"].day_of_week == {1, 4}
    assert cleanup["schedule"].hour == {4} and cleanup["schedule"].minute == {30}
    # mon -> thu is 3 days, thu -> mon 4: the shortest gap bounds expires
    assert cleanup["options"]["expires"] == pytest.approx(0.9 * 3 * 86400)


def test_period_of_daily():
    gmm = parse_gmm_config({"gmm_clustering": {"periodic": {"cleanup": {"day_of_week": "*"}}}})
    assert period_of(gmm.gmm_clustering.periodic.cleanup) == timedelta(days=1)


def _entry(name: str, now: datetime):
    beat = build_beat_schedule(
        parse_gmm_config({}), broker_url=REDIS, tz="Europe/Berlin", nowfun=lambda: now
    )
    return beat[name]["schedule"]


@pytest.mark.parametrize(
    ("name", "last_local", "now_local", "due_utc"),
    [
        # Spring forward: Sunday 29 March 2026, 02:00 CET -> 03:00 CEST.
        pytest.param(
            "periodic-gmm-refresh",
            datetime(2026, 3, 22, 3, 0),
            datetime(2026, 3, 28, 12, 0),
            datetime(2026, 3, 29, 1, 0),  # 03:00 CEST; the week before was 02:00 UTC
            id="refresh-sun-03:00-spring",
        ),
        pytest.param(
            "cleanup-old-models",
            datetime(2026, 3, 23, 1, 0),
            datetime(2026, 3, 29, 12, 0),
            datetime(2026, 3, 29, 23, 0),  # Monday 30 March 01:00 CEST
            id="cleanup-mon-01:00-after-spring",
        ),
        pytest.param(
            "check-cluster-stability",
            datetime(2026, 3, 25, 2, 0),
            datetime(2026, 3, 28, 12, 0),
            datetime(2026, 4, 1, 0, 0),  # Wed 1 April 02:00 CEST
            id="stability-wed-02:00-across-spring",
        ),
        # Fall back: Sunday 25 October 2026, 03:00 CEST -> 02:00 CET.
        pytest.param(
            "periodic-gmm-refresh",
            datetime(2026, 10, 18, 3, 0),
            datetime(2026, 10, 24, 12, 0),
            datetime(2026, 10, 25, 2, 0),  # 03:00 CET; the week before was 01:00 UTC
            id="refresh-sun-03:00-autumn",
        ),
        pytest.param(
            "periodic-gmm-refresh",
            datetime(2026, 10, 18, 3, 0),
            datetime(2026, 10, 25, 2, 30),  # in the repeated hour (first pass, CEST)
            datetime(2026, 10, 25, 2, 0),
            id="refresh-from-inside-repeated-hour",
        ),
        pytest.param(
            "cleanup-old-models",
            datetime(2026, 10, 19, 1, 0),
            datetime(2026, 10, 25, 12, 0),
            datetime(2026, 10, 26, 0, 0),  # Monday 26 Oct 01:00 CET
            id="cleanup-mon-01:00-after-autumn",
        ),
    ],
)
def test_due_times_across_dst(name, last_local, now_local, due_utc):
    now = now_local.replace(tzinfo=BERLIN)
    sched = _entry(name, now)
    due = next_run_after(sched, last_local.replace(tzinfo=BERLIN))
    assert due == due_utc.replace(tzinfo=UTC)
    # and beat agrees: not due one minute before, due at that instant
    s_before = _entry(name, due - timedelta(minutes=1))
    assert not s_before.is_due(last_local.replace(tzinfo=BERLIN))[0]
    s_at = _entry(name, due)
    assert s_at.is_due(last_local.replace(tzinfo=BERLIN))[0]
