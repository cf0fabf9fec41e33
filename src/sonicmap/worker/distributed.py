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
   parks each outcome in ``app_state`` under ``analysis_cache:<sha1(path)>`` together with the
   file's size and mtime.
3. ``scan_finish`` runs the ordinary :func:`sonicmap.pipeline.scan.scan_library` in-process with
   the analyser seam pointing at :func:`cached_analyze`, which returns the parked analysis when
   the file still has the same size and mtime (else it analyses the file itself). The scan
   pipeline thus keeps sole ownership of change detection, moves, removal, batched commits,
   resumability, the post-scan steps and the auto-queue hook; then the parked rows are deleted.

The cache lives in the database, so it needs nothing beyond what every worker already shares
(no shared disk, works with RabbitMQ too). Every worker needs the music folder at the same path
(e.g. the same NFS/SMB mount).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from sonicmap.errors import SonicmapError
from sonicmap.store.schema import KeyValue, Track, TrackFeatures

log = logging.getLogger(__name__)

CACHE_PREFIX = "analysis_cache:"

#: The store ``cached_analyze`` reads from (set by ``scan_finish`` in this process).
_CACHE_STORE: dict[str, Any] = {}


def cache_key(path: str) -> str:
    return CACHE_PREFIX + hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()


def find_candidates(store: Any, cfg: Any, paths: Sequence[str | Path] | None) -> list[str]:
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


def analyse_chunk(
    store: Any, paths: Sequence[str], *, max_duration_s: float | None, analyzer: str | None
) -> dict[str, int]:
    """Analyse ``paths`` and park each outcome in the cache; returns counts."""
    from sonicmap.pipeline import scan

    spec = scan.WorkerSpec(
        analyzer=analyzer or scan.DEFAULT_ANALYZER, max_duration_s=max_duration_s
    )
    scan.cap_threads()
    rows = []
    failed = 0
    for path in paths:
        res = scan.process_file(spec, path, None)
        if res["error"]:
            failed += 1
        rows.append(
            KeyValue(
                key=cache_key(path),
                value={
                    "path": path,
                    "size": res["size"],
                    "mtime": res["mtime"],
                    "analysis": res["analysis"],
                    "error": res["error"],
                },
                updated_at=datetime.now(UTC),
            )
        )
    with store.session() as s:
        for row in rows:
            s.merge(row)
    return {"files": len(paths), "failed": failed}


def clear_cache(store: Any) -> int:
    with store.session() as s:
        return int(
            s.execute(delete(KeyValue).where(KeyValue.key.like(CACHE_PREFIX + "%"))).rowcount or 0
        )


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


def use_cache(store: Any | None, fallback: str | None) -> None:
    """Point :func:`cached_analyze` at ``store`` (None: off) and its fallback analyser."""
    if store is None:
        _CACHE_STORE.clear()
    else:
        _CACHE_STORE["store"] = store
        _CACHE_STORE["fallback"] = fallback


def cached_analyze(path: str, *, max_duration_s: float | None = None, tags: Any = None) -> Any:
    """Analyser seam for the scan: the parked analysis of ``path`` if still valid, else analyse."""
    from sonicmap.pipeline import scan

    store = _CACHE_STORE.get("store")
    if store is not None:
        with store.session() as s:
            v = s.scalar(select(KeyValue.value).where(KeyValue.key == cache_key(path)))
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
    fallback = _CACHE_STORE.get("fallback") or scan.DEFAULT_ANALYZER
    return scan.resolve(fallback)(path, max_duration_s=max_duration_s, tags=tags)
