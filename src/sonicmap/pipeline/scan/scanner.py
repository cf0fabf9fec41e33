"""One scan's read side and bookkeeping: the session, the stored map, the walk, the dispatch of
candidates to the executor (results go to the :class:`~.writer.ScanWriter`)."""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from sonicmap.library.walk import FileEntry, is_within, walk
from sonicmap.pipeline.scan.executor import Job, execute
from sonicmap.pipeline.scan.file_step import WorkerSpec, problem_result
from sonicmap.pipeline.scan.lock import (
    end_dead_sessions,
    get_state,
    release_lock,
    serialise_starts,
    set_state,
    write_lock,
)
from sonicmap.pipeline.scan.types import ProgressFn, ScanProgress, ScanTally
from sonicmap.pipeline.scan.writer import FAILED_VERSION_KEY, FLUSH_EVERY_S, ScanWriter, Stored
from sonicmap.store.schema import ScanSession, Track, TrackFeatures

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)

Candidates = list[tuple[FileEntry, Stored | None]]


class Scanner:
    """State of one scan (kept out of the public function to keep each step small)."""

    def __init__(
        self,
        store: Store,
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
        self.progress = progress
        self.stored: dict[str, Stored] = {}
        self.result = ScanTally(scan_id=0, roots=list(walk_paths))
        self.host = socket.gethostname()
        self.writer = ScanWriter(
            store, self.result, version=version, batch_size=batch_size, host=self.host
        )

    # -- session ----------------------------------------------------------------------------

    def begin(self, *, task_id: str | None) -> None:
        now = datetime.now(UTC)
        with self.store.session() as ses:
            serialise_starts(ses)  # check and take the lock atomically
            end_dead_sessions(ses, self.host, now)
            row = ScanSession(
                status="running", roots=list(self.walk_paths), started_at=now, task_id=task_id
            )
            ses.add(row)
            ses.flush()
            self.result.scan_id = row.id
            self.result.started_at = now
            write_lock(ses, row.id, self.host, now)
            self.writer.failed_version = get_state(ses, FAILED_VERSION_KEY)

    def heartbeat(self) -> None:
        """Refresh the lock's heartbeat (so another scan does not take this one for dead)."""
        self.writer.last_flush = time.monotonic()
        now = datetime.now(UTC)
        with self.store.session() as ses:
            write_lock(ses, self.result.scan_id, self.host, now)

    def finish(self, status: str, *, error: str | None = None) -> None:
        now = datetime.now(UTC)
        r = self.result
        r.status = status
        r.finished_at = now
        with self.store.session() as ses:
            self.writer.write_counts(ses, now)
            ses.execute(
                update(ScanSession)
                .where(ScanSession.id == r.scan_id)
                .values(status=status, finished_at=now, error=error)
            )
            release_lock(ses, r.scan_id)
            if status == "completed" and self.writer.failed_version != self.version:
                set_state(ses, FAILED_VERSION_KEY, self.version, now)
        self._emit("finish", 1, 1)

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
        with self.store.read_session() as ses:
            for tid, path, size, mtime, status, fp, version in ses.execute(q):
                if any(is_within(path, w) for w in self.walk_paths):
                    self.stored[path] = Stored(tid, size, mtime, status, fp, version)

    def _is_current(self, st: Stored) -> bool:
        if st.status == "analysed":
            return st.version == self.version
        if st.status == "failed":
            failed_version = self.writer.failed_version
            return failed_version is None or failed_version == self.version
        return False

    def walk_and_compare(self) -> tuple[Candidates, list[str]]:
        """Walk; count unchanged files; return the candidates and the walk paths that are gone."""
        candidates: Candidates = []
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
                    if time.monotonic() - self.writer.last_flush >= FLUSH_EVERY_S:
                        self.heartbeat()  # a long walk (USB disk) must not look dead
        self._emit("walk", seen, seen)
        return candidates, missing_roots

    def missing(self, missing_roots: list[str]) -> dict[str, Stored]:
        """Stored tracks not seen by the walk (below walk paths that still exist)."""
        gone = {
            p: st
            for p, st in self.stored.items()
            if not any(is_within(p, m) for m in missing_roots)
        }
        self.stored = {}
        self.writer.missing_map = gone
        for st in gone.values():
            if st.fingerprint and st.status == "analysed" and st.version == self.version:
                self.writer.claimable.setdefault(st.fingerprint, []).append(st.id)
        return gone

    # -- processing -------------------------------------------------------------------------

    def process(
        self, candidates: Candidates, spec: WorkerSpec, *, jobs: int, in_process: bool
    ) -> None:
        total = len(candidates)
        done = 0
        self._emit("analyse", 0, total)
        work: list[Job] = []
        for entry, st in candidates:
            if entry.problem is not None:
                self.writer.accept(problem_result(entry))
                done += 1
                continue
            known = (
                st.fingerprint
                if st is not None and st.status == "analysed" and st.version == self.version
                else None
            )
            work.append(Job(entry.path, st, known))
        self._emit("analyse", done, total)
        for res in execute(work, spec, jobs=jobs, in_process=in_process):
            self.writer.accept(res)
            done += 1
            self._emit("analyse", done, total, res["path"])
        self.writer.flush()

    def remove(self) -> None:
        """Delete tracks that disappeared (and were not moved), then orphaned artists/albums."""
        self.writer.remove()
