"""The read cache's bounds and fallbacks (exactness and freshness: tests/integration/api)."""

from __future__ import annotations

from apitest import API, seed
from sqlalchemy import update

from sonicmap.api.readcache import ReadCache
from sonicmap.store import schema as db
from sonicmap.store.db import Store, make_engine


def test_response_cache_is_bounded_in_entries_and_bytes(sqlite_store) -> None:
    rc = ReadCache(sqlite_store, max_entries=3, max_bytes=800)
    gen = rc.check()
    assert gen is not None
    for i in range(10):
        rc.put(gen, i, b"x" * 50)
    assert rc.stats()["entries"] == 3 and [rc.get(gen, i) for i in (7, 8, 9)] == [b"x" * 50] * 3
    rc.get(gen, 7)  # most recently used now
    rc.put(gen, 10, b"y" * 90)
    assert rc.get(gen, 8) is None and rc.get(gen, 7) is not None
    rc.put(gen, 11, b"z" * 101)  # more than an eighth of the budget: not kept
    assert rc.get(gen, 11) is None
    for i in range(20):
        rc.put(gen, ("big", i), b"b" * 99)
    assert rc.stats()["bytes"] <= 800
    rc.close()


def test_a_commit_moves_the_generation_and_empties_the_cache(sqlite_store) -> None:
    ids = seed(sqlite_store)
    rc = ReadCache(sqlite_store)
    gen = rc.check()
    rc.put(gen, "k", b"{}")
    assert rc.check() == gen and rc.get(gen, "k") == b"{}"
    with sqlite_store.session() as s:
        s.execute(update(db.Artist).where(db.Artist.id == ids["artists"][0]).values(name="X"))
    new = rc.check()
    assert new == gen + 1 and rc.get(new, "k") is None and rc.stats()["entries"] == 0
    rc.put(gen, "k", b"{}")  # computed for a generation that is gone: dropped
    assert rc.stats()["entries"] == 0
    snap = rc.snapshot(new)
    assert snap.names[snap.row(ids["artists"][0])] == "X" and snap.row(ids["lonely"]) is None
    rc.close()


def test_no_cache_without_a_change_stamp(tmp_path) -> None:
    store = Store(make_engine("sqlite://"))
    rc = ReadCache(store)
    assert not rc.available and rc.check() is None
    store.dispose()
    off = ReadCache(Store(make_engine(f"sqlite:///{tmp_path / 'x.db'}")), enabled=False)
    assert not off.available


def test_similar_without_the_cache_is_the_same(client_factory, seeded) -> None:
    on, off = client_factory(), client_factory(read_cache=False)
    for aid in seeded["artists"]:
        for q in ({"limit": 3}, {"limit": 10, "membership_weight": 0.7}):
            url = f"{API}/artists/{aid}/similar"
            assert on.get(url, params=q).content == off.get(url, params=q).content
    for cid in (10, 11, 12):
        url = f"{API}/gmm/clusters/{cid}"
        a, b = (
            on.get(url, params={"limit": 2, "offset": 1}),
            off.get(url, params={"limit": 2, "offset": 1}),
        )
        assert (a.status_code, a.content) == (b.status_code, b.content)
    # (1 or 2 loads: the first pipeline search builds its vector index, a write)
    assert 1 <= on.app.state.read_cache.loads <= 2
