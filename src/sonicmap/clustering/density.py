"""Log densities of a fitted :class:`~sonicmap.clustering.gmm.ArtistGmm` mixture.

The model stores float32 parameters (exactly what predicts); the terms used for scoring are
derived from them in float64 once (:func:`density_terms`), and rows are scored in float64
(:func:`weighted_log_prob`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class DensityTerms:
    """float64 scoring terms: log weights (k,), ``log |prec|^(1/2)`` (k,), and the precisions
    (diag: (k, p)) or the precision Cholesky factors (full: (k, p, p))."""

    log_weights: np.ndarray
    log_det: np.ndarray
    prec: np.ndarray


def density_terms(
    weights: np.ndarray, covariances: np.ndarray, covariance_type: str
) -> DensityTerms:
    """Derive the float64 terms used for scoring from the stored float32 parameters."""
    k = len(weights)
    cov = covariances.astype(np.float64)
    log_weights = np.log(np.maximum(weights, 1e-300))
    if covariance_type == "diag":
        prec = 1.0 / cov  # (k, p)
        log_det = -0.5 * np.log(cov).sum(axis=1)  # log |prec|^(1/2), (k,)
    else:
        chol = np.empty_like(cov)
        for i in range(k):
            c = np.linalg.cholesky(cov[i])
            chol[i] = np.linalg.solve(c, np.eye(len(c))).T  # precision Cholesky factor
        prec = chol
        log_det = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    return DensityTerms(log_weights=log_weights, log_det=log_det, prec=prec)


def weighted_log_prob(
    Z: np.ndarray, means: np.ndarray, terms: DensityTerms, covariance_type: str
) -> np.ndarray:
    """(n, p) → log(w_j) + log N(z | j), [shape=(n, k), float64]."""
    Z = Z.astype(np.float64)
    p = Z.shape[1]
    mu = means.astype(np.float64)
    if covariance_type == "diag":
        prec = terms.prec
        maha = (Z**2) @ prec.T - 2.0 * Z @ (mu * prec).T + np.sum(mu**2 * prec, axis=1)[None, :]
    else:
        maha = np.empty((len(Z), len(mu)))
        for j in range(len(mu)):
            y = (Z - mu[j]) @ terms.prec[j]
            maha[:, j] = np.sum(y * y, axis=1)
    out: np.ndarray = -0.5 * (p * _LOG_2PI + maha) + terms.log_det + terms.log_weights
    return out
