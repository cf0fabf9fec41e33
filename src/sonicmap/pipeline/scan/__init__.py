"""The library scan: walk → change detection → parallel analysis → batched commits → post steps.

:func:`scan_library` is the one function the CLI (``sonicmap scan``), the worker (scan task) and
the API call. Outline (details and rationale in ``docs/scanning.md``), one module per part:

1. **Session and lock** (:mod:`.lock`, :mod:`.scanner`): a ``scan_sessions`` row (``running``)
   plus a lock in ``app_state`` (``scan.lock``: scan id, host, pid, heartbeat). A session left
   ``running`` by a dead process (same host and its pid gone, or no heartbeat for
   :data:`STALE_AFTER`) is marked ``interrupted``; a live one makes this scan fail with
   :class:`ConflictError`.
2. **Stored map** (:mod:`.scanner`): one streamed query loads ``{path: (id, size, mtime,
   status, fingerprint, analysis version)}`` for the tracks below the scanned paths — no query
   per file afterwards.
3. **Walk** (:func:`sonicmap.library.walk.walk`): a file whose size and mtime equal the stored
   ones, and whose stored analysis is current (or whose failure is current), is *unchanged*: one
   ``stat``, nothing more. Every other file is a candidate.
4. **Analysis** (:mod:`.executor`, :mod:`.file_step`) in ``jobs`` worker processes (``spawn``;
   BLAS/OpenMP capped at 1 thread each), fed lazily with at most ``4 × jobs`` files in flight.
   A worker stats the file again, computes its
   :func:`~sonicmap.library.walk.content_fingerprint`, reads its tags, and analyses it unless
   the fingerprint shows the audio is known (tag-only edit; or a file that moved from a path
   that disappeared) — then the stored analysis is kept. A decoder that kills its process is
   retried alone and, if it kills it again, recorded as failed: one bad file never stops a scan.
5. **Batched commits** (:mod:`.writer`): results are written ``auto_queue.batch_size`` at a
   time (or every :data:`FLUSH_EVERY_S` seconds), each file's track row and features in the same
   transaction as the session counters. A kill at any moment loses at most the uncommitted
   batch; the next scan sees the committed files as unchanged and analyses only the rest.
6. **Removal** (:mod:`.writer`, after the walk and all results): stored tracks below the
   scanned paths that were neither seen nor claimed by a move are deleted with everything
   derived from them (cascades), then artists and albums left without tracks.
7. **Post-scan** (:mod:`.post`): the :class:`PostStep` s handed in (by default
   ``refresh_embeddings`` for the added/changed/moved tracks and the artists they touched, then
   ``assign_new_artists``), then the adapter's ``after_scan(store, result)`` hook (auto-queue).
   A step's failure is logged and recorded in :attr:`ScanResult.post` as ``failed`` with its
   error, never turning a finished scan into a failed one.

Listing queries (``sonicmap tracks``) are in :mod:`.queries`.
"""

from sonicmap.pipeline.scan.executor import MAX_CRASHES_IN_A_ROW, MAX_TASKS_PER_CHILD, Job, execute
from sonicmap.pipeline.scan.file_step import (
    DEFAULT_ANALYZER,
    DEFAULT_TAG_READER,
    THREAD_ENV_VARS,
    WorkerSpec,
    cap_threads,
    process_file,
    resolve,
)
from sonicmap.pipeline.scan.lock import LOCK_KEY, STALE_AFTER
from sonicmap.pipeline.scan.post import (
    STANDARD_POST_STEPS,
    assign_new_artists_step,
    refresh_embeddings_step,
    run_post_steps,
)
from sonicmap.pipeline.scan.queries import count_tracks, list_tracks, tracks_needing_embeddings
from sonicmap.pipeline.scan.run import scan_library
from sonicmap.pipeline.scan.types import (
    PostStep,
    ProgressFn,
    ScanHook,
    ScanProgress,
    ScanResult,
    ScanTally,
    describe_error,
    jsonable,
)
from sonicmap.pipeline.scan.writer import FAILED_VERSION_KEY, FLUSH_EVERY_S

__all__ = [
    "DEFAULT_ANALYZER",
    "DEFAULT_TAG_READER",
    "FAILED_VERSION_KEY",
    "FLUSH_EVERY_S",
    "LOCK_KEY",
    "MAX_CRASHES_IN_A_ROW",
    "MAX_TASKS_PER_CHILD",
    "STALE_AFTER",
    "STANDARD_POST_STEPS",
    "THREAD_ENV_VARS",
    "Job",
    "PostStep",
    "ProgressFn",
    "ScanHook",
    "ScanProgress",
    "ScanResult",
    "ScanTally",
    "WorkerSpec",
    "assign_new_artists_step",
    "cap_threads",
    "count_tracks",
    "describe_error",
    "execute",
    "jsonable",
    "list_tracks",
    "process_file",
    "refresh_embeddings_step",
    "resolve",
    "run_post_steps",
    "scan_library",
    "tracks_needing_embeddings",
]
