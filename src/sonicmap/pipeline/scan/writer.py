"""The write side of a scan: batched commits of per-file results, moves, and removal.

Results are written ``batch_size`` at a time (or every :data:`FLUSH_EVERY_S` seconds), each
file's track row and features in the same transaction as the session counters and the lock's
heartbeat. A kill at any moment loses at most the uncommitted batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from sonicmap.library.identity import (
    AlbumIdentity,
    ArtistIdentity,
    album_identity,
    artist_identity,
    preferred_name,
)
from sonicmap.library.walk import extension
from sonicmap.pipeline.scan.lock import set_state, write_lock
from sonicmap.pipeline.scan.types import ScanTally
from sonicmap.store.schema import (
    Album,
    Artist,
    ScanFailure,
    ScanSession,
    Track,
    TrackEmbedding,
    TrackFeatures,
)

if TYPE_CHECKING:
    from sonicmap.store.db import Store

#: Commit at least this often (seconds), even when a batch is not full (slow analysis on a Pi).
FLUSH_EVERY_S = 20.0
#: ``app_state`` key: the analysis version the stored failures were made with.
FAILED_VERSION_KEY = "scan.failed_analysis_version"


@dataclass(slots=True)
class Stored:
    """A stored track as the scan sees it (``version``: of its analysis, None without one)."""

    id: int
    size: int
    mtime: float
    status: str
    fingerprint: str | None
    version: int | None


class ScanWriter:
    """Writes one scan's per-file results into the store (and keeps ``result`` equal to what
    is committed)."""

    def __init__(
        self, store: Store, result: ScanTally, *, version: int, batch_size: int, host: str
    ) -> None:
        self.store = store
        self.result = result
        self.version = version
        self.batch_size = batch_size
        self.host = host
        self.failed_version: int | None = None
        self.pending: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()
        self.claimable: dict[str, list[int]] = {}  # fingerprint -> ids of disappeared tracks
        self.missing_map: dict[str, Stored] = {}
        self.artist_cache: dict[str, tuple[int, str]] = {}  # key -> (id, display name)
        self.album_cache: dict[str, tuple[int, str]] = {}

    def write_counts(self, ses: Session, now: datetime) -> None:
        """The session counters and the lock's heartbeat."""
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
        write_lock(ses, r.scan_id, self.host, now)

    def accept(self, res: dict[str, Any]) -> None:
        """Queue one result; flush when the batch is full or the last flush is old."""
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
                    set_state(ses, FAILED_VERSION_KEY, self.version, now)
                    self.failed_version = self.version
                self.write_counts(ses, now)
        except BaseException:
            # keep the in-memory view equal to what is committed
            r.added, r.changed, r.moved, r.failed, r.analysed, nfail = saved
            del r.failures[nfail:]
            r.track_ids, r.artist_ids = ids_before, artists_before
            self.claimable = claimable_before
            self.artist_cache.clear()
            self.album_cache.clear()
            raise

    def _write_one(self, ses: Session, res: dict[str, Any], now: datetime) -> None:
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

    def _row_for(
        self, ses: Session, row: Track | None, res: dict[str, Any], now: datetime
    ) -> Track:
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

    def _analysis_of_fingerprint(self, ses: Session, fp: str | None) -> dict[str, Any] | None:
        if not fp:
            return None
        row = ses.execute(
            select(TrackFeatures.features, TrackFeatures.sources)
            .join(Track, Track.id == TrackFeatures.track_id)
            .where(Track.fingerprint == fp, TrackFeatures.analysis_version == self.version)
            .limit(1)
        ).first()
        return None if row is None else {"features": row[0], "sources": row[1]}

    def _fill_row(self, ses: Session, row: Track, res: dict[str, Any], now: datetime) -> None:
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

    def _artist_id(self, ses: Session, ident: ArtistIdentity) -> int:
        name = ident.name[:512]
        if ident.key not in self.artist_cache:
            from sonicmap.store.repo import get_or_create_artist

            row = get_or_create_artist(ses, key=ident.key, name=name, mbid=ident.mbid)
            self.artist_cache[ident.key] = (row.id, row.name)
        return _keep_preferred(ses, self.artist_cache, ident.key, name, Artist.name)

    def _album_id(self, ses: Session, ident: AlbumIdentity) -> int:
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
            self.write_counts(ses, now)
        self.missing_map = {}


def _delete_orphans(ses: Session) -> None:
    has_tracks = select(Track.id).where(Track.artist_id == Artist.id).exists()
    ses.execute(delete(Artist).where(~has_tracks).execution_options(synchronize_session=False))
    has_album_tracks = select(Track.id).where(Track.album_id == Album.id).exists()
    ses.execute(delete(Album).where(~has_album_tracks).execution_options(synchronize_session=False))


def _chunks(items: Sequence[int], n: int) -> Iterator[list[int]]:
    for i in range(0, len(items), n):
        yield list(items[i : i + n])


def _keep_preferred(
    ses: Session, cache: dict[str, tuple[int, str]], key: str, spelling: str, column: Any
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
