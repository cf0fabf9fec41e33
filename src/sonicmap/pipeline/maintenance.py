"""Gather the inputs of the maintenance policy (:mod:`sonicmap.policy`) from the store.

*Changed tracks since training* (the number every rule uses) is counted as:

* analysed tracks whose row was created or updated after the active model's ``created_at``
  (new files, re-analysed files, retagged files — the scan bumps ``updated_at``), plus
* tracks removed by scans that finished after that time (``scan_sessions.removed``).

With no active model every analysed track counts as changed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, or_, select

from sonicmap.policy import LibraryStats, as_utc
from sonicmap.store.db import Store
from sonicmap.store.schema import ArtistEmbedding, DriftCheck, GmmModel, ScanSession, Track

log = logging.getLogger(__name__)


def active_model_info(store: Store) -> tuple[int, datetime] | None:
    """``(id, created_at UTC)`` of the active model, or ``None``."""
    with store.read_session() as s:
        row = s.execute(
            select(GmmModel.id, GmmModel.created_at)
            .where(GmmModel.status == "active")
            .order_by(GmmModel.activated_at.desc().nulls_last(), GmmModel.id.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    return int(row[0]), as_utc(row[1])


def tracks_changed_since(store: Store, since: datetime) -> int:
    """Analysed tracks created/updated after ``since`` plus tracks removed by later scans."""
    with store.session() as s:
        changed = s.scalar(
            select(func.count())
            .select_from(Track)
            .where(
                Track.status == "analysed",
                or_(Track.updated_at > since, Track.created_at > since),
            )
        )
        removed = s.scalar(
            select(func.coalesce(func.sum(ScanSession.removed), 0)).where(
                ScanSession.finished_at > since
            )
        )
    return int(changed or 0) + int(removed or 0)


def library_stats(store: Store) -> LibraryStats:
    """Everything :func:`sonicmap.policy.should_auto_queue` and friends need."""
    with store.read_session() as s:
        n_artists = int(s.scalar(select(func.count()).select_from(ArtistEmbedding)) or 0)
        n_tracks = int(
            s.scalar(select(func.count()).select_from(Track).where(Track.status == "analysed")) or 0
        )
    active = active_model_info(store)
    if active is None:
        return LibraryStats(n_artists, n_tracks, False, n_tracks, None)
    _, trained_at = active
    return LibraryStats(
        n_artists, n_tracks, True, tracks_changed_since(store, trained_at), trained_at
    )


def model_records(store: Store) -> list[dict[str, object]]:
    """``{id, status, created_at}`` of every model (input of ``policy.models_to_delete``)."""
    with store.read_session() as s:
        rows = s.execute(select(GmmModel.id, GmmModel.status, GmmModel.created_at)).all()
    return [{"id": int(r[0]), "status": r[1], "created_at": as_utc(r[2])} for r in rows]


def record_skipped_check(
    store: Store, *, reason: str, stats: LibraryStats, threshold: float, now: datetime
) -> int:
    """Store a stability check that did not compute drift (so the history shows every check)."""
    active = active_model_info(store)
    with store.session() as s:
        row = DriftCheck(
            checked_at=now,
            model_id=active[0] if active else None,
            drift=None,
            threshold=threshold,
            decision="skipped",
            inputs={"reason": reason, **stats.as_dict()},
        )
        s.add(row)
        s.flush()
        return int(row.id)
