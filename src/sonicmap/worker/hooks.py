"""Auto-queue hooks handed to the scan pipeline as ``after_scan(store, result)``.

* :func:`after_scan_hook` — what the scan CLI passes: embedded mode (no broker configured)
  trains in-process; service mode enqueues ``train_gmm`` (coalesced, configured priority).
* :func:`make_embedded_after_scan` — the embedded hook alone. It imports no Celery.

Both apply :func:`sonicmap.policy.should_auto_queue` to the library statistics gathered by
:func:`sonicmap.pipeline.maintenance.library_stats`, only after a **completed** scan (a result
whose ``status`` is missing or ``completed``), and both go through the same single-flight as
the worker, so five scans finishing together give one training.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sonicmap import policy
from sonicmap.config import AppConfig, AutoQueueConfig
from sonicmap.errors import SonicmapError
from sonicmap.pipeline import jobs, maintenance

log = logging.getLogger(__name__)

AfterScan = Callable[[Any, Any], dict[str, Any]]

#: Embedded-mode lock lifetime without a heartbeat (the CLI process beats every third of it).
EMBEDDED_LOCK_TTL_S = 60.0


def _scan_status(result: Any) -> str | None:
    if isinstance(result, dict):
        return result.get("status")
    return getattr(result, "status", None)


def run_auto_queue(
    store: Any,
    result: Any,
    aq: AutoQueueConfig,
    enqueue: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Decide with the policy, then ``enqueue()``; returns a small status dict."""
    status = _scan_status(result)
    if status not in (None, "completed"):
        return {"status": "skipped", "reason": f"scan_{status}"}
    decision = policy.should_auto_queue(maintenance.library_stats(store), aq)
    if not decision.run:
        log.info("auto-queue: no training reason=%s details=%s", decision.reason, decision.details)
        return {"status": "skipped", "reason": decision.reason}
    out = enqueue()
    log.info("auto-queue: training %s reason=%s", out.get("status"), decision.reason)
    return out


def train_in_process(
    store: Any,
    cfg: AppConfig,
    *,
    reason: str,
    n_components: int | None = None,
    force: bool = False,
    lock_ttl_s: float = EMBEDDED_LOCK_TTL_S,
) -> dict[str, Any]:
    """Train now, in this process, under the same single-flight as the workers.

    Returns ``completed`` (+ model summary), ``skipped`` (nothing changed), ``coalesced``
    (another training is queued or running) or ``error`` (a permanent failure such as too few
    artists; other exceptions propagate). The run is recorded in ``job_runs`` as ``train_gmm``.
    """
    from sonicmap.pipeline import clustering
    from sonicmap.worker.singleflight import Heartbeat, TrainingFlight

    flight = TrainingFlight(store, lock_ttl_s=lock_ttl_s)
    task_id = f"embedded-{uuid.uuid4()}"
    claimed, holder = flight.request(task_id)
    if not claimed:
        return {"status": "coalesced", "task_id": holder}
    outcome = flight.start(task_id)
    if outcome.action != "run":
        flight.release(task_id)
        return {"status": "coalesced", "task_id": outcome.holder}
    args = {"reason": reason, "n_components": n_components, "force_refresh": force}
    job_id = jobs.start_job(store, "train_gmm", task_id=task_id, args=args)
    try:
        with Heartbeat(flight, task_id):
            res = clustering.train(
                store, cfg, n_components=n_components, reason=reason, force=force
            )
        out = {**training_result(res, reason), "task_id": task_id}
    except Exception as exc:
        out = {"status": "error", "message": " ".join(str(exc).split()) or type(exc).__name__}
        jobs.finish_job(store, job_id, out, now=datetime.now(UTC))
        flight.finish(task_id)
        if isinstance(exc, SonicmapError):  # permanent (too few artists, ...): say so, go on
            log.warning("in-process training failed: %s", out["message"])
            return out
        raise
    jobs.finish_job(store, job_id, out, now=datetime.now(UTC))
    flight.finish(task_id)
    return out


def make_embedded_after_scan(cfg: AppConfig) -> AfterScan:
    """Embedded-mode hook: auto-queue policy, then train in-process (reason ``auto_queue``)."""
    aq = cfg.gmm_clustering.auto_queue

    def after_scan(store: Any, result: Any = None) -> dict[str, Any]:
        return run_auto_queue(
            store, result, aq, lambda: train_in_process(store, cfg, reason="auto_queue")
        )

    return after_scan


def after_scan_hook(cfg: AppConfig) -> AfterScan:
    """The hook for ``scan_library(..., after_scan=...)``: embedded or Celery by the settings."""
    if cfg.settings.embedded:
        return make_embedded_after_scan(cfg)
    from sonicmap.worker.tasks import celery_after_scan

    return celery_after_scan


def training_result(res: Any, reason: str) -> dict[str, Any]:
    """Task result of a training: ``completed`` + model summary, or the pipeline's ``skipped``
    (nothing changed since the active model and not forced) with its ``reason``."""
    summary = model_summary(res)
    status = res.get("status") if isinstance(res, dict) else getattr(res, "status", None)
    if status == "skipped":
        why = res.get("reason") if isinstance(res, dict) else getattr(res, "reason", None)
        return {"status": "skipped", "reason": why or "unchanged", **summary}
    return {"status": "completed", "reason": reason, **summary}


def model_summary(res: Any) -> dict[str, Any]:
    """Small JSON-able subset of a training result (dict or object)."""
    if not isinstance(res, dict):
        res = dict(getattr(res, "__dict__", {}) or {})
    keep = ("model_id", "id", "k", "n_artists", "n_tracks", "bic", "training_seconds", "status")
    out = {k: res[k] for k in keep if k in res and _jsonable(res[k])}
    if "id" in out and "model_id" not in out:
        out["model_id"] = out.pop("id")
    out.pop("status", None)
    return out


def _jsonable(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)
