"""The one way to train: under the single-flight, with a ``job_runs`` row and a reason.

* :func:`train_claimed` — train as task ``task_id`` once the flight has it: the Celery task
  ``train_gmm`` calls it (its ``job_runs`` row, retries and requeueing are the task wrapper's),
  and so does :func:`train_now`.
* :func:`train_now` — train in this process now: request the flight (a training already queued
  or running elsewhere, e.g. on a worker, **coalesces**: nothing runs here), record the run in
  ``job_runs`` as ``train_gmm``, train. ``sonicmap cluster`` and the embedded-mode auto-queue
  use it.

A training thus races no other: the CLI, the in-process auto-queue and every worker share the
flight in the database (:mod:`sonicmap.pipeline.singleflight`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sonicmap.config import AppConfig
from sonicmap.errors import ConflictError, SonicmapError
from sonicmap.pipeline import jobs
from sonicmap.pipeline.results import TrainResult
from sonicmap.pipeline.singleflight import Heartbeat, TrainingFlight

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)

#: In-process lock lifetime without a heartbeat (the process beats every third of it).
IN_PROCESS_LOCK_TTL_S = 60.0
#: ``job_runs.task`` of every training, wherever it runs.
TRAIN_TASK = "train_gmm"

Progress = Callable[[str, dict[str, Any]], None]


class TrainingBusy(ConflictError):
    """Another live training holds the flight (``holder``); try again in ``retry_in_s``."""

    def __init__(self, holder: str | None, retry_in_s: float) -> None:
        super().__init__(f"training {holder} is running; retry in {retry_in_s:.0f} s")
        self.holder = holder
        self.retry_in_s = retry_in_s


@dataclass(frozen=True)
class Coalesced:
    """A request that joined the training already queued or running (``task_id``)."""

    task_id: str
    state: str  # "queued" or "running" (as the flight saw it)

    def to_dict(self) -> dict[str, Any]:
        return {"status": "coalesced", "task_id": self.task_id}

    def message(self) -> str:
        return (
            f"a training is already {self.state} (task {self.task_id}); it will activate its "
            "model when done (see `sonicmap models` and `sonicmap jobs`), so this one does not run"
        )


@dataclass(frozen=True)
class TrainRun:
    """A training this process ran as ``task_id``."""

    task_id: str
    result: TrainResult

    def task_result(self, reason: str) -> dict[str, Any]:
        return {**self.result.task_result(reason), "task_id": self.task_id}


def start_claimed(flight: TrainingFlight, task_id: str) -> bool:
    """May ``task_id`` train now? False when it already finished (a duplicate delivery);
    raises :class:`TrainingBusy` while another live training holds the flight."""
    outcome = flight.start(task_id)
    if outcome.action == "busy":
        raise TrainingBusy(outcome.holder, outcome.retry_in_s)
    return outcome.action == "run"


def train_claimed(
    store: Store,
    cfg: AppConfig,
    flight: TrainingFlight,
    task_id: str,
    *,
    reason: str,
    n_components: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> TrainResult:
    """Train as ``task_id``, which :func:`start_claimed` let run, heart-beating the flight.
    The caller ends the flight (``finish``, or ``requeue`` before a retry)."""
    from sonicmap.pipeline import clustering

    with Heartbeat(flight, task_id):
        return clustering.train(
            store, cfg, n_components=n_components, reason=reason, force=force, progress=progress
        )


def train_now(
    store: Store,
    cfg: AppConfig,
    *,
    reason: str,
    n_components: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
    lock_ttl_s: float = IN_PROCESS_LOCK_TTL_S,
    origin: str = "embedded",
) -> TrainRun | Coalesced:
    """Train in this process now, unless a training is queued or running (:class:`Coalesced`).

    The run is recorded in ``job_runs`` (task ``train_gmm``, task id ``<origin>-<uuid>``) with
    its outcome; a failure is recorded as ``error`` and raised.
    """
    flight = TrainingFlight(store, lock_ttl_s=lock_ttl_s)
    task_id = f"{origin}-{uuid.uuid4()}"
    before = flight.state()
    claimed, holder = flight.request(task_id)
    if not claimed:
        return Coalesced(holder, str(before.get("state") or "queued"))
    try:
        start_claimed(flight, task_id)
    except TrainingBusy as busy:  # a worker started one between our request and start
        flight.release(task_id)
        return Coalesced(busy.holder or "", "running")
    args = {"reason": reason, "n_components": n_components, "force_refresh": force}
    job_id = jobs.start_job(store, TRAIN_TASK, task_id=task_id, args=args)
    try:
        res = train_claimed(
            store,
            cfg,
            flight,
            task_id,
            reason=reason,
            n_components=n_components,
            force=force,
            progress=progress,
        )
    except BaseException as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        jobs.finish_job(store, job_id, {"status": "error", "message": message}, now=_now())
        flight.finish(task_id)
        raise
    run = TrainRun(task_id, res)
    jobs.finish_job(store, job_id, run.task_result(reason), now=_now())
    flight.finish(task_id)
    return run


def train_in_process(store: Store, cfg: AppConfig, *, reason: str) -> dict[str, Any]:
    """:func:`train_now` as a task-style result (the embedded auto-queue's "enqueue"):
    ``completed`` / ``skipped`` (+ ``task_id``), ``coalesced``, or ``error`` for a permanent
    failure such as too few artists (other exceptions propagate)."""
    try:
        out = train_now(store, cfg, reason=reason)
    except SonicmapError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        log.warning("in-process training failed: %s", message)
        return {"status": "error", "message": message}
    return out.to_dict() if isinstance(out, Coalesced) else out.task_result(reason)


def _now() -> datetime:
    return datetime.now(UTC)
