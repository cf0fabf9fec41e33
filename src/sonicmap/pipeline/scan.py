"""The library scan: walk → change detection → parallel analysis → batched commits → hooks.

:func:`scan_library` is the one function the CLI (``sonicmap scan``), the worker (scan task) and
the API call. Outline (details and rationale in ``docs/scanning.md``):

1. **Session**: a ``scan_sessions`` row (``running``) plus a lock in ``app_state``
   (``scan.lock``: scan id, host, pid, heartbeat). A session left ``running`` by a dead process
   (same host and its pid gone, or no heartbeat for :data:`STALE_AFTER`) is marked
   ``interrupted``; a live one makes this scan fail with :class:`ConflictError`.
2. **Stored map**: one streamed query loads ``{path: (id, size, mtime, status, fingerprint,
   analysis version)}`` for the tracks below the scanned paths — no query per file afterwards.
3. **Walk** (:func:`sonicmap.library.walk.walk`): a file whose size and mtime equal the stored
   ones, and whose stored analysis is current (or whose failure is current), is *unchanged*: one
   ``stat``, nothing more. Every other file is a candidate.
4. **Analysis** in ``jobs`` worker processes (``spawn``; BLAS/OpenMP capped at 1 thread each),
   fed lazily with at most ``4 × jobs`` files in flight. A worker stats the file again, computes
   its :func:`~sonicmap.library.walk.content_fingerprint`, reads its tags, and analyses it unless
   the fingerprint shows the audio is known (tag-only edit; or a file that moved from a path that
   disappeared) — then the stored analysis is kept. A decoder that kills its process is retried
   alone and, if it kills it again, recorded as failed: one bad file never stops a scan.
5. **Batched commits**: results are written ``auto_queue.batch_size`` at a time (or every
   :data:`FLUSH_EVERY_S` seconds), each file's track row and features in the same transaction as
   the session counters. A kill at any moment loses at most the uncommitted batch; the next scan
   sees the committed files as unchanged and analyses only the rest.
6. **Removal** (after the walk and all results): stored tracks below the scanned paths that were
   neither seen nor claimed by a move are deleted with everything derived from them (cascades),
   then artists and albums left without tracks.
7. **Post-scan**: ``refresh_embeddings`` for the added/changed/moved tracks and the artists they
   touched, ``assign_new_artists``, then the adapter's ``after_scan(store, result)`` hook
   (auto-queue). Each step is optional (skipped with a log line if its module is absent) and its
   failure is logged and recorded in :attr:`ScanResult.post`, never turning a finished scan into
   a failed one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import math
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, func, select, update

from sonicmap.config import AppConfig
from sonicmap.errors import ConflictError, SonicmapError
from sonicmap.library.identity import album_identity, artist_identity, preferred_name
from sonicmap.library.walk import FileEntry, extension, is_within, scan_targets, walk
from sonicmap.store.schema import (
    Album,
    Artist,
    KeyValue,
    ScanFailure,
    ScanSession,
    Track,
    TrackEmbedding,
    TrackFeatures,
)

log = logging.getLogger(__name__)

#: Environment variables that cap BLAS/OpenMP thread pools in analysis worker processes.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
#: A ``running`` session whose heartbeat is older than this is considered dead.
STALE_AFTER = timedelta(minutes=15)
#: Commit at least this often (seconds), even when a batch is not full (slow analysis on a Pi).
FLUSH_EVERY_S = 20.0
#: Analysis jobs a worker process runs before it is replaced (guards against slow leaks).
MAX_TASKS_PER_CHILD = 400
#: Analysis processes dying on this many files in a row means a broken set-up, not bad files.
MAX_CRASHES_IN_A_ROW = 3
LOCK_KEY = "scan.lock"
FAILED_VERSION_KEY = "scan.failed_analysis_version"
DEFAULT_ANALYZER = "sonicmap.analysis:analyze_file"
DEFAULT_TAG_READER = "sonicmap.library.tags:read_tags"


# --------------------------------------------------------------------------------------------
# Public types
# --------------------------------------------------------------------------------------------


@dataclass
class ScanProgress:
    """A progress event: ``phase`` is ``"walk"`` (``total`` unknown), ``"analyse"`` or ``"finish"``."""

    phase: str
    done: int
    total: int | None = None
    path: str | None = None


ProgressFn = Callable[[ScanProgress], None]


@dataclass
class ScanResult:
    """What a scan did. Counts are files; ``failures`` lists ``{path, error}`` of this scan."""

    scan_id: int
    status: str = "running"
    roots: list[str] = field(default_factory=list)
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    moved: int = 0
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    duration_s: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: tracks whose row or analysis this scan wrote (added, changed, moved)
    track_ids: set[int] = field(default_factory=set)
    removed_track_ids: set[int] = field(default_factory=set)
    #: artists that gained, lost or changed tracks
    artist_ids: set[int] = field(default_factory=set)
    #: tracks analysed (decoded) by this scan — the others kept their stored analysis
    analysed: int = 0
    warnings: list[str] = field(default_factory=list)
    #: outcome of the post-scan steps: ``{"embeddings": ..., "assign": ..., "after_scan": ...}``
    post: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (the ``sonicmap scan --json`` document)."""
        return {
            "scan_id": self.scan_id,
            "status": self.status,
            "roots": list(self.roots),
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "moved": self.moved,
            "failed": self.failed,
            "analysed": self.analysed,
            "failures": list(self.failures),
            "duration_s": round(self.duration_s, 3),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "warnings": list(self.warnings),
            "post": _jsonable(self.post),
        }


class ScanHook(Protocol):
    """The adapter's post-scan hook (auto-queue): embedded mode trains in-process, service mode
    enqueues a Celery task. Its return value (JSON-able) lands in ``result.post["after_scan"]``."""

    def __call__(self, store: Any, result: ScanResult) -> Any: ...


# --------------------------------------------------------------------------------------------
# Worker side (runs in the analysis processes; keep imports lazy: thread caps come first)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, as plain data (sent once to each process)."""

    analyzer: str = DEFAULT_ANALYZER
    tag_reader: str = DEFAULT_TAG_READER
    max_duration_s: float | None = 1800.0
    #: fingerprints of stored tracks whose path disappeared: a file with one of these is a move
    missing_fingerprints: frozenset[str] = frozenset()


_SPEC: WorkerSpec | None = None
_FUNCS: dict[str, Callable[..., Any]] = {}


def cap_threads() -> None:
    """Cap BLAS/OpenMP pools at one thread in this process (call before numpy is imported)."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - optional
        pass


def _init_worker(spec: WorkerSpec) -> None:
    global _SPEC
    cap_threads()
    _SPEC = spec


def _resolve(dotted: str) -> Callable[..., Any]:
    fn = _FUNCS.get(dotted)
    if fn is None:
        module, _, name = dotted.partition(":")
        fn = getattr(importlib.import_module(module), name)
        _FUNCS[dotted] = fn
    return fn


def _run_job(path: str, known_fp: str | None) -> dict[str, Any]:
    assert _SPEC is not None, "worker not initialised"
    return process_file(_SPEC, path, known_fp)


def process_file(spec: WorkerSpec, path: str, known_fp: str | None) -> dict[str, Any]:
    """Stat, fingerprint, read tags and (unless the audio is known) analyse one file.

    Returns a plain dict: ``path``, ``size``, ``mtime``, ``fingerprint``, ``tags`` (dict or
    None), ``tags_error``, ``reuse`` (``"same"``: audio equals ``known_fp``; ``"moved"``: audio
    equals a disappeared track's; ``None``: analysed), ``analysis`` (``features``, ``sources``,
    ``duration_s``, ``analysed_s``, ``truncated``) and ``error`` (why the file failed, or None).
    Never raises for a bad file.
    """
    from sonicmap.library.walk import content_fingerprint

    out: dict[str, Any] = {
        "path": path,
        "size": 0,
        "mtime": 0.0,
        "fingerprint": None,
        "tags": None,
        "tags_error": None,
        "reuse": None,
        "analysis": None,
        "error": None,
    }
    try:
        st = os.stat(path)
        out["size"], out["mtime"] = st.st_size, st.st_mtime
        if st.st_size == 0:
            out["error"] = "empty file (0 bytes)"
            return out
        with open(path, "rb") as fh:  # permission problems surface here, clearly
            fh.read(1)
    except OSError as exc:
        out["error"] = f"cannot read file: {exc.strerror or exc}"
        return out
    fp = content_fingerprint(path)
    out["fingerprint"] = fp
    tags = None
    try:
        tags = _resolve(spec.tag_reader)(path)
        out["tags"] = _tags_dict(tags)
    except Exception as exc:  # noqa: BLE001 - a tag failure must not stop the analysis
        out["tags_error"] = _describe_error(exc)
    if fp is not None and known_fp is not None and fp == known_fp:
        out["reuse"] = "same"
        return out
    if fp is not None and fp in spec.missing_fingerprints:
        out["reuse"] = "moved"
        return out
    try:
        analysis = _resolve(spec.analyzer)(path, max_duration_s=spec.max_duration_s, tags=tags)
        out["analysis"] = {
            "features": _jsonable(analysis.features),
            "sources": _jsonable(getattr(analysis, "sources", {}) or {}),
            "duration_s": float(getattr(analysis, "duration_s", 0.0) or 0.0),
            "analysed_s": float(getattr(analysis, "analysed_s", 0.0) or 0.0),
            "truncated": bool(getattr(analysis, "truncated", False)),
        }
    except Exception as exc:  # noqa: BLE001 - every failure is recorded against the file
        out["error"] = _describe_error(exc)
    return out


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, SonicmapError):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def _tags_dict(tags: Any) -> dict[str, Any] | None:
    if tags is None:
        return None
    if dataclasses.is_dataclass(tags) and not isinstance(tags, type):
        data = dataclasses.asdict(tags)
    elif isinstance(tags, dict):
        data = dict(tags)
    else:
        data = dict(vars(tags))
    data.pop("raw", None)  # unbounded (lyrics, comments); the named fields are what we use
    return _jsonable(data)


def _jsonable(obj: Any) -> Any:
    """Plain JSON types (numpy scalars/arrays → Python; NaN/inf → None; dates → ISO)."""
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_jsonable(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, datetime):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return _jsonable(obj.tolist())
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


# --------------------------------------------------------------------------------------------
# Main side
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Stored:
    id: int
    size: int
    mtime: float
    status: str
    fingerprint: str | None
    version: int | None


@dataclass(slots=True)
class _Job:
    path: str
    stored: _Stored | None
    known_fp: str | None
    attempts: int = 0


def scan_library(
    store: Any,
    cfg: AppConfig,
    *,
    paths: Sequence[str | Path] | None = None,
    jobs: int | None = None,
    progress: ProgressFn | None = None,
    after_scan: ScanHook | None = None,
    analyzer: str | None = None,
    tag_reader: str | None = None,
    analysis_version: int | None = None,
    in_process: bool = False,
    post_steps: bool = True,
    task_id: str | None = None,
) -> ScanResult:
    """Scan the library (or ``paths`` inside it) and bring the store up to date.

    Parameters
    ----------
    store : :class:`sonicmap.store.db.Store`.
    cfg : the application configuration (roots, jobs, analysis cap, ``auto_queue.batch_size``).
    paths : folders/files to scan; each must lie inside a configured root
        (:class:`PathNotAllowedError`). With no roots configured they become the roots.
    jobs : analysis processes (default ``cfg.settings.default_jobs``).
    progress : called with :class:`ScanProgress` events (CLI progress bar; tasks pass None).
    after_scan : the adapter's :class:`ScanHook`, called last with the store and the result.
    analyzer, tag_reader : ``"module:function"`` seams (defaults: the real analysis and tag
        reader); tests plug small fakes here.
    analysis_version : version of ``analyzer`` (default ``sonicmap.analysis.ANALYSIS_VERSION``);
        stored analyses of another version are redone (counted as changed).
    in_process : analyse in this process (no pool) — for tests and debugging.
    post_steps : run the embeddings refresh and new-artist assignment after the scan.
    """
    s = cfg.settings
    walk_paths, roots = scan_targets(s.library_roots, paths)
    if analysis_version is None:
        from sonicmap.analysis import ANALYSIS_VERSION

        analysis_version = int(ANALYSIS_VERSION)
    n_jobs = max(1, int(jobs or s.default_jobs))
    batch_size = cfg.gmm.gmm_clustering.auto_queue.batch_size
    t0 = time.monotonic()
    scanner = _Scanner(
        store,
        walk_paths=walk_paths,
        roots=roots,
        version=analysis_version,
        batch_size=batch_size,
        progress=progress,
    )
    scanner.begin(task_id=task_id)
    result = scanner.result
    try:
        scanner.load_stored()
        candidates, missing_roots = scanner.walk_and_compare()
        scanner.missing(missing_roots)
        spec = WorkerSpec(
            analyzer=analyzer or DEFAULT_ANALYZER,
            tag_reader=tag_reader or DEFAULT_TAG_READER,
            max_duration_s=s.max_analysis_seconds,
            # only analyses of the current version may be carried over to a new path
            missing_fingerprints=frozenset(scanner.claimable),
        )
        scanner.process(candidates, spec, jobs=n_jobs, in_process=in_process)
        scanner.remove()
        result.duration_s = time.monotonic() - t0
        scanner.finish("completed")
    except BaseException as exc:
        result.duration_s = time.monotonic() - t0
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        with contextlib.suppress(Exception):
            scanner.finish(status, error=_describe_error(exc))
        raise
    log.info(
        "scan finished scan_id=%s added=%d changed=%d moved=%d removed=%d unchanged=%d failed=%d "
        "analysed=%d duration_s=%.1f",
        result.scan_id,
        result.added,
        result.changed,
        result.moved,
        result.removed,
        result.unchanged,
        result.failed,
        result.analysed,
        result.duration_s,
    )
    if post_steps:
        run_post_steps(store, cfg, result)
    if after_scan is not None:
        try:
            result.post["after_scan"] = after_scan(store, result)
        except Exception as exc:  # noqa: BLE001 - the scan itself succeeded
            log.exception("after-scan hook failed scan_id=%s", result.scan_id)
            result.post["after_scan"] = {"status": "failed", "error": _describe_error(exc)}
    return result


def run_post_steps(store: Any, cfg: AppConfig, result: ScanResult) -> None:
    """Refresh embeddings of what the scan touched, then assign new artists to clusters."""

    def embeddings(refresh_embeddings: Callable[..., Any]) -> dict[str, Any]:
        ids = set(result.track_ids) | _tracks_needing_embeddings(store)
        touched = set(
            refresh_embeddings(
                store, cfg, track_ids=sorted(ids), artist_ids=sorted(result.artist_ids)
            )
            or ()
        )
        result.artist_ids |= touched
        return {"status": "ok", "tracks": len(ids), "artists": len(touched)}

    def assign(assign_new_artists: Callable[..., Any]) -> dict[str, Any]:
        return {"status": "ok", "result": _jsonable(assign_new_artists(store, cfg))}

    _post_step(result, "embeddings", "sonicmap.pipeline.embeddings:refresh_embeddings", embeddings)
    _post_step(result, "assign", "sonicmap.pipeline.clustering:assign_new_artists", assign)


def _post_step(
    result: ScanResult, name: str, target: str, run: Callable[[Callable[..., Any]], Any]
) -> None:
    """Run one optional post-scan step; a missing module skips it, a failure is recorded."""
    try:
        fn = _resolve(target)
    except (ImportError, AttributeError):
        log.info("%s not available; skipping post-scan step %s", target, name)
        result.post[name] = {"status": "skipped", "reason": f"{target} not available"}
        return
    try:
        result.post[name] = run(fn)
    except Exception as exc:  # noqa: BLE001 - the scan itself succeeded
        log.exception("post-scan step %s failed scan_id=%s", name, result.scan_id)
        result.post[name] = {"status": "failed", "error": _describe_error(exc)}


def _tracks_needing_embeddings(store: Any) -> set[int]:
    """Analysed tracks without a vector (e.g. left by a scan that was killed before its
    embedding step): picked up by the next scan whatever it finds changed."""
    with store.session() as ses:
        return set(
            ses.scalars(
                select(Track.id)
                .outerjoin(TrackEmbedding, TrackEmbedding.track_id == Track.id)
                .where(Track.status == "analysed", TrackEmbedding.track_id.is_(None))
            )
        )


class _Scanner:
    """State of one scan (kept out of the public function to keep each step small)."""

    def __init__(
        self,
        store: Any,
        *,
        walk_paths: list[str],
        roots: list[str],
        version: int,
        batch_size: int,
        progress: ProgressFn | None,
    ) -> None:
        self.store = store
        self.walk_paths = walk_paths
        self.roots = roots
        self.version = version
        self.batch_size = batch_size
        self.progress = progress
        self.stored: dict[str, _Stored] = {}
        self.failed_version: int | None = None
        self.result = ScanResult(scan_id=0, roots=list(walk_paths))
        self.pending: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()
        self.claimable: dict[str, list[int]] = {}  # fingerprint -> ids of disappeared tracks
        self.missing_map: dict[str, _Stored] = {}
        self.artist_cache: dict[str, tuple[int, str]] = {}  # key -> (id, display name)
        self.album_cache: dict[str, tuple[int, str]] = {}
        self.host = socket.gethostname()

    # -- session ----------------------------------------------------------------------------

    def begin(self, *, task_id: str | None) -> None:
        now = datetime.now(UTC)
        with self.store.session() as ses:
            lock = _get_state(ses, LOCK_KEY) or {}
            for sess in ses.scalars(select(ScanSession).where(ScanSession.status == "running")):
                if lock.get("scan_id") == sess.id and _lock_alive(lock, self.host, now):
                    raise ConflictError(
                        f"scan {sess.id} is still running (host {lock.get('host')}, pid "
                        f"{lock.get('pid')}); wait for it to finish"
                    )
                log.warning(
                    "marking scan left running by a dead process as interrupted scan_id=%s", sess.id
                )
                sess.status = "interrupted"
                sess.finished_at = sess.finished_at or now
                sess.error = sess.error or "the scanning process stopped before finishing"
            row = ScanSession(
                status="running", roots=list(self.walk_paths), started_at=now, task_id=task_id
            )
            ses.add(row)
            ses.flush()
            self.result.scan_id = row.id
            self.result.started_at = now
            _set_state(ses, LOCK_KEY, self._lock_value(now), now)
            self.failed_version = _get_state(ses, FAILED_VERSION_KEY)

    def _lock_value(self, now: datetime) -> dict[str, Any]:
        return {
            "scan_id": self.result.scan_id,
            "host": self.host,
            "pid": os.getpid(),
            "heartbeat": now.isoformat(),
        }

    def heartbeat(self) -> None:
        """Refresh the lock's heartbeat (so another scan does not take this one for dead)."""
        self.last_flush = time.monotonic()
        now = datetime.now(UTC)
        with self.store.session() as ses:
            _set_state(ses, LOCK_KEY, self._lock_value(now), now)

    def finish(self, status: str, *, error: str | None = None) -> None:
        now = datetime.now(UTC)
        r = self.result
        r.status = status
        r.finished_at = now
        with self.store.session() as ses:
            self._write_counts(ses, now)
            ses.execute(
                update(ScanSession)
                .where(ScanSession.id == r.scan_id)
                .values(status=status, finished_at=now, error=error)
            )
            lock = _get_state(ses, LOCK_KEY) or {}
            if lock.get("scan_id") == r.scan_id:
                ses.execute(delete(KeyValue).where(KeyValue.key == LOCK_KEY))
            if status == "completed" and self.failed_version != self.version:
                _set_state(ses, FAILED_VERSION_KEY, self.version, now)
        self._emit("finish", 1, 1)

    def _write_counts(self, ses: Any, now: datetime) -> None:
        r = self.result
        ses.execute(
            update(ScanSession)
            .where(ScanSession.id == r.scan_id)
            .values(
                added=r.added,
                changed=r.changed,
                removed=r.removed,
                unchanged=r.unchanged,
                moved=r.moved,
                failed=r.failed,
            )
        )
        _set_state(ses, LOCK_KEY, self._lock_value(now), now)

    def _emit(self, phase: str, done: int, total: int | None, path: str | None = None) -> None:
        if self.progress is not None:
            self.progress(ScanProgress(phase, done, total, path))

    # -- stored map, walk -------------------------------------------------------------------

    def load_stored(self) -> None:
        q = (
            select(
                Track.id,
                Track.path,
                Track.size,
                Track.mtime,
                Track.status,
                Track.fingerprint,
                TrackFeatures.analysis_version,
            )
            .outerjoin(TrackFeatures, TrackFeatures.track_id == Track.id)
            .execution_options(yield_per=5000)
        )
        with self.store.session() as ses:
            for tid, path, size, mtime, status, fp, version in ses.execute(q):
                if any(is_within(path, w) for w in self.walk_paths):
                    self.stored[path] = _Stored(tid, size, mtime, status, fp, version)

    def _is_current(self, st: _Stored) -> bool:
        if st.status == "analysed":
            return st.version == self.version
        if st.status == "failed":
            return self.failed_version is None or self.failed_version == self.version
        return False

    def walk_and_compare(self) -> tuple[list[tuple[FileEntry, _Stored | None]], list[str]]:
        """Walk; count unchanged files; return the candidates and the walk paths that are gone."""
        candidates: list[tuple[FileEntry, _Stored | None]] = []
        missing_roots: list[str] = []
        seen = 0
        for start in self.walk_paths:
            if not os.path.exists(start):
                msg = f"{start} does not exist (unmounted disk?); its stored tracks are kept"
                log.warning("scan path missing path=%s", start)
                self.result.warnings.append(msg)
                missing_roots.append(start)
                continue
            for entry in walk([start], roots=self.roots):
                seen += 1
                st = self.stored.pop(entry.path, None)
                if (
                    st is not None
                    and st.size == entry.size
                    and st.mtime == entry.mtime
                    and self._is_current(st)
                ):
                    self.result.unchanged += 1
                else:
                    candidates.append((entry, st))
                if seen % 1000 == 0:
                    self._emit("walk", seen, None)
                    if time.monotonic() - self.last_flush >= FLUSH_EVERY_S:
                        self.heartbeat()  # a long walk (USB disk) must not look dead
        self._emit("walk", seen, seen)
        return candidates, missing_roots

    def missing(self, missing_roots: list[str]) -> dict[str, _Stored]:
        """Stored tracks not seen by the walk (below walk paths that still exist)."""
        gone = {
            p: st
            for p, st in self.stored.items()
            if not any(is_within(p, m) for m in missing_roots)
        }
        self.stored = {}
        self.missing_map = gone
        for st in gone.values():
            if st.fingerprint and st.status == "analysed" and st.version == self.version:
                self.claimable.setdefault(st.fingerprint, []).append(st.id)
        return gone

    # -- processing -------------------------------------------------------------------------

    def process(
        self,
        candidates: list[tuple[FileEntry, _Stored | None]],
        spec: WorkerSpec,
        *,
        jobs: int,
        in_process: bool,
    ) -> None:
        total = len(candidates)
        done = 0
        self._emit("analyse", 0, total)
        work: list[_Job] = []
        for entry, st in candidates:
            if entry.problem is not None:
                self._accept(_problem_result(entry))
                done += 1
                continue
            known = (
                st.fingerprint
                if st is not None and st.status == "analysed" and st.version == self.version
                else None
            )
            work.append(_Job(entry.path, st, known))
        self._emit("analyse", done, total)
        for res in _execute(work, spec, jobs=jobs, in_process=in_process):
            self._accept(res)
            done += 1
            self._emit("analyse", done, total, res["path"])
        self.flush()

    def _accept(self, res: dict[str, Any]) -> None:
        self.pending.append(res)
        if (
            len(self.pending) >= self.batch_size
            or time.monotonic() - self.last_flush >= FLUSH_EVERY_S
        ):
            self.flush()

    def flush(self) -> None:
        """Write pending results, the session counters and the heartbeat in one transaction."""
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        r = self.result
        saved = (r.added, r.changed, r.moved, r.failed, r.analysed, len(r.failures))
        ids_before, artists_before = set(r.track_ids), set(r.artist_ids)
        claimable_before = {k: list(v) for k, v in self.claimable.items()}
        try:
            now = datetime.now(UTC)
            with self.store.session() as ses:
                for res in batch:
                    self._write_one(ses, res, now)
                if any(res["error"] for res in batch) and self.failed_version is None:
                    _set_state(ses, FAILED_VERSION_KEY, self.version, now)
                    self.failed_version = self.version
                self._write_counts(ses, now)
        except BaseException:
            # keep the in-memory view equal to what is committed
            r.added, r.changed, r.moved, r.failed, r.analysed, nfail = saved
            del r.failures[nfail:]
            r.track_ids, r.artist_ids = ids_before, artists_before
            self.claimable = claimable_before
            self.artist_cache.clear()
            self.album_cache.clear()
            raise

    def _write_one(self, ses: Any, res: dict[str, Any], now: datetime) -> None:
        r = self.result
        path = res["path"]
        row: Track | None = ses.scalar(select(Track).where(Track.path == path))
        if res["error"]:
            r.failed += 1
            r.failures.append({"path": path, "error": res["error"]})
            ses.add(ScanFailure(scan_id=r.scan_id, path=path, error=res["error"]))
            row = self._row_for(ses, row, res, now)
            row.status = "failed"
            row.last_error = res["error"]
            row.analysed_at = None
            ses.flush()
            ses.execute(delete(TrackFeatures).where(TrackFeatures.track_id == row.id))
            ses.execute(delete(TrackEmbedding).where(TrackEmbedding.track_id == row.id))
            return

        reuse = res["reuse"]
        if reuse == "moved":
            claimed = self._claim(res["fingerprint"])
            if claimed is not None:
                if row is not None:  # the new path held other (now replaced) audio
                    if row.artist_id is not None:
                        r.artist_ids.add(row.artist_id)
                    ses.delete(row)
                    ses.flush()
                moved = ses.get(Track, claimed)
                if moved is not None:
                    old_artist = moved.artist_id
                    moved.path = path
                    self._fill_row(ses, moved, res, now)
                    ses.flush()
                    r.moved += 1
                    r.track_ids.add(moved.id)
                    for a in (old_artist, moved.artist_id):
                        if a is not None:
                            r.artist_ids.add(a)
                    return
            # no disappeared track left to claim (duplicates): copy the analysis of the audio
            reuse = "copy"

        is_new = row is None
        row = self._row_for(ses, row, res, now)
        row.status = "analysed"
        row.last_error = None
        ses.flush()
        if reuse == "same":
            pass  # audio unchanged: the stored analysis stays
        else:
            analysis = res["analysis"]
            if reuse == "copy":
                analysis = self._analysis_of_fingerprint(ses, res["fingerprint"])
            if analysis is None:  # copy source vanished meanwhile: analyse on the next scan
                row.status = "pending"
                row.mtime = -1.0
            else:
                ses.execute(delete(TrackFeatures).where(TrackFeatures.track_id == row.id))
                ses.add(
                    TrackFeatures(
                        track_id=row.id,
                        analysis_version=self.version,
                        features=analysis["features"],
                        sources=analysis.get("sources") or {},
                        created_at=now,
                    )
                )
                if analysis.get("duration_s"):
                    row.duration_s = analysis["duration_s"]
                row.analysed_at = now
                if reuse is None:
                    r.analysed += 1
        if is_new:
            r.added += 1
        else:
            r.changed += 1
        r.track_ids.add(row.id)
        if row.artist_id is not None:
            r.artist_ids.add(row.artist_id)

    def _row_for(self, ses: Any, row: Track | None, res: dict[str, Any], now: datetime) -> Track:
        """The existing row (its old artist counted as touched) or a new one, filled from ``res``."""
        if row is None:
            row = Track(path=res["path"], created_at=now)
            ses.add(row)
        elif row.artist_id is not None:
            self.result.artist_ids.add(row.artist_id)
        self._fill_row(ses, row, res, now)
        return row

    def _claim(self, fp: str | None) -> int | None:
        ids = self.claimable.get(fp or "")
        if not ids:
            return None
        tid = ids.pop()
        for p, st in list(self.missing_map.items()):
            if st.id == tid:
                del self.missing_map[p]
                break
        return tid

    def _analysis_of_fingerprint(self, ses: Any, fp: str | None) -> dict[str, Any] | None:
        if not fp:
            return None
        row = ses.execute(
            select(TrackFeatures.features, TrackFeatures.sources)
            .join(Track, Track.id == TrackFeatures.track_id)
            .where(Track.fingerprint == fp, TrackFeatures.analysis_version == self.version)
            .limit(1)
        ).first()
        return None if row is None else {"features": row[0], "sources": row[1]}

    def _fill_row(self, ses: Any, row: Track, res: dict[str, Any], now: datetime) -> None:
        """Copy file facts and tag-derived fields (artist, album, title) onto ``row``."""
        row.size = int(res["size"])
        row.mtime = float(res["mtime"])
        row.format = extension(res["path"])[:16] or None
        row.updated_at = now
        if res.get("fingerprint"):
            row.fingerprint = res["fingerprint"]
        tags = res.get("tags")
        if tags is None and res.get("tags_error") is None and res.get("error"):
            tags = row.tags if row.tags else None  # a failed read keeps what we knew
        tags = tags or {}
        row.tags = tags
        row.title = (str(tags.get("title") or "") or Path(res["path"]).stem)[:512]
        if tags.get("duration_s"):
            row.duration_s = float(tags["duration_s"])
        artist = artist_identity(tags)
        row.artist_id = self._artist_id(ses, artist) if artist else None
        album = album_identity(tags, artist)
        row.album_id = self._album_id(ses, album) if album else None

    def _artist_id(self, ses: Any, ident: Any) -> int:
        name = ident.name[:512]
        if ident.key not in self.artist_cache:
            from sonicmap.store.repo import get_or_create_artist

            row = get_or_create_artist(ses, key=ident.key, name=name, mbid=ident.mbid)
            self.artist_cache[ident.key] = (row.id, row.name)
        return _keep_preferred(ses, self.artist_cache, ident.key, name, Artist.name)

    def _album_id(self, ses: Any, ident: Any) -> int:
        title = ident.title[:512]
        if ident.key not in self.album_cache:
            from sonicmap.store.repo import get_or_create_album

            row = get_or_create_album(
                ses,
                key=ident.key[:1024],
                title=title,
                album_artist=(ident.album_artist or None) and ident.album_artist[:512],
                mbid=ident.mbid,
            )
            self.album_cache[ident.key] = (row.id, row.title)
        return _keep_preferred(ses, self.album_cache, ident.key, title, Album.title)

    # -- removal ----------------------------------------------------------------------------

    def remove(self) -> None:
        """Delete tracks that disappeared (and were not moved), then orphaned artists/albums."""
        gone = [st.id for st in self.missing_map.values()]
        r = self.result
        now = datetime.now(UTC)
        with self.store.session() as ses:
            for chunk in _chunks(gone, 500):
                r.artist_ids |= {
                    a
                    for a in ses.scalars(select(Track.artist_id).where(Track.id.in_(chunk)))
                    if a is not None
                }
                ses.execute(delete(TrackFeatures).where(TrackFeatures.track_id.in_(chunk)))
                ses.execute(delete(TrackEmbedding).where(TrackEmbedding.track_id.in_(chunk)))
                ses.execute(delete(Track).where(Track.id.in_(chunk)))
            r.removed = len(gone)
            r.removed_track_ids = set(gone)
            if gone or r.moved or r.changed:
                _delete_orphans(ses)
                # artists deleted as orphans are no longer "touched"
                alive = (
                    set(ses.scalars(select(Artist.id).where(Artist.id.in_(r.artist_ids))))
                    if r.artist_ids
                    else set()
                )
                r.artist_ids &= alive
            self._write_counts(ses, now)
        self.missing_map = {}


def _delete_orphans(ses: Any) -> None:
    has_tracks = select(Track.id).where(Track.artist_id == Artist.id).exists()
    ses.execute(delete(Artist).where(~has_tracks).execution_options(synchronize_session=False))
    has_album_tracks = select(Track.id).where(Track.album_id == Album.id).exists()
    ses.execute(delete(Album).where(~has_album_tracks).execution_options(synchronize_session=False))


def _problem_result(entry: FileEntry) -> dict[str, Any]:
    return {
        "path": entry.path,
        "size": entry.size,
        "mtime": entry.mtime,
        "fingerprint": None,
        "tags": None,
        "tags_error": None,
        "reuse": None,
        "analysis": None,
        "error": entry.problem,
    }


def _crash_result(job: _Job) -> dict[str, Any]:
    try:
        st = os.stat(job.path)
        size = st.st_size
    except OSError:
        size = 0
    # mtime -1: never equal to the file's, so a crash is retried at the next scan (it may have
    # been the machine, e.g. out of memory, rather than the file)
    res = _problem_result(FileEntry(job.path, size, -1.0))
    res["error"] = "the analysis process crashed on this file (decoder fault or out of memory)"
    return res


def _chunks(items: Sequence[int], n: int) -> Iterator[list[int]]:
    for i in range(0, len(items), n):
        yield list(items[i : i + n])


def _get_state(ses: Any, key: str) -> Any:
    from sonicmap.store.repo import get_state

    return get_state(ses, key)


def _keep_preferred(
    ses: Any, cache: dict[str, tuple[int, str]], key: str, spelling: str, column: Any
) -> int:
    """The id of the cached artist/album ``key`` (``cache``: key -> (id, display name)); its
    display name (``column``, e.g. ``Artist.name``) becomes ``spelling`` when that is the better
    one (:func:`preferred_name`), so the name does not depend on the scanning order."""
    row_id, shown = cache[key]
    best = preferred_name(shown, spelling)
    if best != shown:
        model = column.class_
        ses.execute(update(model).where(model.id == row_id).values({column.key: best}))
        cache[key] = (row_id, best)
    return row_id


def _set_state(ses: Any, key: str, value: Any, now: datetime) -> None:
    from sonicmap.store.repo import set_state

    set_state(ses, key, value, now=now)


def _lock_alive(lock: dict[str, Any], host: str, now: datetime) -> bool:
    """Is the process holding the scan lock alive? Same host: by pid; else: by heartbeat age."""
    try:
        beat = datetime.fromisoformat(str(lock.get("heartbeat")))
    except ValueError:
        return False
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    if lock.get("host") == host:
        pid = int(lock.get("pid") or 0)
        if pid <= 0 or pid == os.getpid():
            return False
        try:
            import psutil

            proc = psutil.Process(pid)
            return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        except Exception:  # noqa: BLE001 - no such process (or no access): dead for us
            return False
    return now - beat < STALE_AFTER


# --------------------------------------------------------------------------------------------
# Execution: bounded, lazily fed process pool that survives crashing decoders
# --------------------------------------------------------------------------------------------


def _execute(
    work: Iterable[_Job], spec: WorkerSpec, *, jobs: int, in_process: bool
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
    suspects: deque[_Job] = deque()

    def make() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=n,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(spec,),
            max_tasks_per_child=MAX_TASKS_PER_CHILD,
        )

    executor = make()
    pending: dict[Future[dict[str, Any]], _Job] = {}
    crashes_in_a_row = 0
    try:
        while queue or suspects or pending:
            isolating = bool(suspects)
            refused = False
            while (suspects or queue) and len(pending) < (1 if isolating else limit):
                source = suspects if suspects else queue
                job = source.popleft()
                try:
                    fut = executor.submit(_run_job, job.path, job.known_fp)
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
                        yield _crash_result(job)
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


def count_tracks(store: Any) -> dict[str, int]:
    """Number of stored tracks per status."""
    with store.session() as ses:
        return {
            s: n for s, n in ses.execute(select(Track.status, func.count()).group_by(Track.status))
        }


def list_tracks(
    store: Any, *, status: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Stored tracks (newest path order), as JSON-able dicts with artist/album names."""
    q = (
        select(Track, Artist.name, Album.title)
        .outerjoin(Artist, Artist.id == Track.artist_id)
        .outerjoin(Album, Album.id == Track.album_id)
        .order_by(Track.path)
    )
    if status is not None:
        q = q.where(Track.status == status)
    if limit:
        q = q.limit(limit)
    with store.session() as ses:
        return [
            {
                "id": t.id,
                "path": t.path,
                "status": t.status,
                "title": t.title,
                "artist": artist,
                "album": album,
                "format": t.format,
                "duration_s": t.duration_s,
                "size": t.size,
                "last_error": t.last_error,
                "analysed_at": t.analysed_at.isoformat() if t.analysed_at else None,
            }
            for t, artist, album in ses.execute(q)
        ]
