"""The ``gmm_config.yaml`` schema (auto-queue, periodic tasks, retries), its parsing and
loading."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sonicmap.config.messages import format_validation_error
from sonicmap.errors import ConfigError

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
        raise format_validation_error(exc) from None


def default_gmm_config_path() -> Path:
    """The shipped ``config/gmm_config.yaml`` (source checkout) or its packaged copy."""
    package = Path(__file__).resolve().parents[1]  # src/sonicmap (or the installed sonicmap)
    for candidate in (
        package.parents[1] / "config" / "gmm_config.yaml",
        package / "_data" / "gmm_config.yaml",
    ):
        if candidate.is_file():
            return candidate
    return package.parents[1] / "config" / "gmm_config.yaml"


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
