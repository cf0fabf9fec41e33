"""Vector index on SQLite: sqlite-vec and the numpy backend, blobs, sync with the embeddings tables."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, insert, text

from sonicmap.errors import NotFoundError
from sonicmap.store import migrate
from sonicmap.store.db import Store, make_engine
from sonicmap.store.repo import put_embeddings
from sonicmap.store.schema import Artist, Track
from sonicmap.store.vectors import (
    VectorError,
    cosine_distances,
    from_blob,
    open_index,
    to_blob,
)

BACKENDS = ["sqlite-vec", "numpy"]


def add_tracks(store: Store, vectors: np.ndarray, *, first_id: int = 1) -> list[int]:
    """Insert one track row per vector plus its embedding; returns the ids."""
    ids = list(range(first_id, first_id + len(vectors)))
    with store.session() as s:
        s.execute(
            insert(Track), [{"id": i, "path": f"/m/{i}.flac", "size": 1, "mtime": 0.0} for i in ids]
        )
        put_embeddings(s, "track", ids, vectors, layout_version=1)
    return ids


def brute_force(
    ids: list[int], vectors: np.ndarray, q: np.ndarray, k: int, exclude=()
) -> list[int]:
    d = cosine_distances(q.astype(np.float32), vectors.astype(np.float32))
    order = sorted((float(x), i) for i, x in zip(ids, d, strict=True) if i not in exclude)
    return [i for _, i in order[:k]]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_cosine_distances_of_zero_vectors_are_nan_or_the_given_undefined() -> None:
    q = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    v = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 3.0, 0.0], [-1.0, 0.0, 0.0]], np.float32)
    d = cosine_distances(q, v)
    assert d[[0, 2, 3]].tolist() == [0.0, 1.0, 2.0] and np.isnan(d[1])
    assert cosine_distances(q, v, undefined=1.0).tolist() == [0.0, 1.0, 1.0, 2.0]
    zero = np.zeros(3, np.float32)
    assert np.isnan(cosine_distances(zero, v)).all()
    assert cosine_distances(zero, v, undefined=1.0).tolist() == [1.0] * 4


# -- blobs -------------------------------------------------------------------------------------


def test_to_blob_is_little_endian_float32() -> None:
    v = np.array([1.0, -2.5, 3.25], dtype=np.float64)
    b = to_blob(v)
    assert b == struct.pack("<3f", 1.0, -2.5, 3.25)
    back = from_blob(b)
    assert back.dtype == np.float32 and back.tolist() == [1.0, -2.5, 3.25]
    back[0] = 9.0  # a writable copy, not a view on the bytes


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.zeros((2, 2)), "1-D"),
        (np.array([1.0, np.nan]), "NaN"),
        (np.array([np.inf]), "NaN or inf"),
    ],
)
def test_to_blob_rejects_bad_input(value: np.ndarray, match: str) -> None:
    with pytest.raises(VectorError, match=match):
        to_blob(value)


def test_from_blob_rejects_partial_float() -> None:
    with pytest.raises(VectorError, match="multiple of 4"):
        from_blob(b"\x00\x00\x80")


# -- search ------------------------------------------------------------------------------------


def test_auto_picks_sqlite_vec(sqlite_store: Store) -> None:
    assert open_index(sqlite_store).backend == "sqlite-vec"
    assert open_index(sqlite_store) is open_index(sqlite_store)  # one per store


def test_unknown_or_impossible_backend(sqlite_store: Store) -> None:
    with pytest.raises(VectorError, match="unknown vector backend 'faiss'"):
        open_index(sqlite_store, backend="faiss")
    with pytest.raises(VectorError, match="pgvector backend needs PostgreSQL"):
        open_index(sqlite_store, backend="pgvector")


@pytest.mark.parametrize("backend", BACKENDS)
def test_knn_matches_brute_force_and_excludes_seed(
    sqlite_store: Store, rng: np.random.Generator, backend: str
) -> None:
    x = rng.standard_normal((300, 64)).astype(np.float32)
    ids = add_tracks(sqlite_store, x)
    index = open_index(sqlite_store, backend=backend)
    assert index.count("track") == 300
    for seed in (1, 77, 300):
        got = index.knn_by_id("track", seed, 10)
        assert seed not in [i for i, _ in got]
        assert [i for i, _ in got] == brute_force(ids, x, x[seed - 1], 10, exclude={seed})
        dists = [d for _, d in got]
        assert dists == sorted(dists) and all(0.0 <= d <= 2.0 for d in dists)
    # without exclude, the item itself comes first at distance 0
    first = index.knn("track", x[4], 3)[0]
    assert first[0] == 5 and first[1] == pytest.approx(0.0, abs=1e-6)
    # a query that is not stored, and scale invariance (cosine)
    q = rng.standard_normal(64).astype(np.float32)
    assert index.knn("track", q, 5) == index.knn("track", 2.0 * q, 5)
    assert [i for i, _ in index.knn("track", q, 5)] == brute_force(ids, x, q, 5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ties_are_broken_by_id(sqlite_store: Store, rng: np.random.Generator, backend: str) -> None:
    x = rng.standard_normal((200, 64)).astype(np.float32)
    dup = rng.standard_normal(64).astype(np.float32)
    tied = [150, 12, 199, 40, 77, 3, 101, 64, 180, 25, 90, 120, 8, 160, 55]
    for i in tied:
        x[i - 1] = dup * (1 + (i % 3))  # same direction, different lengths: identical cosine
    add_tracks(sqlite_store, x)
    index = open_index(sqlite_store, backend=backend)
    got = index.knn("track", dup, 10)
    assert [i for i, _ in got] == sorted(tied)[:10]
    assert all(d == pytest.approx(0.0, abs=1e-6) for _, d in got)
    # excluding a tied item lets the next tied id in
    got = index.knn("track", dup, 10, exclude=[3])
    assert [i for i, _ in got] == sorted(tied)[1:11]


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_index_and_zero_vectors(
    sqlite_store: Store, rng: np.random.Generator, backend: str
) -> None:
    x = rng.standard_normal((4, 64)).astype(np.float32)
    x[2] = 0.0  # an all-zero vector has no direction: never a neighbour
    add_tracks(sqlite_store, x)
    index = open_index(sqlite_store, backend=backend)
    got = index.knn("track", x[0], 10)
    assert [i for i, _ in got] == brute_force([1, 2, 4], x[[0, 1, 3]], x[0], 10)
    assert len(index.knn_by_id("track", 1, 10)) == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_requests(sqlite_store: Store, backend: str) -> None:
    add_tracks(sqlite_store, np.ones((2, 64), np.float32))
    index = open_index(sqlite_store, backend=backend)
    with pytest.raises(VectorError, match="unknown vector kind 'album'"):
        index.knn("album", np.ones(64), 3)
    with pytest.raises(VectorError, match="k must be a positive integer, got 0"):
        index.knn("track", np.ones(64), 0)
    with pytest.raises(VectorError, match=r"shape \(64,\), got \(3,\)"):
        index.knn("track", np.ones(3), 3)
    with pytest.raises(VectorError, match="all zeros"):
        index.knn("track", np.zeros(64), 3)
    with pytest.raises(NotFoundError, match="track 99 has no vector"):
        index.knn_by_id("track", 99, 3)
    assert index.knn("artist", np.ones(64), 3) == []  # empty kind


@pytest.mark.parametrize("backend", BACKENDS)
def test_index_follows_the_embeddings_tables(
    sqlite_store: Store, rng: np.random.Generator, backend: str
) -> None:
    """Writes to the embeddings tables (any writer, cascades included) reach an open index."""
    x = rng.standard_normal((50, 64)).astype(np.float32)
    add_tracks(sqlite_store, x)
    index = open_index(sqlite_store, backend=backend)
    target = rng.standard_normal(64).astype(np.float32)
    assert index.knn("track", target, 1)[0][0] != 51
    # a new row written through another engine (another process, say)
    other = Store(make_engine(str(sqlite_store.engine.url)))
    add_tracks(other, target[None, :] * 2, first_id=51)
    assert index.knn("track", target, 1)[0][0] == 51
    assert index.count("track") == 51
    # an updated vector
    with other.session() as s:
        put_embeddings(s, "track", [7], target[None, :], layout_version=2)
    assert [i for i, _ in index.knn("track", target, 2)] == [7, 51]
    # deleting the track cascades to its embedding and out of the index
    with other.session() as s:
        s.execute(delete(Track).where(Track.id == 51))
    assert [i for i, _ in index.knn("track", target, 1)] == [7]
    assert index.count("track") == 50
    other.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_upsert_and_delete_update_the_open_index(
    sqlite_store: Store, rng: np.random.Generator, backend: str
) -> None:
    x = rng.standard_normal((20, 64)).astype(np.float32)
    add_tracks(sqlite_store, x)
    index = open_index(sqlite_store, backend=backend)
    target = rng.standard_normal(64).astype(np.float32)
    index.upsert("track", [3], target[None, :])
    assert index.knn("track", target, 1)[0][0] == 3
    index.delete("track", [3])
    assert 3 not in [i for i, _ in index.knn("track", target, 20)]
    with pytest.raises(VectorError, match=r"shape \(1, 64\)"):
        index.upsert("track", [3], np.ones((1, 32)))


def test_artist_kind(sqlite_store: Store, rng: np.random.Generator) -> None:
    x = rng.standard_normal((30, 64)).astype(np.float32)
    ids = list(range(1, 31))
    with sqlite_store.session() as s:
        s.execute(insert(Artist), [{"id": i, "key": f"name:a{i}", "name": f"A{i}"} for i in ids])
        put_embeddings(s, "artist", ids, x, layout_version=1, n_tracks=[3] * 30)
    for backend in BACKENDS:
        got = open_index(sqlite_store, backend=backend).knn_by_id("artist", 5, 4)
        assert [i for i, _ in got] == brute_force(ids, x, x[4], 4, exclude={5})


def test_stale_index_is_rebuilt_after_migration_round_trip(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """Downgrade drops the embeddings tables (and their triggers) but not the derived vec0 table:
    the next index notices and rebuilds instead of serving stale ids."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first = Store(make_engine(url))
    migrate.upgrade(first.engine)
    add_tracks(first, rng.standard_normal((10, 64)).astype(np.float32))
    assert open_index(first).count("track") == 10
    migrate.downgrade(first.engine)
    migrate.upgrade(first.engine)
    first.dispose()

    second = Store(make_engine(url))
    x = rng.standard_normal((3, 64)).astype(np.float32)
    add_tracks(second, x, first_id=100)
    index = open_index(second)
    assert index.count("track") == 3
    assert {i for i, _ in index.knn("track", x[0], 10)} == {100, 101, 102}
    with second.engine.connect() as c:
        n = c.execute(
            text(
                "SELECT count(*) FROM sqlite_master "
                "WHERE type = 'trigger' AND name LIKE 'vec_tracks_a%'"
            )
        )
        assert n.scalar() == 3  # insert/update/delete triggers back in place
    second.dispose()


def test_sqlite_vec_beyond_its_k_limit_scans(
    sqlite_store: Store, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests larger than vec0's k cap (4096) fall back to an exact scan, same answers."""
    from sonicmap.store.vectors import sqlite_vec

    monkeypatch.setattr(sqlite_vec, "_VEC0_MAX_K", 16)
    x = rng.standard_normal((120, 64)).astype(np.float32)
    x[10] = 0.0
    ids = add_tracks(sqlite_store, x)
    got = open_index(sqlite_store).knn("track", x[0], 100, exclude=[1])
    assert len(got) == 100
    keep = [i for i in ids if i != 11]
    assert [i for i, _ in got] == brute_force(
        keep, x[[i - 1 for i in keep]], x[0], 100, exclude={1}
    )
    assert got == open_index(sqlite_store, backend="numpy").knn("track", x[0], 100, exclude=[1])


def test_sqlite_vec_keeps_directionless_vectors_out_and_stays_built(
    sqlite_store: Store, rng: np.random.Generator
) -> None:
    """Zero vectors (and ones whose float32 norm underflows) never enter the vec0 table, by the
    initial fill, the triggers or ``upsert``; the staleness check counts the same rows, so a
    second process does not rebuild."""
    x = rng.standard_normal((12, 64)).astype(np.float32)
    x[3] = 0.0
    x[5] = 1e-25  # squares underflow float32: no direction for sqlite-vec
    add_tracks(sqlite_store, x)
    index = open_index(sqlite_store)
    assert index.count("track") == 10
    add_tracks(sqlite_store, np.zeros((1, 64), np.float32), first_id=13)  # via the trigger
    with sqlite_store.session() as s:  # an update to zero, via the trigger
        put_embeddings(s, "track", [1], np.zeros((1, 64), np.float32), layout_version=1)
    assert index.count("track") == 9
    keep = [2, 3, 5, *range(7, 13)]  # 1 zeroed, 4 zero, 6 underflows, 13 zero
    got = [i for i, _ in index.knn("track", x[0], 20)]
    assert got == brute_force(keep, x[[i - 1 for i in keep]], x[0], 20) != []
    other = Store(make_engine(str(sqlite_store.engine.url)))
    with other.engine.connect() as c:
        before = c.execute(text("SELECT rowid FROM vec_tracks_rowids ORDER BY rowid")).all()
    assert open_index(other).count("track") == 9
    with other.engine.connect() as c:  # not rebuilt: the shadow rows are the same
        assert c.execute(text("SELECT rowid FROM vec_tracks_rowids ORDER BY rowid")).all() == before
    other.dispose()
    index.upsert("track", [2], np.zeros((1, 64), np.float32))
    assert index.count("track") == 8
    assert 2 not in [i for i, _ in index.knn("track", x[0], 20)]


def test_sqlite_vec_rebuilds_an_index_of_older_code_once(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """A database whose vec0 table was built as ``distance_metric=cosine`` over raw vectors (the
    first sonicmap layout) is rebuilt as the normalised L2 table on first use, then kept."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = Store(make_engine(url))
    migrate.upgrade(store.engine)
    x = rng.standard_normal((40, 64)).astype(np.float32)
    ids = add_tracks(store, x)
    with store.engine.begin() as c:
        c.execute(
            text(
                "CREATE VIRTUAL TABLE vec_tracks USING vec0(embedding float[64] distance_metric=cosine)"
            )
        )
        c.execute(
            text(
                "INSERT INTO vec_tracks(rowid, embedding) SELECT track_id, vector FROM track_embeddings"
            )
        )
        c.execute(
            text(
                "CREATE TRIGGER vec_tracks_ai AFTER INSERT ON track_embeddings BEGIN "
                "INSERT INTO vec_tracks(rowid, embedding) VALUES (NEW.track_id, NEW.vector); END"
            )
        )
    index = open_index(store)
    assert [i for i, _ in index.knn_by_id("track", 7, 5)] == brute_force(
        ids, x, x[6], 5, exclude={7}
    )
    with store.engine.connect() as c:
        ddl = c.execute(text("SELECT sql FROM sqlite_master WHERE name = 'vec_tracks'")).scalar()
        trig = c.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'vec_tracks_ai'")
        ).scalar()
    assert "distance_metric=l2" in ddl and "vec_normalize" in trig
    with store.engine.connect() as c:  # the vec0 table holds unit vectors
        worst = c.execute(
            text("SELECT max(abs(vec_distance_l2(embedding, zeroblob(256)) - 1)) FROM vec_tracks")
        ).scalar()
    assert worst < 1e-6
    store.dispose()
    again = Store(make_engine(url))
    assert open_index(again).count("track") == 40
    again.dispose()


def test_sqlite_vec_processes_rebuilding_at_once_wait_for_each_other(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """Several stores (processes) meeting a missing index at once: one builds, the others wait
    for its write lock and then find it built; none fails on a stale read."""
    import threading

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first = Store(make_engine(url))
    migrate.upgrade(first.engine)
    x = rng.standard_normal((3000, 64)).astype(np.float32)
    add_tracks(first, x)
    first.dispose()
    stores = [Store(make_engine(url)) for _ in range(4)]
    results: list[object] = []
    start = threading.Barrier(len(stores))

    def search(store: Store) -> None:
        start.wait()
        try:
            results.append(open_index(store).knn_by_id("track", 5, 3))
        except Exception as exc:  # pragma: no cover - the failure being tested against
            results.append(exc)

    threads = [threading.Thread(target=search, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    want = brute_force(list(range(1, 3001)), x, x[4], 3, exclude={5})
    assert [[i for i, _ in r] for r in results] == [want] * len(stores), results
    for s in stores:
        s.dispose()


def test_memory_index_needs_no_store_and_answers_like_the_backends(
    sqlite_store: Store, rng: np.random.Generator
) -> None:
    from sonicmap.store.vectors import MemoryIndex

    x = rng.standard_normal((300, 64)).astype(np.float32)
    x[40:44] = x[7]  # exact duplicates: ties broken by id
    ids = list(range(1, 301))
    mem = MemoryIndex(np.array(ids), x)
    got = mem.knn(x[7], 10, exclude=[8])
    assert [i for i, _ in got][:4] == [41, 42, 43, 44]
    assert [i for i, _ in got] == brute_force(ids, x, x[7], 10, exclude={8})
    add_tracks(sqlite_store, x)
    assert sqlite_store.vectors is open_index(sqlite_store)  # the store's own index
    for backend in BACKENDS:
        assert got == open_index(sqlite_store, backend=backend).knn("track", x[7], 10, exclude=[8])
    smaller = mem.without([41, 42]).with_vectors([500], x[7][None, :] * 3)
    assert [i for i, _ in smaller.knn(x[7], 3, exclude=[8])] == [43, 44, 500]
    with pytest.raises(VectorError, match="all zeros"):
        mem.knn(np.zeros(64), 3)
