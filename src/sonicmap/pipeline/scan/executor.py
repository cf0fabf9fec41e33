"""Execution: a bounded, lazily fed process pool that survives crashing decoders."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sonicmap.errors import SonicmapError
from sonicmap.pipeline.scan.file_step import (
    WorkerSpec,
    crash_result,
    init_worker,
    process_file,
    run_job,
)

if TYPE_CHECKING:
    from sonicmap.pipeline.scan.writer import Stored

log = logging.getLogger(__name__)

#: Analysis jobs a worker process runs before it is replaced (guards against slow leaks).
MAX_TASKS_PER_CHILD = 400
#: Analysis processes dying on this many files in a row means a broken set-up, not bad files.
MAX_CRASHES_IN_A_ROW = 3


@dataclass(slots=True)
class Job:
    """One file to process: its path, its stored state and the fingerprint of its stored
    (current) analysis, if any."""

    path: str
    stored: Stored | None
    known_fp: str | None
    attempts: int = 0


def execute(
    work: Iterable[Job], spec: WorkerSpec, *, jobs: int, in_process: bool
) -> Iterator[dict[str, Any]]:
    """Yield one result per job, in completion order.

    At most ``4 × jobs`` jobs are in flight, so memory does not grow with the library. When a
    worker process dies, the jobs in flight are re-run one at a time; a job that kills its
    process on its own is reported as failed.
    """
    work = list(work) if not isinstance(work, list) else work
    if not work:
        return
    if in_process:
        for job in work:
            yield process_file(spec, job.path, job.known_fp)
        return
    import multiprocessing

    n = min(jobs, len(work))
    ctx = multiprocessing.get_context("spawn")
    limit = 4 * n
    queue = deque(work)
    suspects: deque[Job] = deque()

    def make() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=n,
            mp_context=ctx,
            initializer=init_worker,
            initargs=(spec,),
            max_tasks_per_child=MAX_TASKS_PER_CHILD,
        )

    executor = make()
    pending: dict[Future[dict[str, Any]], Job] = {}
    crashes_in_a_row = 0
    try:
        while queue or suspects or pending:
            isolating = bool(suspects)
            refused = False
            while (suspects or queue) and len(pending) < (1 if isolating else limit):
                source = suspects if suspects else queue
                job = source.popleft()
                try:
                    fut = executor.submit(run_job, job.path, job.known_fp)
                except BrokenProcessPool:
                    # a worker died while the caller had our last result (this generator was
                    # suspended): the job never ran; the futures in flight report the crash
                    source.appendleft(job)
                    refused = True
                    break
                pending[fut] = job
                if isolating:
                    break
            done = wait(pending, return_when=FIRST_COMPLETED)[0] if pending else set()
            broken = refused
            for fut in done:
                job = pending.pop(fut)
                try:
                    res = fut.result()
                except BrokenProcessPool:
                    broken = True
                    job.attempts += 1
                    if isolating or job.attempts >= 3:
                        log.error("analysis process crashed path=%s", job.path)
                        crashes_in_a_row += 1
                        if crashes_in_a_row >= MAX_CRASHES_IN_A_ROW:
                            raise SonicmapError(
                                f"analysis processes died on {crashes_in_a_row} files in a row "
                                f"(last: {job.path}); they cannot run here (see the log above); "
                                "stopping the scan instead of marking every file as failed"
                            ) from None
                        yield crash_result(job.path)
                    else:
                        suspects.append(job)
                else:
                    crashes_in_a_row = 0
                    yield res
            if broken:
                for fut, job in list(pending.items()):
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        job.attempts += 1
                        suspects.append(job)
                pending.clear()
                executor.shutdown(wait=False, cancel_futures=True)
                log.warning(
                    "an analysis process died; re-running %d file(s) one at a time", len(suspects)
                )
                executor = make()
    finally:
        for fut in pending:
            fut.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
