"""Similar artists/tracks through the real pipeline and vector index (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from apitest import API, FakeQueue, make_config, seed
from fastapi.testclient import TestClient

from sonicmap.api import create_app


@pytest.fixture
def seeded_client(store, tmp_path):  # noqa: ANN001, ANN201
    ids = seed(store, n_artists=8, tracks_per_artist=3)
    with TestClient(create_app(make_config(tmp_path), store=store, queue=FakeQueue())) as c:
        yield c, ids


def test_similar_artists_excludes_the_seed_and_ranks(seeded_client) -> None:
    c, ids = seeded_client
    aid = ids["artists"][0]
    r = c.get(f"{API}/artists/{aid}/similar", params={"limit": 5})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 5 and aid not in [i["id"] for i in items]
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    blended = c.get(f"{API}/artists/{aid}/similar", params={"limit": 5, "membership_weight": 0.5})
    assert blended.status_code == 200


def test_similar_tracks_respects_caps(seeded_client) -> None:
    c, ids = seeded_client
    tid = ids["tracks"][0]
    r = c.get(f"{API}/tracks/{tid}/similar", params={"limit": 6, "max_per_album": 1})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert tid not in [i["id"] for i in items]
    albums = [i["album_id"] for i in items]
    assert len(albums) == len(set(albums)) == 6
    r = c.get(f"{API}/tracks/{tid}/similar", params={"limit": 10, "max_per_artist": 2})
    artists = [i["artist_id"] for i in r.json()["items"]]
    assert max(artists.count(a) for a in set(artists)) <= 2
