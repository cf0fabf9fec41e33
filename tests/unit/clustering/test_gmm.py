"""ArtistGmm: BIC selection on correlated 64-D mixtures, refusals, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from sonicmap.clustering.gmm import ArtistGmm
from sonicmap.clustering.synthetic import correlated_mixture
from sonicmap.errors import NotEnoughDataError


@pytest.mark.slow
def test_bic_finds_true_k_on_correlated_64d_mixtures() -> None:
    hits, aris = [], []
    for k in range(3, 9):
        for seed in range(5):
            X, y = correlated_mixture(1000, k, seed=1000 * seed + k)
            m = ArtistGmm(random_state=seed).fit(X)
            hits.append(m.n_components_ == k)
            aris.append(adjusted_rand_score(y, m.predict(X)))
    share = float(np.mean(hits))
    assert share >= 0.8, f"true k chosen for {share:.0%} of seeds"
    assert float(np.mean(aris)) >= 0.9
    assert float(np.mean(np.array(aris) >= 0.9)) >= 0.8, sorted(aris)[:5]


def test_quick_fit_recovers_clusters_and_is_reproducible() -> None:
    X, y = correlated_mixture(600, 4, seed=7)
    a = ArtistGmm(random_state=3).fit(X)
    b = ArtistGmm(random_state=3).fit(X)
    assert a.n_components_ == 4
    assert adjusted_rand_score(y, a.predict(X)) >= 0.9
    np.testing.assert_array_equal(a.means_, b.means_)
    proba = a.predict_proba(X)
    assert proba.dtype == np.float32 and proba.shape == (600, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert a.means_.dtype == np.float32 and a.covariances_.dtype == np.float32
    assert set(a.bic_by_k_) >= {2, 3, 4}
    assert np.isfinite(a.bic_) and np.isfinite(a.aic_) and a.bic_ > a.aic_


def test_full_covariance_and_fixed_k() -> None:
    X, y = correlated_mixture(600, 3, seed=11)
    m = ArtistGmm(covariance_type="full", n_components=3).fit(X)
    assert m.covariances_.shape == (3, m.n_reduced_, m.n_reduced_)
    assert adjusted_rand_score(y, m.predict(X)) >= 0.9


def test_warm_start_from_previous_model_keeps_components() -> None:
    X, _ = correlated_mixture(800, 5, seed=5)
    prev = ArtistGmm(random_state=1).fit(X)
    X2 = X + np.random.default_rng(0).normal(scale=0.05, size=X.shape).astype(np.float32)
    new = ArtistGmm(random_state=2, n_components=prev.n_components_).fit(X2, warm_start=prev)
    assert new.n_components_ == prev.n_components_
    agree = adjusted_rand_score(prev.predict(X), new.predict(X2))
    assert agree >= 0.95


def test_too_few_artists_is_refused() -> None:
    X = np.random.default_rng(0).normal(size=(9, 64)).astype(np.float32)
    with pytest.raises(NotEnoughDataError, match="at least 10 distinct"):
        ArtistGmm().fit(X)
    dup = np.repeat(X[:1], 100, axis=0)
    with pytest.raises(NotEnoughDataError, match="got 1 distinct"):
        ArtistGmm().fit(dup)


def test_never_more_components_than_data_supports() -> None:
    X, _ = correlated_mixture(30, 3, seed=2)
    m = ArtistGmm(max_components=10).fit(X)
    assert max(m.bic_by_k_) <= 6  # 30 artists / 5 per component
    with pytest.raises(NotEnoughDataError, match="at most 6 components"):
        ArtistGmm(n_components=8).fit(X)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"covariance_type": "spherical"}, "covariance_type"),
        ({"max_components": 1}, "max_components"),
        ({"n_init": 0}, "n_init"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs: dict, match: str) -> None:
    X, _ = correlated_mixture(100, 3, seed=0)
    with pytest.raises(ValueError, match=match):
        ArtistGmm(**kwargs).fit(X)


def test_non_finite_vectors_are_rejected() -> None:
    X, _ = correlated_mixture(100, 3, seed=0)
    X[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ArtistGmm().fit(X)
