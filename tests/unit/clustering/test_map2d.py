"""The 2-D artist map: exact k-NN, neighbours kept, placement of new points, bounds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.manifold import trustworthiness

from sonicmap.clustering import map2d
from sonicmap.clustering.synthetic import correlated_mixture


def _unit(X: np.ndarray) -> np.ndarray:
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def test_knn_matches_brute_force_and_excludes_self() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 8)).astype(np.float32)[:300]
    idx, dist = map2d.knn(X, 7, block=64)
    D = np.linalg.norm(X[:, None, :].astype(np.float64) - X[None, :, :], axis=2)
    np.fill_diagonal(D, np.inf)
    want = np.argsort(D, axis=1, kind="stable")[:, :7]
    assert (idx == want).all()
    assert np.allclose(dist, np.take_along_axis(D, want, 1), atol=1e-4)
    with pytest.raises(ValueError, match="k must be in 1..299"):
        map2d.knn(X, 300)
    # Wide searches bound the k-th distance on a subset of the columns first: still exact.
    R = rng.normal(size=(5000, 8)).astype(np.float32)
    idx, _ = map2d.knn(X, 3, ref=R)
    want = np.argsort(((X[:, None, :] - R[None]) ** 2).sum(axis=2), axis=1, kind="stable")[:, :3]
    assert (idx == want).all()


def test_layout_keeps_neighbours_better_than_pca() -> None:
    X, labels = correlated_mixture(600, 5, seed=3)
    X = _unit(X)
    Y = map2d.map_layout(X, seed=0)
    assert Y.shape == (600, 2) and Y.dtype == np.float32 and np.isfinite(Y).all()
    assert np.isclose(np.abs(Y).max(), map2d.SPAN)
    Xc = X - X.mean(axis=0)
    pca = Xc @ np.linalg.svd(Xc, full_matrices=False)[2][:2].T
    t_map = trustworthiness(X, Y, n_neighbors=10)
    t_pca = trustworthiness(X, pca, n_neighbors=10)
    assert t_map >= 0.9 and t_map > t_pca + 0.05
    # Same input and seed, same map.
    assert np.array_equal(Y, map2d.map_layout(X, seed=0))


def test_tiny_and_duplicate_inputs_give_finite_maps() -> None:
    for n in (1, 2, 3, 12):
        Y = map2d.map_layout(np.ones((n, 4), np.float32), seed=0)
        assert Y.shape == (n, 2) and np.isfinite(Y).all()


def test_place_points_lands_new_points_beside_their_neighbours() -> None:
    X, labels = correlated_mixture(400, 4, seed=7)
    X = _unit(X)
    Y = map2d.map_layout(X[:350], seed=0)
    placed = map2d.place_points(X[350:], X[:350], Y)
    # The artist drawn nearest to a placed one is of its own kind, mostly a true neighbour.
    nearest = np.argmin(np.linalg.norm(placed[:, None, :] - Y[None], axis=2), axis=1)
    assert np.mean(labels[:350][nearest] == labels[350:]) >= 0.95
    true_nn, _ = map2d.knn(X[350:], 10, ref=X[:350])
    assert np.mean([nearest[i] in true_nn[i] for i in range(50)]) >= 0.75
    assert map2d.place_points(X[:0], X, Y).shape == (0, 2)


def test_large_inputs_are_laid_out_on_a_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(map2d, "MAX_EXACT", 200)
    X, _ = correlated_mixture(500, 3, seed=1)
    Y = map2d.map_layout(_unit(X), seed=0, n_iter=50, early_iter=20)
    assert Y.shape == (500, 2) and np.isfinite(Y).all()
