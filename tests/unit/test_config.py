"""Configuration: every invalid value fails naming its key; defaults; `sonicmap config`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sonicmap.config import (
    GmmConfig,
    default_gmm_config_path,
    load_config,
    load_gmm_config,
    load_settings,
    parse_gmm_config,
)
from sonicmap.errors import ConfigError


def gmm(path: str, value: Any) -> dict[str, Any]:
    """``{"gmm_clustering": {...}}`` with ``value`` set at the dotted ``path`` below it."""
    doc: dict[str, Any] = {}
    node = doc.setdefault("gmm_clustering", {})
    *parents, leaf = path.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return doc


INVALID_GMM = [
    # (path below gmm_clustering, value, key named in the message, words of the expectation)
    ("periodic.cleanup.keep_count", -1, "gmm_clustering.periodic.cleanup.keep_count", ">= 1"),
    (
        "periodic.stability_check.drift_threshold",
        -0.1,
        "gmm_clustering.periodic.stability_check.drift_threshold",
        ">= 0",
    ),
    (
        "periodic.stability_check.drift_threshold",
        1.5,
        "gmm_clustering.periodic.stability_check.drift_threshold",
        "<= 1",
    ),
    ("auto_queue.min_artists", "many", "gmm_clustering.auto_queue.min_artists", "an integer"),
    (
        "auto_queue.min_change_percent",
        150,
        "gmm_clustering.auto_queue.min_change_percent",
        "<= 100",
    ),
    (
        "auto_queue.priority",
        "urgent",
        "gmm_clustering.auto_queue.priority",
        "'low', 'normal', 'high'",
    ),
    ("auto_queue.colour", "blue", "gmm_clustering.auto_queue.colour", "unknown key"),
    (
        "periodic.gmm_refresh.day_of_week",
        "funday",
        "gmm_clustering.periodic.gmm_refresh.day_of_week",
        "day name",
    ),
    (
        "periodic.gmm_refresh.day_of_week",
        3,
        "gmm_clustering.periodic.gmm_refresh.day_of_week",
        "day name",
    ),
    (
        "periodic.gmm_refresh.minute",
        3.5,
        "gmm_clustering.periodic.gmm_refresh.minute",
        "an integer",
    ),
    ("periodic.stability_check.hour", 25, "gmm_clustering.periodic.stability_check.hour", "<= 23"),
    (
        "periodic.cleanup.schedule",
        "weekly",
        "gmm_clustering.periodic.cleanup.schedule",
        "'cron' or 'interval'",
    ),
    ("periodic.cleanup.every", "soon", "gmm_clustering.periodic.cleanup.every", "duration"),
    ("retry.max_retries", -2, "gmm_clustering.retry.max_retries", ">= 0"),
    ("retry.enabled", "maybe", "gmm_clustering.retry.enabled", "true or false"),
    ("periodic", "weekly", "gmm_clustering.periodic", "mapping"),
]


@pytest.mark.parametrize(
    ("path", "value", "key", "expected"),
    INVALID_GMM,
    ids=[c[0] + "=" + repr(c[1]) for c in INVALID_GMM],
)
def test_invalid_gmm_value_names_key_value_and_expectation(
    path: str, value: Any, key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_gmm_config(gmm(path, value))
    assert info.value.key == key
    message = str(info.value)
    assert message.startswith(key + ":")
    assert expected in message
    assert repr(value) in message  # the bad value is quoted back


def test_interval_without_every_names_the_schedule() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^gmm_clustering\.periodic\.cleanup: schedule 'interval' needs an 'every'",
    ):
        parse_gmm_config(gmm("periodic.cleanup", {"schedule": "interval"}))


def test_unknown_top_level_key_and_non_mapping_document() -> None:
    with pytest.raises(ConfigError, match=r"^gmm_clusterin: unknown key"):
        parse_gmm_config({"gmm_clusterin": {}})
    with pytest.raises(ConfigError, match="must hold a mapping"):
        parse_gmm_config([1, 2])


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("SONICMAP_TIMEZONE", "Mars/Olympus", "IANA time zone"),
        ("SONICMAP_LOG_LEVEL", "LOUD", "DEBUG, INFO"),
        ("SONICMAP_DATABASE_URL", "mysql://u@h/db", "sqlite:/// or postgresql://"),
        ("SONICMAP_JOBS", "0", ">= 1"),
        ("SONICMAP_JOBS", "many", "an integer"),
        ("SONICMAP_MAX_ANALYSIS_SECONDS", "-1", "> 0"),
        ("SONICMAP_API_PROTECT_READS", "perhaps", "true or false"),
    ],
)
def test_invalid_environment_names_the_variable(var: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({var: value})
    assert info.value.key == var
    assert expected in str(info.value) and repr(value) in str(info.value)


def test_gmm_config_file_errors_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^SONICMAP_GMM_CONFIG: no such file"):
        load_gmm_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("gmm_clustering: {auto_queue: [\n")
    with pytest.raises(ConfigError, match=r"^SONICMAP_GMM_CONFIG: .*not valid YAML"):
        load_gmm_config(broken)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(gmm("periodic.cleanup.keep_count", 0)))
    with pytest.raises(
        ConfigError,
        match=r"^gmm_clustering\.periodic\.cleanup\.keep_count: expected a number >= 1, got 0",
    ):
        load_config({"SONICMAP_GMM_CONFIG": str(bad)})


def test_interval_schedule_with_every_is_accepted() -> None:
    cfg = parse_gmm_config(gmm("periodic.gmm_refresh", {"schedule": "interval", "every": "6h"}))
    refresh = cfg.gmm_clustering.periodic.gmm_refresh
    assert refresh.schedule == "interval" and refresh.every == timedelta(hours=6)
    cfg = parse_gmm_config(gmm("periodic.cleanup", {"schedule": "interval", "every": 90}))
    assert cfg.gmm_clustering.periodic.cleanup.every == timedelta(seconds=90)
    days = parse_gmm_config(gmm("periodic.cleanup.day_of_week", "Monday, fri"))
    assert days.gmm_clustering.periodic.cleanup.day_of_week == "mon,fri"


def test_shipped_gmm_config_equals_builtin_defaults() -> None:
    path = default_gmm_config_path()
    assert path.name == "gmm_config.yaml" and path.is_file()
    raw = yaml.safe_load(path.read_text())
    assert load_gmm_config(path) == GmmConfig()
    # exactly the documented structure: every section and key of the shipped file is spelled out
    sections = raw["gmm_clustering"]
    assert set(sections) == {"auto_queue", "periodic", "retry"}
    assert set(sections["periodic"]) == {"gmm_refresh", "stability_check", "cleanup"}
    assert sections["periodic"]["cleanup"]["keep_count"] == 3
    assert sections["auto_queue"]["priority"] == "high"


def test_embedded_defaults(clean_env: Path) -> None:
    cfg = load_config()
    s = cfg.settings
    assert s.embedded and s.broker_url is None
    assert s.effective_database_url == f"sqlite:///{clean_env / 'sonicmap.db'}"
    assert s.library_roots == []
    roots = load_settings({"SONICMAP_LIBRARY_ROOTS": "/music/a:/music/b"}).library_roots
    assert [str(p) for p in roots] == ["/music/a", "/music/b"]


# -- sonicmap config -------------------------------------------------------------------------


def run_cli(args: list[str], env: dict[str, str]) -> Any:
    from sonicmap.cli import _common, app

    _common.set_config(None)
    return CliRunner().invoke(app, args, env=env)


def test_config_json_prints_one_document_with_secrets_masked(clean_env: Path) -> None:
    env = {
        "SONICMAP_API_KEY": "s3cret-key",
        "SONICMAP_DATABASE_URL": "postgresql://sonic:hunter2@db.example:5432/sonicmap",
        "SONICMAP_BROKER_URL": "redis://:brokerpw@127.0.0.1:6379/0",
        "SONICMAP_TIMEZONE": "Europe/Berlin",
    }
    res = run_cli(["config", "--json"], env)
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)  # exactly one JSON document
    for secret in ("s3cret-key", "hunter2", "brokerpw"):
        assert secret not in res.stdout
    settings = data["settings"]
    assert settings["api_key"] == "********"
    assert settings["database_url"] == "postgresql://sonic:********@db.example:5432/sonicmap"
    assert settings["mode"] == "service" and settings["timezone"] == "Europe/Berlin"
    assert data["gmm_config"] == GmmConfig().model_dump(mode="json")


def test_config_fails_naming_the_key(clean_env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "gmm.yaml"
    bad.write_text(yaml.safe_dump(gmm("periodic.stability_check.drift_threshold", -0.5)))
    res = run_cli(["config", "--json"], {"SONICMAP_GMM_CONFIG": str(bad)})
    assert res.exit_code != 0
    assert res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        "error: gmm_clustering.periodic.stability_check.drift_threshold: expected a number >= 0.0, got -0.5"
    ]
    res = run_cli(["config"], {"SONICMAP_TIMEZONE": "Nowhere/City"})
    assert res.exit_code != 0 and res.stderr.startswith("error: SONICMAP_TIMEZONE: ")


def test_passwords_holding_at_signs_are_masked_whole(clean_env: Path) -> None:
    env = {
        "SONICMAP_DATABASE_URL": "postgresql://sonic:p@ss@wd@db.example:5432/sonicmap",
        "SONICMAP_BROKER_URL": "redis://:br@ker/pw@127.0.0.1:6379/0",
    }
    res = run_cli(["config", "--json"], env)
    assert res.exit_code == 0, res.stderr
    for part in ("p@ss", "ss@wd", "wd@db", "br@ker", "ker/pw"):
        assert part not in res.stdout
    settings = json.loads(res.stdout)["settings"]
    assert settings["database_url"] == "postgresql://sonic:********@db.example:5432/sonicmap"
    assert settings["broker_url"] == "redis://:********@127.0.0.1:6379/0"
    assert settings["effective_database_url"] == settings["database_url"]


def test_a_rejected_setting_never_echoes_its_secret(clean_env: Path) -> None:
    res = run_cli(["config"], {"SONICMAP_DATABASE_URL": "mysql://sonic:hunter@2@db/x"})
    assert res.exit_code != 0
    assert "hunter" not in res.stderr and "@2" not in res.stderr
    assert res.stderr.strip() == (
        "error: SONICMAP_DATABASE_URL: expected a URL starting with sqlite:/// or postgresql://, "
        "got 'mysql://sonic:********@db/x'"
    )


def test_a_secret_setting_is_never_shown_when_rejected() -> None:
    from sonicmap.config.settings import shown_input

    assert shown_input("api_key", "s3cret") == "********"
    assert shown_input("broker_url", "redis://:p@w@h:1/0") == "redis://:********@h:1/0"
    assert shown_input("jobs", "many") == "many"
