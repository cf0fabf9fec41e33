"""The scan's auto-queue hook for the CLI: embedded mode or service mode, by the settings.

Embedded mode (no broker configured) syncs the music servers that ask for it and trains in this
process (:func:`sonicmap.pipeline.autoqueue.embedded_after_scan`, no Celery imported); service
mode queues ``sync_servers`` and ``train_gmm`` on the broker
(:func:`sonicmap.worker.tasks.celery_after_scan`).

Also here, for every adapter that activates a model (the ``train_gmm`` task, ``sonicmap
cluster``, ``sonicmap models activate``, the embedded auto-queue):
:func:`refresh_playlists_after_activation`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sonicmap.config import AppConfig
from sonicmap.pipeline.autoqueue import embedded_after_scan
from sonicmap.pipeline.scan import ScanHook, ScanResult
from sonicmap.worker.followups import (
    refresh_playlists_after_activation,
    sync_servers_after_scan,
)

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)


def after_scan_hook(cfg: AppConfig) -> ScanHook:
    """The hook for ``scan_library(..., after_scan=...)``: embedded or Celery by the settings."""
    if cfg.settings.embedded:
        return embedded_with_servers(cfg)
    from sonicmap.worker.tasks import celery_after_scan

    return celery_after_scan


def embedded_with_servers(cfg: AppConfig) -> ScanHook:
    """Embedded mode: sync the servers whose ``sync_after_scan`` is on, then the auto-queue
    (an in-process training; cluster playlists refreshed when it activated a model)."""
    auto = embedded_after_scan(cfg)

    def after_scan(store: Store, result: ScanResult | None = None) -> dict[str, Any]:
        servers = sync_servers_after_scan(store, cfg, result)
        out = dict(auto(store, result))
        if out.get("status") == "completed":
            refreshed = refresh_playlists_after_activation(store)
            if refreshed is not None:
                out["playlists"] = refreshed
        return {**out, "servers": servers} if servers is not None else out

    return after_scan
