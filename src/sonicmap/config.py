"""Settings (environment ``SONICMAP_*``) and the ``gmm_config.yaml`` schema.

Configuration is loaded and validated once, at the edge (CLI start-up, worker start-up, API
start-up), and passed down as typed objects. Core code never reads the environment.

Every validation failure becomes a :class:`~sonicmap.errors.ConfigError` whose message names the
key path (``gmm_clustering.periodic.cleanup.keep_count`` or ``SONICMAP_TIMEZONE``), the bad value
and what is expected.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from platformdirs import user_data_dir
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sonicmap.errors import ConfigError

# --------------------------------------------------------------------------------------------
# gmm_config.yaml
# --------------------------------------------------------------------------------------------

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = {
    **{d: d for d in DAY_NAMES},
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
PRIORITY_NAMES = {"low": 1, "normal": 5, "high": 9}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """Parse ``"30s"``, ``"15m"``, ``"6h"``, ``"7d"``, ``"1w"`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '30s', '15m', '6h' or '7d'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION_RE.match(str(value))
        if not m:
            raise ValueError("expected a duration such as '30s', '15m', '6h' or '7d'")
        seconds = float(m.group(1)) * _DURATION_UNITS[(m.group(2) or "s").lower()]
    if seconds <= 0:
        raise ValueError("expected a positive duration")
    return timedelta(seconds=seconds)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class AutoQueueConfig(_Strict):
    enabled: bool = True
    min_artists: int = Field(50, ge=2)
    min_tracks: int = Field(500, ge=0)
    min_change_percent: float = Field(20, ge=0, le=100)
    batch_size: int = Field(500, ge=1)
    max_components: int = Field(10, ge=2, le=100)
    priority: int | Literal["low", "normal", "high"] = "high"

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, v: Any) -> int | str:
        if isinstance(v, str) and v.strip().lower() in PRIORITY_NAMES:
            return v.strip().lower()
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 9:
            return v
        raise ValueError("expected 'low', 'normal', 'high' or an integer 0..9")

    @property
    def priority_value(self) -> int:
        """Priority on the 0 (lowest) .. 9 (highest) scale used by the worker."""
        return PRIORITY_NAMES[self.priority] if isinstance(self.priority, str) else self.priority


class _Schedule(_Strict):
    enabled: bool = True
    schedule: Literal["cron", "interval"] = "cron"
    day_of_week: str = "sun"
    hour: int = Field(3, ge=0, le=23)
    minute: int = Field(0, ge=0, le=59)
    every: timedelta | None = None

    @field_validator("day_of_week", mode="before")
    @classmethod
    def _day(cls, v: Any) -> str:
        if not isinstance(v, str):
            raise ValueError("expected a day name (mon, tue, ..., sun)")
        parts = [p.strip().lower() for p in v.split(",")]
        out = []
        for p in parts:
            if p in ("*", "any", "daily"):
                out.append("*")
            elif p in _DAY_ALIASES:
                out.append(_DAY_ALIASES[p])
            else:
                raise ValueError("expected a day name (mon, tue, ..., sun) or a comma list of them")
        return ",".join(out)

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, v: Any) -> timedelta | None:
        return None if v is None else parse_duration(v)

    @model_validator(mode="after")
    def _interval_needs_every(self) -> _Schedule:
        if self.schedule == "interval" and self.every is None:
            raise ValueError("schedule 'interval' needs an 'every' duration such as '6h' or '7d'")
        return self


class GmmRefreshConfig(_Schedule):
    day_of_week: str = "sun"
    hour: int = Field(3, ge=0, le=23)
    minute: int = Field(0, ge=0, le=59)
    min_tracks_since_last: int = Field(100, ge=0)
    days_since_last: float = Field(7, ge=0)


class StabilityCheckConfig(_Schedule):
    day_of_week: str = "wed"
    hour: int = Field(2, ge=0, le=23)
    minute: int = Field(0, ge=0, le=59)
    min_tracks_changed: int = Field(50, ge=0)
    drift_threshold: float = Field(0.15, ge=0, le=1)


class CleanupConfig(_Schedule):
    day_of_week: str = "mon"
    hour: int = Field(1, ge=0, le=23)
    minute: int = Field(0, ge=0, le=59)
    keep_count: int = Field(3, ge=1)
    max_age_days: float = Field(30, ge=0)


class PeriodicConfig(_Strict):
    gmm_refresh: GmmRefreshConfig = GmmRefreshConfig()
    stability_check: StabilityCheckConfig = StabilityCheckConfig()
    cleanup: CleanupConfig = CleanupConfig()


class RetryConfig(_Strict):
    enabled: bool = True
    max_retries: int = Field(3, ge=0, le=20)
    backoff: bool = True


class GmmClusteringConfig(_Strict):
    auto_queue: AutoQueueConfig = AutoQueueConfig()
    periodic: PeriodicConfig = PeriodicConfig()
    retry: RetryConfig = RetryConfig()


class GmmConfig(_Strict):
    """The whole of ``gmm_config.yaml``."""

    gmm_clustering: GmmClusteringConfig = GmmClusteringConfig()


def _describe(err: dict[str, Any]) -> str:
    typ = err.get("type", "")
    msg = err.get("msg", "invalid value")
    ctx = err.get("ctx") or {}
    if typ == "extra_forbidden":
        return "unknown key (check the spelling; see config/gmm_config.yaml for the known keys)"
    if typ in ("int_parsing", "int_type", "int_from_float"):
        return "expected an integer"
    if typ in ("float_parsing", "float_type"):
        return "expected a number"
    if typ in ("bool_parsing", "bool_type"):
        return "expected true or false"
    if typ == "greater_than":
        return f"expected a number > {ctx.get('gt')}"
    if typ == "greater_than_equal":
        return f"expected a number >= {ctx.get('ge')}"
    if typ == "less_than_equal":
        return f"expected a number <= {ctx.get('le')}"
    if typ == "literal_error":
        return f"expected one of {ctx.get('expected')}"
    if typ in ("model_type", "dict_type"):
        return "expected a mapping of keys to values"
    return msg.removeprefix("Value error, ")


def _format_validation_error(exc: ValidationError, prefix: str = "") -> ConfigError:
    errors = exc.errors()
    # Prefer the most specific message when a union produced several.
    err = errors[0]
    loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "literal["))]
    loc = [p for p in loc if p not in ("int", "str", "constrained-int")]
    key = ".".join(([prefix] if prefix else []) + loc) or prefix or "<root>"
    got = err.get("input")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return ConfigError(key, f"{_describe(err)}, got {got!r}{more}")


def parse_gmm_config(data: Any, *, source: str = "gmm_config.yaml") -> GmmConfig:
    """Validate a parsed YAML document into :class:`GmmConfig`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            "<root>", f"{source} must hold a mapping with 'gmm_clustering', got {data!r}"
        )
    try:
        return GmmConfig.model_validate(data)
    except ValidationError as exc:
        raise _format_validation_error(exc) from None


def default_gmm_config_path() -> Path:
    """The shipped ``config/gmm_config.yaml`` (source checkout) or its packaged copy."""
    here = Path(__file__).resolve()
    for candidate in (
        here.parents[2] / "config" / "gmm_config.yaml",
        here.parent / "_data" / "gmm_config.yaml",
    ):
        if candidate.is_file():
            return candidate
    return here.parents[2] / "config" / "gmm_config.yaml"


def load_gmm_config(path: Path | str | None = None) -> GmmConfig:
    """Read and validate ``gmm_config.yaml``. A missing default file means built-in defaults."""
    explicit = path is not None
    p = Path(path) if path is not None else default_gmm_config_path()
    if not p.is_file():
        if explicit:
            raise ConfigError(
                "SONICMAP_GMM_CONFIG",
                f"no such file: {str(p)!r}; expected the path of a gmm_config.yaml",
            )
        return GmmConfig()
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError("SONICMAP_GMM_CONFIG", f"{p} is not valid YAML: {exc}") from None
    return parse_gmm_config(data, source=str(p))


# --------------------------------------------------------------------------------------------
# Settings from the environment
# --------------------------------------------------------------------------------------------


def local_timezone_name() -> str:
    """The host's local IANA zone name (``TZ``, ``/etc/timezone``, ``/etc/localtime``), else UTC."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        try:
            ZoneInfo(tz)
            return tz
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        name = Path("/etc/timezone").read_text().strip()
        ZoneInfo(name)
        return name
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            name = target.split("zoneinfo/", 1)[1]
            ZoneInfo(name)
            return name
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    return "UTC"


def _default_data_dir() -> Path:
    return Path(user_data_dir("sonicmap", appauthor=False))


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    """Process settings, each read from ``SONICMAP_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="SONICMAP_", extra="ignore", frozen=True, validate_default=True
    )

    database_url: str | None = Field(
        None, description="SQLAlchemy URL. Default: SQLite file sonicmap.db in the data dir."
    )
    broker_url: str | None = Field(
        None, description="Celery broker URL (redis://..., amqp://...). Unset = embedded mode."
    )
    result_backend: str | None = Field(
        None, description="Celery result backend. Default: the broker URL when it is Redis."
    )
    library_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="':'-separated music folders; scans stay inside them."
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the SQLite file and the demo library live. Default: the user data folder.",
    )
    api_key: SecretStr | None = Field(
        None,
        description="Key for mutating API endpoints (Bearer or X-API-Key). Unset = they answer 403.",
    )
    api_protect_reads: bool = Field(
        False, description="Also require the API key for GET endpoints."
    )
    api_max_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Largest request body the API reads (bytes); a larger one answers 413.",
    )
    gmm_config: Path | None = Field(
        None, description="Path of gmm_config.yaml. Default: the shipped config/gmm_config.yaml."
    )
    timezone: str = Field(
        default_factory=local_timezone_name,
        description="IANA zone in which schedules such as 'sun 03:00' are read. Default: the host's.",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL.")
    jobs: int | None = Field(
        None, ge=1, le=256, description="Analysis worker processes for scans. Default: CPU cores."
    )
    max_analysis_seconds: float = Field(
        1800.0,
        gt=0,
        description="Cap on analysed audio per file (long DJ mixes); recorded when applied.",
    )

    compat_server: str | None = Field(
        None,
        description="Music server whose song ids the plugin-compatible /api/... routes speak "
        "by default. Default: the only configured server.",
    )
    compat_tokens: SecretStr | None = Field(
        None,
        description="SERVER=TOKEN pairs (comma-separated): a plugin sending "
        "'Authorization: Bearer TOKEN' gets answers in SERVER's song ids.",
    )
    compat_open: bool = Field(
        False,
        description="Leave the read-only plugin routes open to callers without a token "
        "(Ampache sends none); answers use the default server's ids.",
    )
    compat_allow_from: str | None = Field(
        None,
        description="With SONICMAP_COMPAT_OPEN: comma-separated addresses or networks "
        "allowed to call without a token. Default: any.",
    )

    analysis_timeout_s: float | None = Field(
        None,
        gt=0,
        description="Seconds one file's analysis may take before its process is killed (twice: "
        "recorded failed). Default: 60 s + 0.5 s per second of audio analysed.",
    )

    @field_validator("library_roots", mode="before")
    @classmethod
    def _split_roots(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [Path(p).expanduser() for p in v.split(":") if p.strip()]
        return v

    @field_validator("data_dir", "gmm_config", mode="after")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "expected an IANA time zone such as 'Europe/Berlin' or 'UTC'"
            ) from None
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        up = v.strip().upper()
        if up not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return up

    @field_validator("database_url", "broker_url", "result_backend", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", v):
            raise ValueError("expected a URL starting with sqlite:/// or postgresql://")
        return v

    # -- derived -------------------------------------------------------------------------

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: the CLI runs everything in-process."""
        return self.broker_url is None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'sonicmap.db'}"

    @property
    def effective_result_backend(self) -> str | None:
        if self.result_backend:
            return self.result_backend
        if self.broker_url and self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def default_jobs(self) -> int:
        return self.jobs or max(1, os.cpu_count() or 1)


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default: ``os.environ``); errors name the variable."""
    try:
        if env is None:
            return Settings()
        keys = {
            k.removeprefix("SONICMAP_").lower(): v
            for k, v in env.items()
            if k.startswith("SONICMAP_")
        }
        return Settings(_env_file=None, **keys)  # type: ignore[call-arg]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        name = "SONICMAP_" + field.upper() if field else "SONICMAP_*"
        got = _shown_input(field, err.get("input"))
        raise ConfigError(name, f"{_describe(err)}, got {got!r}") from None


class AppConfig(BaseModel):
    """Settings plus the GMM configuration: what every entry point loads once."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    settings: Settings
    gmm: GmmConfig

    @cached_property
    def gmm_clustering(self) -> GmmClusteringConfig:
        return self.gmm.gmm_clustering


def load_config(env: dict[str, str] | None = None) -> AppConfig:
    """Load and validate everything; raises :class:`ConfigError` naming the offending key."""
    settings = load_settings(env)
    gmm = load_gmm_config(settings.gmm_config)
    return AppConfig(settings=settings, gmm=gmm)


def masked_dict(cfg: AppConfig) -> dict[str, Any]:
    """Effective configuration as plain JSON-able data, secrets masked."""
    s = cfg.settings
    settings = s.model_dump(mode="json")
    settings["api_key"] = "********" if s.api_key else None
    settings["compat_tokens"] = "********" if s.compat_tokens else None
    for key in ("database_url", "broker_url", "result_backend"):
        if settings.get(key):
            settings[key] = _mask_url(settings[key])
    settings["effective_database_url"] = _mask_url(s.effective_database_url)
    settings["mode"] = "embedded" if s.embedded else "service"
    return {"settings": settings, "gmm_config": cfg.gmm.model_dump(mode="json")}


def _shown_input(field: str, value: Any) -> Any:
    """A rejected setting's value as an error may show it: a ``SecretStr`` setting (API key,
    tokens) never, not even in part; a URL with its password masked (see :func:`_mask_url`)."""
    info = Settings.model_fields.get(field)
    if info is not None and "SecretStr" in str(info.annotation):
        return "********"
    return _mask_url(value) if isinstance(value, str) else value


def _mask_url(url: str) -> str:
    """``scheme://user:password@host...`` with the password masked. The password runs to the
    last ``@`` (passwords may hold ``@`` unescaped): a later ``@`` in the path or query masks more
    than needed, never less."""
    return re.sub(r"(://[^:/@]*:).*@", r"\1********@", url)
