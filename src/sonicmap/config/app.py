"""What every entry point loads once: the settings plus the GMM configuration, and their
effective values as shown by ``sonicmap config`` (secrets masked)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict

from sonicmap.config.gmm_config import GmmClusteringConfig, GmmConfig, load_gmm_config
from sonicmap.config.messages import mask_url
from sonicmap.config.settings import Settings, load_settings


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
            settings[key] = mask_url(settings[key])
    settings["effective_database_url"] = mask_url(s.effective_database_url)
    settings["mode"] = "embedded" if s.embedded else "service"
    return {"settings": settings, "gmm_config": cfg.gmm.model_dump(mode="json")}
