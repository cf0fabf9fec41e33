"""The IVF index: exact below its threshold, high recall above it, zero vectors never returned."""

from __future__ import annotations

import numpy as np

from sonicmap.embedding.ivf import EXACT_BELOW, IvfIndex


def _clustered(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(32, 64))
    v = centres[rng.integers(0, 32, n)] + 0.7 * rng.normal(size=(n, 64))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _exact(v: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    return list(np.argsort(-(v @ q), kind="stable")[:k])


def test_small_libraries_are_searched_exactly_and_skip_zero_vectors() -> None:
    v = _clustered(500)
    v[7] = 0.0
    idx = IvfIndex.build(v)
    assert len(idx.offsets) == 2  # one list
    for s in range(20):
        q = v[s] if s != 7 else v[8]
        rows, dist = idx.search(q, 10)
        want = [r for r in _exact(v, q, 11) if r != 7][:10]
        assert rows.tolist() == want
        assert np.all(np.diff(dist) >= -1e-7) and 7 not in rows
        np.testing.assert_allclose(dist, 1 - v[rows] @ (q / np.linalg.norm(q)), atol=1e-5)
    assert idx.search(np.zeros(64), 5)[0].size == 0


def test_large_libraries_keep_high_recall() -> None:
    v = _clustered(4 * EXACT_BELOW, seed=1)
    idx = IvfIndex.build(v)
    assert len(idx.offsets) - 1 > 1 and sorted(idx.rows.tolist()) == list(range(len(v)))
    rng = np.random.default_rng(2)
    hit = 0
    seeds = rng.choice(len(v), 50, replace=False)
    for s in seeds:
        rows, _ = idx.search(v[s], 10)
        hit += len(set(rows.tolist()) & set(_exact(v, v[s], 10)))
    assert hit / (10 * len(seeds)) >= 0.95
    # probing every list is exact
    rows, _ = idx.search(v[seeds[0]], 10, nprobe=len(idx.offsets))
    assert rows.tolist() == _exact(v, v[seeds[0]], 10)
