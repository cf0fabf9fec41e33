"""Small repository helpers shared by the pipeline, the worker and the API.

Each takes an open :class:`sqlalchemy.orm.Session` (the caller owns the transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sonicmap.store.schema import (
    Album,
    Artist,
    ArtistEmbedding,
    KeyValue,
    TrackEmbedding,
    utcnow,
)
from sonicmap.store.vectors import DIM, VectorError, from_blob, to_blob

__all__ = [
    "from_blob",
    "get_or_create_album",
    "get_or_create_artist",
    "get_state",
    "put_embeddings",
    "set_state",
    "to_blob",
]


def get_state(session: Session, key: str, default: Any = None) -> Any:
    """The JSON value stored under ``key`` in ``app_state``, or ``default``."""
    row = session.get(KeyValue, key)
    return default if row is None else row.value


def set_state(session: Session, key: str, value: Any, *, now: datetime | None = None) -> None:
    """Store a JSON-able ``value`` under ``key`` in ``app_state`` (insert or replace)."""
    row = session.get(KeyValue, key)
    when = now or utcnow()
    if row is None:
        session.add(KeyValue(key=key, value=value, updated_at=when))
    else:
        row.value = value
        row.updated_at = when
    session.flush()


def _get_or_create(session: Session, model: Any, key: str, fields: dict[str, Any]) -> Any:
    """Row of ``model`` with this unique ``key``; created with ``fields`` if absent.

    Safe against a concurrent writer creating the same key: the insert runs in a savepoint and
    a unique-key conflict falls back to reading the other writer's row.
    """
    found = session.scalar(select(model).where(model.key == key))
    if found is not None:
        return found
    row = model(key=key, **fields)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        found = session.scalar(select(model).where(model.key == key))
        if found is None:
            raise
        return found
    return row


def get_or_create_artist(
    session: Session, *, key: str, name: str, mbid: str | None = None
) -> Artist:
    """The artist with identity ``key`` (``mbid:<id>`` or ``name:<normalised name>``)."""
    row: Artist = _get_or_create(session, Artist, key, {"name": name, "mbid": mbid})
    return row


def get_or_create_album(
    session: Session,
    *,
    key: str,
    title: str,
    album_artist: str | None = None,
    mbid: str | None = None,
) -> Album:
    """The album with identity ``key`` (album artist key + normalised title, or MB release id)."""
    row: Album = _get_or_create(
        session, Album, key, {"title": title, "album_artist": album_artist, "mbid": mbid}
    )
    return row


def put_embeddings(
    session: Session,
    kind: str,
    ids: Sequence[int],
    vectors: Any,
    *,
    layout_version: int,
    n_tracks: Sequence[int] | None = None,
    total_duration_s: Sequence[float] | None = None,
    now: datetime | None = None,
) -> None:
    """Insert or replace embedding rows (the vector index follows them on its own).

    kind : ``"track"`` or ``"artist"``
    ids : [n] track ids / artist ids (the rows they belong to must exist)
    vectors : array-like [shape=(n, 64)], stored as little-endian float32
    n_tracks, total_duration_s : [n] per artist (``kind="artist"`` only; default 0)
    """
    if kind not in ("track", "artist"):
        raise VectorError(f"unknown vector kind {kind!r}; expected 'track' or 'artist'")
    ids = [int(i) for i in ids]
    m = np.asarray(vectors, dtype=np.float32)
    if m.shape != (len(ids), DIM):
        raise VectorError(f"expected vectors of shape ({len(ids)}, {DIM}), got {m.shape}")
    when = now or utcnow()
    model: Any = TrackEmbedding if kind == "track" else ArtistEmbedding
    id_col = model.track_id if kind == "track" else model.artist_id
    rows: list[dict[str, Any]] = []
    for j, (i, v) in enumerate(zip(ids, m, strict=True)):
        row: dict[str, Any] = {
            id_col.key: i,
            "layout_version": layout_version,
            "vector": to_blob(v),
            "updated_at": when,
        }
        if kind == "artist":
            row["n_tracks"] = int(n_tracks[j]) if n_tracks is not None else 0
            row["total_duration_s"] = (
                float(total_duration_s[j]) if total_duration_s is not None else 0.0
            )
        rows.append(row)
    existing: set[int] = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        existing.update(session.scalars(select(id_col).where(id_col.in_(chunk))))
    new = [r for r in rows if r[id_col.key] not in existing]
    old = [{**r, "pk": r[id_col.key]} for r in rows if r[id_col.key] in existing]
    if new:
        session.execute(insert(model), new)
    if old:
        stmt = (
            update(model)
            .where(id_col == bindparam("pk"))
            .values({k: bindparam(k) for k in old[0] if k not in ("pk", id_col.key)})
        )
        session.connection().execute(stmt, old)
    session.flush()
