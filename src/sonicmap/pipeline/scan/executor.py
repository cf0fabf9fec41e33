"""Execution: supervised analysis processes that survive crashing and hanging decoders.

One implementation for every caller (``sonicmap scan``, the worker's scan and chunk tasks): each
file is analysed in a child process (``spawn``) of this one, which the parent watches.

* A child that dies on a file (a decoder's segfault, the out-of-memory killer) is replaced and
  the file retried once; dying again, the file is recorded ``failed`` with the reason
  (``analysis process killed by signal 9 (SIGKILL)``).
* Each file has a deadline (:func:`analysis_timeout`: ``SONICMAP_ANALYSIS_TIMEOUT_S``, or by
  default 60 s + 0.5 s per second of audio to analyse, the child reporting the file's duration
  first). A child past it is killed and replaced, the file retried once and then recorded
  ``failed`` (``timed out after 75 s``).
* Children dying on :data:`MAX_CRASHES_IN_A_ROW` different files in a row means a broken set-up,
  not bad files: the scan stops instead of marking the library failed.

At most ``jobs`` files are in flight (one per child), so memory does not grow with the library.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sonicmap.errors import SonicmapError
from sonicmap.pipeline.scan.file_step import (
    WorkerSpec,
    crash_result,
    init_worker,
    process_file,
    resolve,
    run_job,
)

if TYPE_CHECKING:
    from sonicmap.pipeline.scan.writer import Stored

log = logging.getLogger(__name__)

#: Analysis jobs a child process runs before it is replaced (guards against slow leaks).
MAX_TASKS_PER_CHILD = 400
#: Analysis processes dying on this many files in a row means a broken set-up, not bad files.
MAX_CRASHES_IN_A_ROW = 3
#: A file is tried this many times (each in a fresh process) before it is recorded failed.
MAX_ATTEMPTS = 2
#: Default deadline: this many seconds, plus :data:`TIMEOUT_PER_AUDIO_S` per second of audio.
TIMEOUT_BASE_S = 60.0
TIMEOUT_PER_AUDIO_S = 0.5
#: Allowance for a fresh process to start (imports) before it takes its first file.
STARTUP_S = 120.0


def analysis_timeout(
    duration_s: float | None, *, fixed_s: float | None, max_duration_s: float | None
) -> float:
    """Seconds one file's analysis may take.

    ``fixed_s`` (the setting) wins; otherwise :data:`TIMEOUT_BASE_S` + :data:`TIMEOUT_PER_AUDIO_S`
    × the seconds that will be analysed (the file's duration, capped at ``max_duration_s``; the
    cap, or 1800 s, while the duration is not known yet).
    """
    if fixed_s:
        return float(fixed_s)
    audio = duration_s if duration_s is not None else (max_duration_s or 1800.0)
    if max_duration_s is not None:
        audio = min(audio, max_duration_s)
    return TIMEOUT_BASE_S + TIMEOUT_PER_AUDIO_S * max(0.0, audio)


@dataclass(slots=True)
class Job:
    """One file to process: its path, its stored state and the fingerprint of its stored
    (current) analysis, if any."""

    path: str
    stored: Stored | None
    known_fp: str | None
    attempts: int = 0


def _probe_duration(path: str) -> float | None:
    try:
        from sonicmap.analysis.decode import probe

        return probe(path).duration_s
    except Exception:  # noqa: BLE001 - unknown duration: the cap's deadline applies
        return None


@contextlib.contextmanager
def _may_have_children() -> Iterator[None]:
    """Let a daemonic process (a Celery pool process, billiard) start the analysis children:
    they are supervised, killed when the scan ends, and die with this process
    (``PR_SET_PDEATHSIG``)."""
    import multiprocessing
    from multiprocessing.process import AuthenticationString  # type: ignore[attr-defined]

    # (private, untyped: no public switch)
    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]  # noqa: SLF001
    saved = {k: config[k] for k in ("daemon", "authkey") if k in config}
    config["daemon"] = False
    if "authkey" in saved:  # billiard's own key type refuses the stdlib's spawn pickler
        config["authkey"] = AuthenticationString(bytes(saved["authkey"]))
    try:
        yield
    finally:
        config.update(saved)
        if "daemon" not in saved:
            config.pop("daemon", None)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (a killed worker leaves no orphan)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _child_main(conn: Any, spec: WorkerSpec) -> None:
    """A child's loop: receive ``(path, known_fp)``, send ``("begin", None)``, ``("duration",
    s)`` then ``("result", dict)``; ``None`` ends it."""
    _die_with_parent()
    init_worker(spec)
    # import everything a file needs now, so that its deadline measures its analysis only
    from sonicmap.library import walk  # noqa: F401  (content fingerprint)

    for seam in (spec.analyzer, spec.tag_reader):
        resolve(seam)
    _probe_duration("")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        path, known_fp = msg
        conn.send(("begin", None))  # the file's deadline runs from here
        conn.send(("duration", _probe_duration(path)))
        conn.send(("result", run_job(path, known_fp)))


def death_reason(exitcode: int | None) -> str:
    """Why an analysis process ended, in words (``killed by signal 9 (SIGKILL)``)."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"analysis process killed by signal {-exitcode} ({name})"
    return f"analysis process exited with status {exitcode} while analysing this file"


class _Child:
    """One supervised analysis process and the job it is working on."""

    def __init__(self, ctx: Any, spec: WorkerSpec) -> None:
        self.ctx = ctx
        self.spec = spec
        parent, child = ctx.Pipe()
        self.conn = parent
        with _may_have_children():  # the process copies our config when it is made
            self.proc = ctx.Process(
                target=_child_main, args=(child, spec), daemon=True, name="sonicmap-analysis"
            )
            self.proc.start()
        child.close()
        self.job: Job | None = None
        self.started = 0.0
        self.limit = 0.0
        self.served = 0

    def assign(self, job: Job) -> None:
        self.job = job
        self.conn.send((job.path, job.known_fp))
        self.started = time.monotonic()
        self.limit = STARTUP_S + self.deadline(None)  # until the child says it began

    def deadline(self, duration_s: float | None) -> float:
        return analysis_timeout(
            duration_s,
            fixed_s=self.spec.analysis_timeout_s,
            max_duration_s=self.spec.max_duration_s,
        )

    def overdue(self, now: float) -> bool:
        return self.job is not None and now - self.started >= self.limit

    def stop(self, *, kill: bool) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                self.proc.kill()
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)
        self.conn.close()


def execute(
    work: Iterable[Job], spec: WorkerSpec, *, jobs: int, in_process: bool
) -> Iterator[dict[str, Any]]:
    """Yield one result per job, in completion order (see the module docstring).

    ``in_process`` analyses in this process, unsupervised (tests and debugging only).
    """
    work = list(work) if not isinstance(work, list) else work
    if not work:
        return
    if in_process:
        for job in work:
            yield process_file(spec, job.path, job.known_fp)
        return
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")
    queue = deque(work)
    children = [_Child(ctx, spec) for _ in range(min(jobs, len(work)))]
    crashes_in_a_row = 0

    def failed(child: _Child, reason: str, *, crash: bool) -> Iterator[dict[str, Any]]:
        nonlocal crashes_in_a_row
        job = child.job
        assert job is not None
        child.job = None
        job.attempts += 1
        log.error("analysis failed path=%s attempt=%d reason=%s", job.path, job.attempts, reason)
        if job.attempts < MAX_ATTEMPTS:
            queue.appendleft(job)  # again, in a fresh process
            return
        if crash:
            crashes_in_a_row += 1
            if crashes_in_a_row >= MAX_CRASHES_IN_A_ROW:
                raise SonicmapError(
                    f"analysis processes died on {crashes_in_a_row} files in a row "
                    f"(last: {job.path}: {reason}); they cannot run here (see the log above); "
                    "stopping the scan instead of marking every file as failed"
                )
        yield crash_result(job.path, reason)

    try:
        while queue or any(c.job is not None for c in children):
            for i, c in enumerate(children):
                if c.job is None and not c.proc.is_alive():
                    c.stop(kill=True)
                    children[i] = c = _Child(ctx, spec)
                if c.job is None and queue:
                    c.assign(queue.popleft())
            busy = [c for c in children if c.job is not None]
            now = time.monotonic()
            wake = min(c.started + c.limit for c in busy)
            ready = set(
                wait([c.conn for c in busy] + [c.proc.sentinel for c in busy], max(0.0, wake - now))
            )
            now = time.monotonic()
            for i, c in enumerate(children):
                if c.job is None:
                    continue
                if c.conn in ready:
                    try:
                        kind, value = c.conn.recv()
                    except (EOFError, OSError):
                        kind, value = "dead", None
                    if kind == "begin":
                        c.started, c.limit = now, c.deadline(None)
                        continue
                    if kind == "duration":
                        c.limit = c.deadline(value)
                        continue
                    if kind == "result":
                        c.job = None
                        c.served += 1
                        crashes_in_a_row = 0
                        yield value
                        if c.served >= MAX_TASKS_PER_CHILD:
                            c.stop(kill=False)
                            children[i] = _Child(ctx, spec)
                        continue
                if not c.proc.is_alive() or c.proc.sentinel in ready:
                    c.proc.join(timeout=5)
                    reason = death_reason(c.proc.exitcode)
                    yield from failed(c, reason, crash=True)
                    c.stop(kill=True)
                    children[i] = _Child(ctx, spec)
                elif c.overdue(now):
                    reason = f"timed out after {c.limit:.0f} s"
                    c.stop(kill=True)
                    yield from failed(c, reason, crash=False)
                    children[i] = _Child(ctx, spec)
    finally:
        for c in children:
            c.stop(kill=c.job is not None)
