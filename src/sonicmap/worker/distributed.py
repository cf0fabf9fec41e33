"""Distributed scans: several workers (even on several machines) share a scan's analysis.

Design (the way to grow beyond one machine, see ``docs/periodic-tasks.md``):

1. ``scan_library`` (the coordinator, queue ``scan``) walks the library, picks the files whose
   size/mtime differ from the store (or that have no stored analysis), and — when there are more
   than one chunk's worth — publishes a Celery **chord**: one ``scan_analyse_chunk`` task per
   ``scan_chunk_size`` files (queue ``scan``, any worker consumes it) with ``scan_finish`` as the
   callback. No task ever waits for another, so even a single worker with concurrency 1 cannot
   deadlock.
2. ``scan_analyse_chunk`` runs the scan pipeline's own per-file step
   (:func:`sonicmap.pipeline.scan.process_file`: tags + audio analysis, the expensive part) and
   parks each outcome in ``app_state`` under ``analysis_cache:<scan>:<sha1(path)>`` together
   with the file's size and mtime; ``<scan>`` is the chord's own id (the task id of its
   ``scan_finish``), handed to every chunk.
3. ``scan_finish`` runs the ordinary :func:`sonicmap.pipeline.scan.scan_library` in-process with
   the analyser seam pointing at the :class:`AnalysisCache` of its scan, which returns the
   parked analysis when the file still has the same size and mtime (else it analyses the file
   itself). The scan pipeline thus keeps sole ownership of change detection, moves, removal,
   batched commits, resumability, the post-scan steps and the auto-queue hook; then that scan's
   parked rows — and only those — are deleted, so scans in flight together never see or delete
   each other's.

The cache lives in the database, so it needs nothing beyond what every worker already shares
(no shared disk, works with RabbitMQ too). Every worker needs the music folder at the same path
(e.g. the same NFS/SMB mount).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from sonicmap.config import AppConfig
from sonicmap.errors import SonicmapError
from sonicmap.store.schema import KeyValue, Track, TrackFeatures

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)

CACHE_PREFIX = "analysis_cache:"


def scan_prefix(cache_id: str) -> str:
    """The start of every ``app_state`` key of the scan ``cache_id``'s parked analyses."""
    return f"{CACHE_PREFIX}{cache_id}:"


def cache_key(cache_id: str, path: str) -> str:
    """The ``app_state`` key of ``path``'s parked analysis in the scan ``cache_id``."""
    return scan_prefix(cache_id) + hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()


def find_candidates(store: Store, cfg: AppConfig, paths: Sequence[str | Path] | None) -> list[str]:
    """Files the scan will (probably) have to analyse: new, or size/mtime changed, or without a
    stored analysis. Only an optimisation — the scan itself decides; a miss costs a local
    analysis, an extra entry a wasted one.
    """
    from sonicmap.library.walk import is_within, scan_targets, walk

    walk_paths, roots = scan_targets(cfg.settings.library_roots, paths)
    stored: dict[str, tuple[int, float, bool]] = {}
    q = select(Track.path, Track.size, Track.mtime, TrackFeatures.track_id).outerjoin(
        TrackFeatures, TrackFeatures.track_id == Track.id
    )
    with store.session() as s:
        for path, size, mtime, has_features in s.execute(q):
            if any(is_within(path, w) for w in walk_paths):
                stored[path] = (size, mtime, has_features is not None)
    out = []
    for start in walk_paths:
        if not os.path.exists(start):
            continue
        for entry in walk([start], roots=roots):
            if entry.problem is not None:
                continue
            st = stored.get(entry.path)
            if st is None or st[0] != entry.size or st[1] != entry.mtime or not st[2]:
                out.append(entry.path)
    return sorted(out)


def chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def analyse_files(
    paths: Sequence[str],
    *,
    max_duration_s: float | None,
    analyzer: str | None,
    timeout_s: float | None = None,
) -> list[dict[str, Any]]:
    """The scan pipeline's per-file step on each of ``paths``, through the scan's supervised
    executor (a child process: a crash or a hang fails the file, never this worker)."""
    from sonicmap.pipeline import scan

    spec = scan.WorkerSpec(
        analyzer=analyzer or scan.DEFAULT_ANALYZER,
        max_duration_s=max_duration_s,
        analysis_timeout_s=timeout_s,
    )
    jobs = [scan.Job(path, None, None) for path in paths]
    return list(scan.execute(jobs, spec, jobs=1, in_process=False))


def outcome_counts(outcomes: Sequence[dict[str, Any]]) -> dict[str, int]:
    """``{"files", "failed"}`` of per-file outcomes."""
    return {"files": len(outcomes), "failed": sum(1 for r in outcomes if r["error"])}


@dataclass
class CachedAnalysis:
    """Shape of :class:`sonicmap.analysis.Analysis` rebuilt from the cache."""

    features: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    analysed_s: float = 0.0
    truncated: bool = False


class CachedAnalysisError(SonicmapError):
    """The chunk worker's analysis of this file failed; the message is the original one."""


class AnalysisCache:
    """The analyses parked for one distributed scan (``cache_id``: the chord's id).

    ``park`` (chunk tasks, any worker) analyses files and stores the outcomes; ``analyze`` is
    the scan's analyser seam in ``scan_finish``; ``clear`` deletes this scan's rows only.
    ``fallback`` is the ``"module:function"`` analyser for files without a valid parked
    analysis (default: the real one).
    """

    def __init__(self, store: Store, cache_id: str, *, fallback: str | None = None) -> None:
        if not cache_id or len(cache_key(cache_id, "")) > 128:  # app_state.key is 128 chars
            raise ValueError(f"cache_id={cache_id!r}: expected a non-empty id of at most 72 chars")
        self.store = store
        self.cache_id = cache_id
        self.fallback = fallback

    # The cache is the analyser seam of the scan's analysis processes: it crosses into them
    # as its database URL (each process opens its own store) and is called like a function.
    def __getstate__(self) -> dict[str, Any]:
        url = self.store.engine.url.render_as_string(hide_password=False)
        return {"url": url, "cache_id": self.cache_id, "fallback": self.fallback}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from sonicmap.store.db import Store, make_engine

        self.store = Store(make_engine(state["url"]))
        self.cache_id = state["cache_id"]
        self.fallback = state["fallback"]

    def __call__(self, path: str, *, max_duration_s: float | None = None, tags: Any = None) -> Any:
        return self.analyze(path, max_duration_s=max_duration_s, tags=tags)

    def park(
        self,
        paths: Sequence[str],
        *,
        max_duration_s: float | None,
        analyzer: str | None,
        timeout_s: float | None = None,
    ) -> dict[str, int]:
        """Analyse ``paths`` and park each outcome; returns ``{"files", "failed"}``."""
        outcomes = analyse_files(
            paths, max_duration_s=max_duration_s, analyzer=analyzer, timeout_s=timeout_s
        )
        now = datetime.now(UTC)
        with self.store.session() as s:
            for res in outcomes:
                value = {k: res[k] for k in ("path", "size", "mtime", "analysis", "error")}
                if value["mtime"] == -1.0:  # a crash or timeout: park it against the file as is
                    with contextlib.suppress(OSError):
                        st = os.stat(res["path"])
                        value["size"], value["mtime"] = st.st_size, st.st_mtime
                s.merge(
                    KeyValue(key=cache_key(self.cache_id, res["path"]), value=value, updated_at=now)
                )
        return outcome_counts(outcomes)

    def analyze(self, path: str, *, max_duration_s: float | None = None, tags: Any = None) -> Any:
        """Analyser seam for the scan: the parked analysis of ``path`` if still valid, else
        analyse the file with the fallback."""
        from sonicmap.pipeline import scan

        with self.store.session() as s:
            v = s.scalar(
                select(KeyValue.value).where(KeyValue.key == cache_key(self.cache_id, path))
            )
        if v and v.get("path") == path:
            try:
                st = os.stat(path)
                same = st.st_size == v.get("size") and st.st_mtime == v.get("mtime")
            except OSError:
                same = False
            if same and v.get("error"):
                raise CachedAnalysisError(v["error"])
            if same and v.get("analysis"):
                return CachedAnalysis(**v["analysis"])
        fallback = scan.resolve(self.fallback or scan.DEFAULT_ANALYZER)
        return fallback(path, max_duration_s=max_duration_s, tags=tags)

    def clear(self) -> int:
        """Delete this scan's parked rows; returns how many."""
        prefix = scan_prefix(self.cache_id)
        with self.store.session() as s:
            deleted = s.execute(
                delete(KeyValue).where(KeyValue.key.startswith(prefix, autoescape=True))
            )
            return int(getattr(deleted, "rowcount", 0) or 0)
