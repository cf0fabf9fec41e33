"""Generated artist vectors with a known cluster structure (tests and ``bench/gmm.py``).

Nothing here is used at run time by the application; it lives in the package so tests and the
benchmark share one generator.
"""

from __future__ import annotations

import numpy as np


def correlated_mixture(
    n: int,
    k: int,
    *,
    dim: int = 64,
    seed: int = 0,
    separation: float = 6.0,
    latent_dim: int = 8,
    noise: float = 0.5,
    min_weight: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian mixture in ``dim`` dimensions whose features are strongly correlated.

    Every cluster has its own covariance ``A_j A_jᵀ + noise² I`` where ``A_j`` (dim × latent_dim)
    shares a common loading matrix plus a cluster-specific perturbation, so features co-vary
    (as descriptors of real music do) and the covariances differ between clusters. Means are
    ``separation`` (in units of the typical within-cluster spread) apart on average.

    Returns
    -------
    X : np.ndarray [shape=(n, dim), float32]
    labels : np.ndarray [shape=(n,), int64] true component of each row (0 … k-1)
    """
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(dim, latent_dim)) / np.sqrt(latent_dim)
    raw_w = rng.uniform(min_weight, 1.0, size=k)
    weights = raw_w / raw_w.sum()
    labels = rng.choice(k, size=n, p=weights)
    labels[:k] = np.arange(k)  # every component present
    # Means: random directions, scaled so the mean pairwise distance is about `separation`
    # times the within-cluster spread along that direction.
    means = rng.normal(size=(k, dim))
    means *= (separation / np.sqrt(2.0)) / np.linalg.norm(means, axis=1)[:, None]
    X = np.empty((n, dim), dtype=np.float32)
    for j in range(k):
        idx = np.flatnonzero(labels == j)
        A = common + 0.3 * rng.normal(size=(dim, latent_dim)) / np.sqrt(latent_dim)
        z = rng.normal(size=(len(idx), latent_dim))
        e = noise * rng.normal(size=(len(idx), dim))
        X[idx] = (means[j] + z @ A.T + e).astype(np.float32)
    return X, labels.astype(np.int64)
