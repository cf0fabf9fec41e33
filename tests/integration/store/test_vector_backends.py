"""The three vector backends agree, and the PostgreSQL ones follow the embeddings tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, insert

from sonicmap.store import migrate
from sonicmap.store.db import Store, make_engine
from sonicmap.store.repo import put_embeddings
from sonicmap.store.schema import Track
from sonicmap.store.vectors import open_index, pgvector_available

pytestmark = pytest.mark.integration

N = 5000


def fill(store: Store, vectors: np.ndarray, *, first_id: int = 1) -> None:
    ids = list(range(first_id, first_id + len(vectors)))
    with store.session() as s:
        s.execute(
            insert(Track),
            [{"id": i, "path": f"/lib/{i}.mp3", "size": 2, "mtime": 1.0} for i in ids],
        )
        put_embeddings(s, "track", ids, vectors, layout_version=1)


def test_auto_picks_pgvector_or_numpy(pgvector_store: Store, pg_store: Store) -> None:
    assert open_index(pgvector_store).backend == "pgvector"
    expected = "pgvector" if pgvector_available(pg_store.engine) else "numpy"
    assert open_index(pg_store).backend == expected


def test_three_backends_return_identical_neighbours(
    tmp_path: Path, pgvector_store: Store, pg_store: Store
) -> None:
    rng = np.random.default_rng(2024)
    x = rng.standard_normal((N, 64)).astype(np.float32)
    x[4000:4012] = x[17]  # a block of exact duplicates: ties must be broken by id everywhere
    sqlite_store = Store(make_engine(f"sqlite:///{tmp_path / 'v.db'}"))
    migrate.upgrade(sqlite_store.engine)
    for store in (sqlite_store, pgvector_store, pg_store):
        fill(store, x)
    indexes = {
        "sqlite-vec": open_index(sqlite_store, backend="sqlite-vec"),
        "pgvector": open_index(pgvector_store, backend="pgvector"),
        "numpy": open_index(pg_store, backend="numpy"),
    }
    seeds = [int(i) for i in rng.choice(N, 40, replace=False) + 1] + [18, 4001]
    queries = rng.standard_normal((10, 64)).astype(np.float32)
    results: dict[str, list[list[tuple[int, float]]]] = {}
    for name, index in indexes.items():
        assert index.count("track") == N, name
        got = [index.knn_by_id("track", s, 10) for s in seeds]
        got += [index.knn("track", q, 10) for q in queries]
        results[name] = got
    reference = results["numpy"]
    for name, got in results.items():
        assert [[i for i, _ in r] for r in got] == [[i for i, _ in r] for r in reference], name
        for r, ref in zip(got, reference, strict=True):
            np.testing.assert_allclose([d for _, d in r], [d for _, d in ref], rtol=0, atol=1e-12)
    # the seed itself is excluded; its duplicates come first, in id order
    for r, seed in zip(reference[: len(seeds)], seeds, strict=True):
        assert len(r) == 10 and seed not in [i for i, _ in r]
    dup = reference[seeds.index(18)]
    assert [i for i, _ in dup] == list(range(4001, 4011))
    assert [i for i, _ in reference[seeds.index(4001)]][:10] == [18, *range(4002, 4011)]
    sqlite_store.dispose()


@pytest.mark.parametrize("which", ["pgvector", "numpy"])
def test_postgres_backends_follow_writes_from_other_processes(
    which: str, pgvector_store: Store, pg_store: Store
) -> None:
    store = pgvector_store if which == "pgvector" else pg_store
    rng = np.random.default_rng(7)
    fill(store, rng.standard_normal((40, 64)).astype(np.float32))
    index = open_index(store, backend=which)
    probe = rng.standard_normal(64).astype(np.float32)

    writer = Store(make_engine(store.engine.url.render_as_string(hide_password=False)))
    fill(writer, probe[None, :] * 0.5, first_id=41)  # new track, exactly along the probe
    assert index.knn("track", probe, 1)[0][0] == 41
    with writer.session() as s:  # re-embedding an existing track moves it
        put_embeddings(s, "track", [2], -probe[None, :], layout_version=2)
    assert index.knn("track", -probe, 1)[0][0] == 2
    with writer.session() as s:  # deleting tracks cascades into the index
        s.execute(delete(Track).where(Track.id.in_([2, 41])))
    assert index.count("track") == 39
    assert {2, 41}.isdisjoint(i for i, _ in index.knn("track", probe, 39))
    writer.dispose()
