"""Process settings, each read from the environment variable ``SONICMAP_<NAME>``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sonicmap.config.messages import describe_error, mask_url
from sonicmap.errors import ConfigError


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
        # raw strings, validated (and converted) by Settings like the environment's
        keys: dict[str, Any] = {
            k.removeprefix("SONICMAP_").lower(): v
            for k, v in env.items()
            if k.startswith("SONICMAP_")
        }
        return Settings(_env_file=None, **keys)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        name = "SONICMAP_" + field.upper() if field else "SONICMAP_*"
        got = shown_input(field, err.get("input"))
        raise ConfigError(name, f"{describe_error(err)}, got {got!r}") from None


def shown_input(field: str, value: Any) -> Any:
    """A rejected setting's value as an error may show it: a ``SecretStr`` setting (API key,
    tokens) never, not even in part; a URL with its password masked (see :func:`~sonicmap.config.messages.mask_url`)."""
    info = Settings.model_fields.get(field)
    if info is not None and "SecretStr" in str(info.annotation):
        return "********"
    return mask_url(value) if isinstance(value, str) else value
