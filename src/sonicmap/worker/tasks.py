"""Celery tasks. Thin: gather inputs, call the pure policy and the pipeline, return a small dict.

Task names (Celery names, exactly): ``scan_library``, ``train_gmm``, ``periodic_gmm_refresh``,
``check_cluster_stability``, ``cleanup_old_models``, ``sync_servers``, ``push_playlists`` (+ the
scan's internal ``scan_analyse_chunk`` and ``scan_finish``). Results always carry a ``status``:

* ``skipped`` + ``reason``;  ``queued`` + ``task_id`` (+ ``coalesced``);
* ``stable`` / ``reclustering_queued`` + ``drift_score``;
* ``clean`` / ``completed`` + ``deleted_count`` + ``models_removed`` (cleanup);
* ``completed`` + ``model_id`` ... (training, scan);  ``error`` + ``message``.

Every run is recorded in ``job_runs`` (:mod:`sonicmap.pipeline.jobs`).

Failures: transient ones (database or broker connection lost, SQLite busy) are retried with
exponential backoff and jitter up to ``retry.max_retries`` of ``gmm_config.yaml``; permanent
ones (``NotEnoughDataError``, any ``SonicmapError``, bad arguments) end the run at once with
``status: error`` and the message.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import Task, chord

from sonicmap import policy
from sonicmap.pipeline import maintenance
from sonicmap.pipeline.autoqueue import run_auto_queue
from sonicmap.pipeline.scan import ScanResult
from sonicmap.pipeline.singleflight import TrainingFlight
from sonicmap.pipeline.training import TrainingBusy, start_claimed, train_claimed
from sonicmap.worker.app import (
    app,
    get_config,
    get_store,
    get_worker_settings,
    plan_to_broker,
)
from sonicmap.worker.broker import broker_knows
from sonicmap.worker.priorities import (
    PRIORITY_DRIFT,
    PRIORITY_REFRESH,
    PRIORITY_SCAN,
    PRIORITY_TRAINING,
    QUEUE_MAINTENANCE,
    QUEUE_SCAN,
)
from sonicmap.worker.runs import (
    _best_effort,
    _now,
    _one_line,
    run_recorded,
)

log = logging.getLogger(__name__)


def _flight(store: Any) -> TrainingFlight:
    ws = get_worker_settings()
    return TrainingFlight(
        store,
        lock_ttl_s=ws.lock_ttl_s,
        queued_ttl_s=ws.queued_ttl_s,
        queued_check_s=ws.queued_check_s,
    )


# --------------------------------------------------------------------------------------------
# training requests (single-flight, coalescing) — also the API's entry point
# --------------------------------------------------------------------------------------------


def request_training(
    reason: str = "manual",
    *,
    n_components: int | None = None,
    refresh_mode: bool = False,
    force_refresh: bool = False,
    priority: int = PRIORITY_TRAINING,
    countdown: float | None = None,
    store: Any = None,
) -> dict[str, Any]:
    """Queue ``train_gmm`` unless a training is already queued or running.

    Returns ``{"status": "queued", "task_id": new_id}`` or ``{"status": "coalesced",
    "task_id": existing_id}``. ``priority`` is a plan priority (0..9, higher = more important).
    Used by the beat tasks, the scan hook and the API's ``POST /gmm/train``.
    """
    store = store if store is not None else get_store()
    flight = _flight(store)
    new_id = str(uuid.uuid4())
    claimed, task_id = flight.request(
        new_id, is_known=lambda queued: broker_knows(app, QUEUE_MAINTENANCE, queued)
    )
    if not claimed:
        log.info("training request coalesced reason=%s task_id=%s", reason, task_id)
        return {"status": "coalesced", "task_id": task_id}
    try:
        train_gmm.apply_async(
            kwargs={
                "n_components": n_components,
                "refresh_mode": refresh_mode,
                "force_refresh": force_refresh,
                "reason": reason,
            },
            task_id=new_id,
            queue=QUEUE_MAINTENANCE,
            priority=plan_to_broker(priority),
            countdown=countdown or None,
        )
    except Exception:
        flight.release(new_id)
        raise
    log.info("training queued reason=%s task_id=%s priority=%d", reason, new_id, priority)
    return {"status": "queued", "task_id": new_id}


def celery_after_scan(store: Any, result: ScanResult | None = None) -> dict[str, Any]:
    """Service-mode auto-queue hook (``after_scan`` of the scan pipeline).

    Applies :func:`sonicmap.policy.should_auto_queue`; when it says yes, requests a training
    (reason ``auto_queue``, the configured priority), coalesced with any queued/running one.
    """
    aq = get_config().gmm_clustering.auto_queue
    servers = _queue_server_syncs(store, result)
    out = run_auto_queue(
        store,
        result,
        aq,
        lambda: request_training("auto_queue", priority=aq.priority_value, store=store),
    )
    return {**out, "servers": servers} if servers is not None else out


def _queue_server_syncs(store: Any, result: ScanResult | None) -> dict[str, Any] | None:
    """After a completed scan, queue ``sync_servers`` when a server asks to be synced then."""
    from sonicmap.pipeline.servers import servers_with_option

    if result is not None and result.status != "completed":
        return None
    if not servers_with_option(store, "sync_after_scan"):
        return None
    try:
        res = sync_servers.apply_async(
            kwargs={"after_scan": True},
            queue=QUEUE_MAINTENANCE,
            priority=plan_to_broker(PRIORITY_REFRESH),
        )
    except Exception as exc:  # noqa: BLE001 - the scan itself succeeded
        log.warning("could not queue the server sync after the scan: %s", exc)
        return {"status": "failed", "error": _one_line(exc)}
    return {"status": "queued", "task_id": str(res.id)}


# --------------------------------------------------------------------------------------------
# tasks
# --------------------------------------------------------------------------------------------


@app.task(bind=True, name="train_gmm", acks_late=True)  # type: ignore[untyped-decorator]  # Celery is untyped
def train_gmm(
    self: Task,
    n_components: int | None = None,
    refresh_mode: bool = False,
    force_refresh: bool = False,
    reason: str = "manual",
) -> dict[str, Any]:
    """Train a GMM (single-flight) and activate it; ``completed`` with the model id."""
    args = {
        "n_components": n_components,
        "refresh_mode": refresh_mode,
        "force_refresh": force_refresh,
        "reason": reason,
    }
    task_id = self.request.id or f"eager-{uuid.uuid4()}"
    holds = {"flight": False}

    def body(store: Any) -> dict[str, Any]:
        flight = _flight(store)
        try:
            if not start_claimed(flight, task_id):
                return {"status": "skipped", "reason": "already_completed", "task_id": task_id}
        except TrainingBusy as busy:
            log.info("training busy holder=%s retry_in=%.1fs", busy.holder, busy.retry_in_s)
            raise self.retry(countdown=busy.retry_in_s, max_retries=None) from None
        holds["flight"] = True
        res = train_claimed(
            store,
            get_config(),
            flight,
            task_id,
            reason=reason,
            n_components=n_components,
            force=force_refresh,
        )
        out = res.task_result(reason)
        if out.get("status") == "completed":
            from sonicmap.worker.followups import refresh_playlists_after_activation

            refreshed = refresh_playlists_after_activation(store)
            if refreshed is not None:
                out["playlists"] = refreshed
        return out

    def on_retry(store: Any) -> None:
        if holds["flight"]:
            _flight(store).requeue(task_id)

    def on_end(store: Any) -> None:
        if holds["flight"]:
            _flight(store).finish(task_id)

    return run_recorded(self, "train_gmm", args, body, on_retry=on_retry, on_end=on_end)


@app.task(bind=True, name="periodic_gmm_refresh")  # type: ignore[untyped-decorator]  # Celery is untyped
def periodic_gmm_refresh(self: Task) -> dict[str, Any]:
    """Weekly refresh: ``queued`` (+ ``task_id``) when the policy says so, else ``skipped``."""

    def body(store: Any) -> dict[str, Any]:
        cfg = get_config()
        stats = maintenance.library_stats(store)
        decision = policy.should_refresh(stats, _now(), cfg.gmm_clustering)
        if not decision.run:
            return {"status": "skipped", "reason": decision.reason}
        out = request_training(
            "periodic_refresh",
            refresh_mode=True,
            priority=PRIORITY_REFRESH,
            countdown=get_worker_settings().refresh_countdown_s,
            store=store,
        )
        return {
            "status": "queued",
            "task_id": out["task_id"],
            "coalesced": out["status"] == "coalesced",
            "trigger": decision.reason,
        }

    return run_recorded(self, "periodic_gmm_refresh", {}, body)


@app.task(bind=True, name="check_cluster_stability")  # type: ignore[untyped-decorator]  # Celery is untyped
def check_cluster_stability(self: Task) -> dict[str, Any]:
    """Drift check: ``skipped``, ``stable`` or ``reclustering_queued`` with ``drift_score``."""

    def body(store: Any) -> dict[str, Any]:
        cfg = get_config()
        scfg = cfg.gmm_clustering.periodic.stability_check
        stats = maintenance.library_stats(store)
        gate = policy.should_check_stability(stats, scfg)
        if not gate.run:
            _best_effort(
                lambda: maintenance.record_skipped_check(
                    store,
                    reason=gate.reason,
                    stats=stats,
                    threshold=scfg.drift_threshold,
                    now=_now(),
                )
            )
            return {"status": "skipped", "reason": gate.reason}
        drift, check_id = measure_drift(store, cfg)
        decision = policy.stability_decision(stats, drift, scfg)
        if not decision.run:
            return {"status": "stable", "drift_score": drift, "reason": decision.reason}
        out = request_training(
            "drift",
            force_refresh=True,
            priority=PRIORITY_DRIFT,
            countdown=get_worker_settings().drift_countdown_s,
            store=store,
        )
        if check_id is not None:
            from sonicmap.pipeline import clustering

            _best_effort(lambda: clustering.record_decision(store, check_id, "reclustering_queued"))
        return {
            "status": "reclustering_queued",
            "drift_score": drift,
            "task_id": out["task_id"],
            "coalesced": out["status"] == "coalesced",
        }

    return run_recorded(self, "check_cluster_stability", {}, body)


def measure_drift(store: Any, cfg: Any) -> tuple[float, int | None]:
    """``(drift, drift check id)`` of the active model, from the GMM pipeline (which stores the
    check)."""
    from sonicmap.pipeline import clustering

    res = clustering.check_stability(store, cfg)
    if res.drift is None:
        raise ValueError(f"check_stability returned no drift: {res.to_dict()!r}")
    return float(res.drift), res.check_id


@app.task(bind=True, name="cleanup_old_models")  # type: ignore[untyped-decorator]  # Celery is untyped
def cleanup_old_models(self: Task) -> dict[str, Any]:
    """Model cleanup: ``clean`` (nothing to delete) or ``completed``, with ``deleted_count``."""

    def body(store: Any) -> dict[str, Any]:
        from sonicmap.pipeline import clustering

        return clustering.cleanup_models(store, get_config(), now=_now()).task_result()

    return run_recorded(self, "cleanup_old_models", {}, body)


@app.task(bind=True, name="scan_library")  # type: ignore[untyped-decorator]  # Celery is untyped
def scan_library(self: Task, paths: list[str] | None = None) -> dict[str, Any]:
    """Scan the library; the analysis is shared out to every worker in chunks.

    With at most one chunk of files to analyse the scan runs right here (``completed`` with the
    counts); otherwise a chord of ``scan_analyse_chunk`` tasks + ``scan_finish`` is published
    and the result is ``queued`` with the ``task_id`` of ``scan_finish`` (see
    :mod:`sonicmap.worker.distributed`).
    """
    from sonicmap.worker import distributed

    args = {"paths": paths}
    ws = get_worker_settings()

    def body(store: Any) -> dict[str, Any]:
        cfg = get_config()
        todo = distributed.find_candidates(store, cfg, paths)
        # a chord needs a result backend (RabbitMQ without one: scan in place)
        if len(todo) <= ws.scan_chunk_size or not app.conf.result_backend:
            return run_scan(store, paths, task_id=self.request.id)
        parts = distributed.chunks(todo, ws.scan_chunk_size)
        prio = self.request.delivery_info.get("priority") if self.request.delivery_info else None
        opts = {
            "queue": QUEUE_SCAN,
            "priority": prio if prio is not None else plan_to_broker(PRIORITY_SCAN),
        }
        finish_id = str(uuid.uuid4())  # also the id of the chord's parked analyses
        header = [scan_analyse_chunk.si(part, cache_id=finish_id).set(**opts) for part in parts]
        chord(header)(scan_finish.si(paths, cache_id=finish_id).set(task_id=finish_id, **opts))
        log.info(
            "distributed scan: %d files in %d chunks finish=%s", len(todo), len(parts), finish_id
        )
        return {"status": "queued", "task_id": finish_id, "files": len(todo), "chunks": len(parts)}

    return run_recorded(self, "scan_library", args, body)


def run_scan(
    store: Any, paths: list[str] | None, *, task_id: str | None, cache_id: str | None = None
) -> dict[str, Any]:
    """The scan pipeline in this worker process, with the service-mode auto-queue hook;
    ``cache_id``: the distributed scan whose parked analyses to use (then delete)."""
    from sonicmap.pipeline import scan
    from sonicmap.worker import distributed

    ws = get_worker_settings()
    cache = (
        distributed.AnalysisCache(store, cache_id, fallback=ws.scan_analyzer) if cache_id else None
    )
    try:
        res = scan.scan_library(
            store,
            get_config(),
            paths=paths,
            jobs=1,
            # analysis in a supervised child process: a crash or a hang fails the file,
            # never this worker (and so never redelivers the scan)
            in_process=False,
            analyzer=cache if cache is not None else ws.scan_analyzer,
            after_scan=celery_after_scan,
            task_id=task_id,
        )
    finally:
        if cache is not None:
            _best_effort(cache.clear)
    out: dict[str, Any] = {"status": "completed", **res.counts()}
    if isinstance(res.post.get("after_scan"), dict):
        out["auto_queue"] = res.post["after_scan"]
    return out


@app.task(bind=True, name="scan_analyse_chunk")  # type: ignore[untyped-decorator]  # Celery is untyped
def scan_analyse_chunk(self: Task, paths: list[str], cache_id: str | None = None) -> dict[str, Any]:
    """Analyse a chunk of a distributed scan (any worker); ``completed`` with the node name.

    The outcomes are parked for the scan ``cache_id`` (a chunk published without one, by an
    older coordinator, only analyses: its ``scan_finish`` analyses the files itself)."""
    from sonicmap.worker import distributed

    def body(store: Any) -> dict[str, Any]:
        settings = get_config().settings
        max_s, timeout_s = settings.max_analysis_seconds, settings.analysis_timeout_s
        analyzer = get_worker_settings().scan_analyzer
        if cache_id is None:
            files = distributed.analyse_files(
                paths, max_duration_s=max_s, analyzer=analyzer, timeout_s=timeout_s
            )
            counts = distributed.outcome_counts(files)
        else:
            counts = distributed.AnalysisCache(store, cache_id).park(
                paths, max_duration_s=max_s, analyzer=analyzer, timeout_s=timeout_s
            )
        return {"status": "completed", "worker": self.request.hostname, **counts}

    return run_recorded(self, "scan_analyse_chunk", {"files": len(paths)}, body)


@app.task(bind=True, name="scan_finish")  # type: ignore[untyped-decorator]  # Celery is untyped
def scan_finish(
    self: Task, paths: list[str] | None = None, cache_id: str | None = None
) -> dict[str, Any]:
    """Last step of a distributed scan: the scan pipeline using the parked analyses of
    ``cache_id`` (None: analyses every file itself)."""
    return run_recorded(
        self,
        "scan_finish",
        {"paths": paths},
        lambda store: run_scan(store, paths, task_id=self.request.id, cache_id=cache_id),
    )


@app.task(bind=True, name="sync_servers")  # type: ignore[untyped-decorator]  # Celery is untyped
def sync_servers(self: Task, name: str | None = None, after_scan: bool = False) -> dict[str, Any]:
    """Sync one music server's song ids (``name``), or every server (``after_scan``: those whose
    ``sync_after_scan`` option is on); ``completed`` / ``partial`` / ``failed`` + reports."""

    def body(store: Any) -> dict[str, Any]:
        from sonicmap.pipeline.serversync import sync_servers as run
        from sonicmap.remote import make_client

        return run(store, get_config(), make_client, name=name, after_scan=after_scan)

    return run_recorded(self, "sync_servers", {"name": name, "after_scan": after_scan}, body)


@app.task(bind=True, name="push_playlists")  # type: ignore[untyped-decorator]  # Celery is untyped
def push_playlists(self: Task, server: str, request: dict[str, Any]) -> dict[str, Any]:
    """Push playlists to a music server (``request``: the arguments of
    :func:`sonicmap.pipeline.playlists.build_specs`); ``completed`` + the push report."""

    def body(store: Any) -> dict[str, Any]:
        from sonicmap.pipeline.playlists import push_request
        from sonicmap.remote import make_client

        return {"status": "completed", **push_request(store, server, make_client, **request)}

    return run_recorded(self, "push_playlists", {"server": server, "request": request}, body)
