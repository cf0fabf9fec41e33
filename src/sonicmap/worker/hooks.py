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
from typing import Any

from sonicmap.config import AppConfig
from sonicmap.pipeline.autoqueue import embedded_after_scan
from sonicmap.pipeline.scan import ScanHook

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

    def after_scan(store: Any, result: Any = None) -> dict[str, Any]:
        servers = sync_servers_after_scan(store, cfg, result)
        out = dict(auto(store, result))
        if out.get("status") == "completed":
            refreshed = refresh_playlists_after_activation(store)
            if refreshed is not None:
                out["playlists"] = refreshed
        return {**out, "servers": servers} if servers is not None else out

    return after_scan


def _status(result: Any) -> str | None:
    return result.get("status") if isinstance(result, dict) else getattr(result, "status", None)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def sync_servers_after_scan(store: Any, cfg: AppConfig, result: Any) -> dict[str, Any] | None:
    """After a completed scan, sync (in this process) the servers whose ``sync_after_scan``
    option is on. Never raises; None when there was nothing to do."""
    if _status(result) not in (None, "completed"):
        return None
    try:
        from sonicmap.pipeline.serversync import sync_servers
        from sonicmap.remote import make_client

        out = sync_servers(store, cfg, make_client, after_scan=True)
    except Exception as exc:  # noqa: BLE001 - the scan itself succeeded
        log.exception("server sync after scan failed")
        return {"status": "failed", "error": _one_line(exc)}
    return out if out["servers"] else None


def refresh_playlists_after_activation(store: Any) -> dict[str, Any] | None:
    """A model was just activated: re-push the cluster playlists of the servers whose
    ``refresh_playlists_on_activate`` option is on (off by default). Never raises: a failure is
    logged and returned; None when there was nothing to do."""
    try:
        from sonicmap.pipeline.playlists import refresh_after_activation
        from sonicmap.remote import make_client

        out = refresh_after_activation(store, make_client)
    except Exception as exc:  # noqa: BLE001 - the activation itself succeeded
        log.exception("playlist refresh after activation failed")
        return {"status": "failed", "error": _one_line(exc)}
    return out if out["servers"] else None
