"""The auto-queue after a scan: should a training follow? (no Celery here)

:func:`run_auto_queue` applies :func:`sonicmap.policy.should_auto_queue` to the library
statistics (:func:`sonicmap.pipeline.maintenance.library_stats`), only after a **completed**
scan, then calls the adapter's ``enqueue()``: the worker hands one that queues ``train_gmm``
(coalesced, configured priority); embedded mode (:func:`embedded_after_scan`) one that trains
in this process. Both go through the same single-flight, so five scans finishing together give
one training.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sonicmap import policy
from sonicmap.config import AppConfig, AutoQueueConfig
from sonicmap.pipeline import maintenance
from sonicmap.pipeline.scan import ScanHook, ScanResult
from sonicmap.pipeline.training import train_in_process

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)

Enqueue = Callable[[], dict[str, Any]]


def run_auto_queue(
    store: Store, result: ScanResult | None, aq: AutoQueueConfig, enqueue: Enqueue
) -> dict[str, Any]:
    """Decide with the policy, then ``enqueue()``; returns a small status dict (``skipped`` +
    ``reason``, or what ``enqueue`` returned)."""
    status = None if result is None else result.status
    if status not in (None, "completed"):
        return {"status": "skipped", "reason": f"scan_{status}"}
    decision = policy.should_auto_queue(maintenance.library_stats(store), aq)
    if not decision.run:
        log.info("auto-queue: no training reason=%s details=%s", decision.reason, decision.details)
        return {"status": "skipped", "reason": decision.reason}
    out = enqueue()
    log.info("auto-queue: training %s reason=%s", out.get("status"), decision.reason)
    return out


def embedded_after_scan(cfg: AppConfig) -> ScanHook:
    """Embedded-mode hook: the auto-queue policy, then train in-process (reason ``auto_queue``)."""
    aq = cfg.gmm_clustering.auto_queue

    def after_scan(store: Store, result: ScanResult | None = None) -> dict[str, Any]:
        return run_auto_queue(
            store, result, aq, lambda: train_in_process(store, cfg, reason="auto_queue")
        )

    return after_scan
