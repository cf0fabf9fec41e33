"""Settings (environment ``SONICMAP_*``) and the ``gmm_config.yaml`` schema.

Configuration is loaded and validated once, at the edge (CLI start-up, worker start-up, API
start-up), and passed down as typed objects. Core code never reads the environment.

Every validation failure becomes a :class:`~sonicmap.errors.ConfigError` whose message names the
key path (``gmm_clustering.periodic.cleanup.keep_count`` or ``SONICMAP_TIMEZONE``), the bad value
and what is expected.

The package's modules, one job each: :mod:`~sonicmap.config.settings` (the environment),
:mod:`~sonicmap.config.gmm_config` (the YAML file), :mod:`~sonicmap.config.app` (both together,
and their masked display), :mod:`~sonicmap.config.messages` (error messages, URL masking).
Every public name is importable from ``sonicmap.config``.
"""

from sonicmap.config.app import AppConfig, load_config, masked_dict
from sonicmap.config.gmm_config import (
    DAY_NAMES,
    PRIORITY_NAMES,
    AutoQueueConfig,
    CleanupConfig,
    GmmClusteringConfig,
    GmmConfig,
    GmmRefreshConfig,
    PeriodicConfig,
    RetryConfig,
    StabilityCheckConfig,
    default_gmm_config_path,
    load_gmm_config,
    parse_duration,
    parse_gmm_config,
)
from sonicmap.config.settings import LOG_LEVELS, Settings, load_settings, local_timezone_name

__all__ = [
    "DAY_NAMES",
    "LOG_LEVELS",
    "PRIORITY_NAMES",
    "AppConfig",
    "AutoQueueConfig",
    "CleanupConfig",
    "GmmClusteringConfig",
    "GmmConfig",
    "GmmRefreshConfig",
    "PeriodicConfig",
    "RetryConfig",
    "Settings",
    "StabilityCheckConfig",
    "default_gmm_config_path",
    "load_config",
    "load_gmm_config",
    "load_settings",
    "local_timezone_name",
    "masked_dict",
    "parse_duration",
    "parse_gmm_config",
]
