"""What follows a scan or a training on the music servers (no Celery here): the post-scan sync
of the servers that ask for it, and the cluster playlists re-pushed after a model activation.
Used by the embedded hook (:mod:`sonicmap.worker.hooks`) and the worker's tasks alike.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sonicmap.config import AppConfig
from sonicmap.pipeline.scan import ScanResult

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def sync_servers_after_scan(
    store: Store, cfg: AppConfig, result: ScanResult | None
) -> dict[str, Any] | None:
    """After a completed scan, sync (in this process) the servers whose ``sync_after_scan``
    option is on. Never raises; None when there was nothing to do."""
    if result is not None and result.status != "completed":
        return None
    try:
        from sonicmap.pipeline.serversync import sync_servers
        from sonicmap.remote import make_client

        out = sync_servers(store, cfg, make_client, after_scan=True)
    except Exception as exc:  # noqa: BLE001 - the scan itself succeeded
        log.exception("server sync after scan failed")
        return {"status": "failed", "error": _one_line(exc)}
    return out if out["servers"] else None


def refresh_playlists_after_activation(store: Store) -> dict[str, Any] | None:
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
