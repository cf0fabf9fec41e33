"""The scan's auto-queue hook for the CLI: embedded mode or service mode, by the settings.

Embedded mode (no broker configured) trains in this process
(:func:`sonicmap.pipeline.autoqueue.embedded_after_scan`, no Celery imported); service mode
queues ``train_gmm`` on the broker (:func:`sonicmap.worker.tasks.celery_after_scan`).
"""

from __future__ import annotations

from sonicmap.config import AppConfig
from sonicmap.pipeline.autoqueue import embedded_after_scan
from sonicmap.pipeline.scan import ScanHook


def after_scan_hook(cfg: AppConfig) -> ScanHook:
    """The hook for ``scan_library(..., after_scan=...)``: embedded or Celery by the settings."""
    if cfg.settings.embedded:
        return embedded_after_scan(cfg)
    from sonicmap.worker.tasks import celery_after_scan

    return celery_after_scan
