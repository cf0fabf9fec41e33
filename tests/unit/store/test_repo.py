"""Repository helpers: app_state, get-or-create, embedding rows (both databases)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, insert, select

from sonicmap.store.db import Store
from sonicmap.store.repo import (
    get_or_create_album,
    get_or_create_artist,
    get_state,
    put_embeddings,
    set_state,
)
from sonicmap.store.schema import Artist, ArtistEmbedding, Track, TrackEmbedding
from sonicmap.store.vectors import VectorError, from_blob


def test_state_round_trip(store: Store) -> None:
    with store.session() as s:
        assert get_state(s, "missing", {"d": 1}) == {"d": 1}
        set_state(s, "marker", {"n": 1, "ids": [1, 2]})
    with store.session() as s:
        assert get_state(s, "marker") == {"n": 1, "ids": [1, 2]}
        set_state(s, "marker", {"n": 2})
    with store.session() as s:
        assert get_state(s, "marker") == {"n": 2}


def test_get_or_create_is_idempotent(store: Store) -> None:
    with store.session() as s:
        a = get_or_create_artist(s, key="name:bjork", name="Björk")
        b = get_or_create_artist(s, key="name:bjork", name="Bjork (ignored)")
        assert a.id == b.id and b.name == "Björk"
        al = get_or_create_album(s, key="name:bjork|debut", title="Debut", album_artist="Björk")
        assert get_or_create_album(s, key="name:bjork|debut", title="x").id == al.id
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Artist)) == 1


def test_put_embeddings_inserts_then_replaces(store: Store) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    with store.session() as s:
        s.execute(
            insert(Track),
            [{"id": i, "path": f"/m/{i}", "size": 1, "mtime": 0.0} for i in (1, 2, 3)],
        )
        s.execute(insert(Artist), [{"id": 9, "key": "name:a", "name": "A"}])
        put_embeddings(s, "track", [1, 2, 3], x, layout_version=1)
        put_embeddings(
            s, "artist", [9], x[:1], layout_version=1, n_tracks=[3], total_duration_s=[600.0]
        )
    with store.session() as s:
        put_embeddings(s, "track", [2], x[:1] * 2, layout_version=2)
    with store.session() as s:
        rows = {r.track_id: r for r in s.scalars(select(TrackEmbedding))}
        assert np.array_equal(from_blob(rows[1].vector), x[0])
        assert np.array_equal(from_blob(rows[2].vector), x[0] * 2) and rows[2].layout_version == 2
        art = s.get(ArtistEmbedding, 9)
        assert art.n_tracks == 3 and art.total_duration_s == 600.0
    with store.session() as s, pytest.raises(VectorError, match=r"shape \(1, 64\)"):
        put_embeddings(s, "track", [1], np.ones((1, 63)), layout_version=1)
