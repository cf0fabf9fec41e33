"""Drift: 0 for an unchanged library, large when a third of the artists is replaced."""

from __future__ import annotations

import numpy as np

from sonicmap.clustering.drift import compute_drift
from sonicmap.clustering.gmm import ArtistGmm
from sonicmap.clustering.synthetic import correlated_mixture


def _trained(n: int = 600):
    X, _ = correlated_mixture(n, 4, seed=3)
    m = ArtistGmm(random_state=0).fit(X)
    ids = np.arange(1000, 1000 + n)
    comp_ids = np.arange(100, 100 + m.n_components_)
    stored = comp_ids[m.predict(X)]
    return m, X, ids, comp_ids, stored


def test_unchanged_library_has_no_drift() -> None:
    m, X, ids, comp_ids, stored = _trained()
    r = compute_drift(
        m, component_ids=comp_ids, current_ids=ids, current_vectors=X, trained_ids=ids,
        stored_artist_ids=ids, stored_cluster_ids=stored,
    )  # fmt: skip
    assert r.drift <= 0.02
    assert r.n_new == r.n_removed == r.n_changed == 0
    assert abs(r.log_likelihood_shift) < 1e-6


def test_replacing_30_percent_with_a_new_style_drifts() -> None:
    m, X, ids, comp_ids, stored = _trained()
    n_rep = int(0.3 * len(ids))
    new_X, _ = correlated_mixture(n_rep, 1, seed=99)
    new_X += 8.0  # a style the model has never seen
    cur_ids = np.concatenate([ids[n_rep:], np.arange(5000, 5000 + n_rep)])
    cur_X = np.concatenate([X[n_rep:], new_X])
    r = compute_drift(
        m, component_ids=comp_ids, current_ids=cur_ids, current_vectors=cur_X, trained_ids=ids,
        stored_artist_ids=ids, stored_cluster_ids=stored,
    )  # fmt: skip
    assert r.drift > 0.15
    assert r.n_new == n_rep and r.n_removed == n_rep
    assert 0.0 <= r.drift <= 1.0
    assert r.log_likelihood_shift < 0


def test_artists_that_moved_between_clusters_count() -> None:
    m, X, ids, comp_ids, stored = _trained()
    moved = X.copy()
    # Put the first 60 artists onto the mean of a component they do not belong to.
    target = m.means_original()[0].astype(np.float32)
    others = np.flatnonzero(m.predict(X) != 0)[:60]
    moved[others] = target
    r = compute_drift(
        m, component_ids=comp_ids, current_ids=ids, current_vectors=moved, trained_ids=ids,
        stored_artist_ids=ids, stored_cluster_ids=stored,
    )  # fmt: skip
    assert r.n_changed == 60
    assert r.drift == 60 / len(ids)


def test_empty_library() -> None:
    m, X, ids, comp_ids, stored = _trained()
    empty = np.empty(0, np.int64)
    r = compute_drift(
        m, component_ids=comp_ids, current_ids=empty, current_vectors=np.empty((0, 64), np.float32),
        trained_ids=empty, stored_artist_ids=empty, stored_cluster_ids=empty,
    )  # fmt: skip
    assert r.drift == 0.0
