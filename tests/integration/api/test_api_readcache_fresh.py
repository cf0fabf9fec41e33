"""The API's read cache answers exactly as the pipeline and follows every change without restart.

Runs on SQLite (``PRAGMA data_version``) and on the real PostgreSQL (transaction snapshot, then
row versions), each change written through a second engine, as another process would.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from apitest import API, KEY, FakeQueue, make_config, seed, unit
from fastapi.testclient import TestClient
from sqlalchemy import update

from sonicmap.api import create_app
from sonicmap.pipeline import clustering, embeddings
from sonicmap.store import schema as db
from sonicmap.store.db import Store, make_engine
from sonicmap.store.repo import put_embeddings

WEIGHTS = (0.0, 0.5, 1.0)


@pytest.fixture
def lib(store: Store, tmp_path) -> Any:  # noqa: ANN001
    ids = seed(store, n_artists=40, tracks_per_artist=1)
    a = ids["artists"]
    rng = np.random.default_rng(7)
    with store.session() as s:
        # ties (two artists with the same vector), a zero vector, memberships that differ
        # between the active and the archived model
        v = s.get(db.ArtistEmbedding, a[1]).vector
        s.execute(
            update(db.ArtistEmbedding).where(db.ArtistEmbedding.artist_id == a[2]).values(vector=v)
        )
        s.execute(
            update(db.ArtistEmbedding)
            .where(db.ArtistEmbedding.artist_id == a[3])
            .values(vector=np.zeros(64, "<f4").tobytes())
        )
        for aid in a:
            p = rng.dirichlet([0.5, 0.5]).astype("<f4")
            s.execute(
                update(db.ArtistCluster)
                .where(
                    db.ArtistCluster.model_id == ids["archived_model"],
                    db.ArtistCluster.artist_id == aid,
                )
                .values(probabilities=p.tobytes(), cluster_id=10 if p[0] > p[1] else 11)
            )
    other = Store(make_engine(str(store.engine.url.render_as_string(hide_password=False))))
    app = create_app(make_config(tmp_path, api_key=KEY), store=store, queue=FakeQueue())
    with TestClient(app) as c:
        yield c, ids, other
    other.dispose()


def _same(a: list[tuple[int, str, float]], b: list[tuple[int, str, float]]) -> bool:
    """Same answer: the same artists in the same order with the same scores, where "same score"
    allows the last bits of float64. The store re-ranks candidates by a float64 cosine computed
    with a BLAS matrix-vector product, whose rounding of a row depends on the other rows of the
    candidate set, so the pipeline itself may differ by ~1e-16 between two candidate sets (and
    order two vectors of one direction by that noise). Exact ties are compared as sets."""
    if len(a) != len(b):
        return False
    if [(i, n) for i, n, _ in a] == [(i, n) for i, n, _ in b]:
        return all(abs(x[2] - y[2]) <= 1e-12 for x, y in zip(a, b, strict=True))
    key = [sorted((round(s, 11), i, n) for i, n, s in x) for x in (a, b)]
    return key[0] == key[1] and all(
        abs(x[2] - y[2]) <= 1e-12
        for x, y in zip(sorted(a, key=lambda r: r[2]), sorted(b, key=lambda r: r[2]), strict=True)
    )


def _pipeline(store: Store, aid: int, limit: int, w: float) -> list[tuple[int, str, float]]:
    rows = embeddings.similar_artists(store, aid, limit, membership_weight=w)
    return [(r["id"], r["name"], r["score"]) for r in rows]


def _api(c: TestClient, aid: int, limit: int, w: float) -> list[tuple[int, str, float]]:
    r = c.get(f"{API}/artists/{aid}/similar", params={"limit": limit, "membership_weight": w})
    assert r.status_code == 200, r.text
    assert r.json()["seed"] == aid
    return [(i["id"], i["name"], i["score"]) for i in r.json()["items"]]


def test_cached_answers_equal_the_pipeline(lib) -> None:  # noqa: ANN001
    c, ids, other = lib
    rc = c.app.state.read_cache
    assert rc.available
    want = {  # (the pipeline's first search builds its vector index: a write, done first)
        (aid, limit, w): _pipeline(other, aid, limit, w)
        for aid in ids["artists"]
        for limit in (1, 5, 100)
        for w in WEIGHTS
    }
    for (aid, limit, w), expected in want.items():
        assert _same(_api(c, aid, limit, w), expected), (aid, limit, w)
    assert rc.loads == 1  # one snapshot served them all
    assert _api(c, ids["artists"][3], 10, 0.0) == []  # zero vector: no neighbours
    # unknown artist, artist without a vector: the regular path's errors
    assert c.get(f"{API}/artists/99999/similar").json()["error"]["code"] == "not_found"
    r = c.get(f"{API}/artists/{ids['lonely']}/similar")
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_embedding"
    assert _api(c, ids["artists"][0], 5, 0.0) == _api(c, ids["artists"][0], 5, 0.0)  # LRU hit


def test_new_vectors_and_names_are_seen_without_restart(lib) -> None:  # noqa: ANN001
    c, ids, other = lib
    a = ids["artists"]
    before = _api(c, a[0], 5, 0.0)
    assert before[0][0] != a[20]
    with other.session() as s:  # artist 20 now sounds exactly like artist 0
        v = s.get(db.ArtistEmbedding, a[0]).vector
        put_embeddings(s, "artist", [a[20]], [np.frombuffer(v, "<f4")], layout_version=1)
    after = _api(c, a[0], 5, 0.0)
    assert after[0][0] == a[20] and _same(after, _pipeline(other, a[0], 5, 0.0))
    with other.session() as s:
        s.execute(update(db.Artist).where(db.Artist.id == a[20]).values(name="Renamed"))
    assert _api(c, a[0], 5, 0.0)[0][1] == "Renamed"
    with other.session() as s:  # a vector removed: 409 at once
        s.execute(
            db.ArtistEmbedding.__table__.delete().where(db.ArtistEmbedding.artist_id == a[20])
        )
    assert _same(_api(c, a[0], 5, 0.0), _pipeline(other, a[0], 5, 0.0))
    assert c.get(f"{API}/artists/{a[20]}/similar").status_code == 409
    with other.session() as s:  # a new artist with a vector
        new = db.Artist(key="name:new", name="Newcomer")
        s.add(new)
        s.flush()
        s.add(
            db.ArtistEmbedding(
                artist_id=new.id, layout_version=1, vector=unit(np.frombuffer(v, "<f4")), n_tracks=1
            )
        )
        new_id = new.id
    top = _api(c, a[0], 1, 0.0)
    assert top[0][:2] == (new_id, "Newcomer") and _same(top, _pipeline(other, a[0], 1, 0.0))
    assert _same(_api(c, new_id, 3, 0.0), _pipeline(other, new_id, 3, 0.0))


def test_a_newly_activated_model_is_seen_without_restart(lib) -> None:  # noqa: ANN001
    c, ids, other = lib
    aid = ids["artists"][0]
    cl = c.get(f"{API}/gmm/clusters/10").json()
    assert cl["model_id"] == ids["active_model"]
    blended = _api(c, aid, 10, 0.5)
    clustering.activate_model(other, ids["archived_model"])
    cl2 = c.get(f"{API}/gmm/clusters/10").json()
    assert cl2["model_id"] == ids["archived_model"] and cl2["members"] != cl["members"]
    now = _api(c, aid, 10, 0.5)
    assert _same(now, _pipeline(other, aid, 10, 0.5)) and not _same(now, blended)
    # and back through the API's own activation (same process, another connection)
    r = c.post(f"{API}/gmm/models/{ids['active_model']}/activate", headers={"X-API-Key": KEY})
    assert r.status_code == 200, r.text
    back = _api(c, aid, 10, 0.5)
    assert back == blended and _same(back, _pipeline(other, aid, 10, 0.5))
    assert c.get(f"{API}/gmm/clusters/10").json() == cl
