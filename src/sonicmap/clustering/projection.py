"""The model space of :class:`~sonicmap.clustering.gmm.ArtistGmm`: the linear map from
standardised artist vectors to the (whitened) principal axes the mixture is fitted in.

Plain PCA keeps the ``p`` principal axes. With whitening the vectors are first rotated into the
top ``2p`` principal axes, where the within-cluster covariance Σ_w is estimated (from
nearest-neighbour differences when no clusters are known yet, else pooled over the clusters
given by responsibilities); the space is whitened by Σ_w^(-1/2), so that features that co-vary
inside clusters become uncorrelated (what a ``diag`` mixture assumes), and the ``p`` axes of
largest remaining variance (the directions that separate clusters) are kept.
"""

from __future__ import annotations

import numpy as np


def model_projection(
    Z: np.ndarray,
    resp: np.ndarray | None,
    *,
    pca_components: int | None,
    whiten: bool,
    selection_sample: int,
    reg_covar: float,
) -> np.ndarray | None:
    """The linear map standardised vectors → model space: [shape=(p, d), float32] or None.

    Parameters
    ----------
    Z : np.ndarray [shape=(n, d)]
        Standardised vectors.
    resp : np.ndarray [shape=(n_sel, k)] or None
        Responsibilities of the clusters found so far (None: estimate the within-cluster
        covariance from nearest-neighbour differences).
    pca_components, whiten, selection_sample, reg_covar
        As the :class:`~sonicmap.clustering.gmm.ArtistGmm` parameters of the same names.

    Returns
    -------
    np.ndarray [shape=(p, d), float32] or None (no reduction: the identity)
    """
    n, d = Z.shape
    # At most one retained axis per 10 rows: small libraries get a small space.
    p = 0 if not pca_components else min(pca_components, d, max(2, n // 10))
    if not p or (p >= d and not whiten):
        return None
    z64 = Z.astype(np.float64)
    vt = principal_axes(z64)
    if not whiten:
        return vt[:p].astype(np.float32)
    p0 = min(2 * p, d, n - 1)
    v0 = vt[:p0]  # (p0, d)
    Y = z64 @ v0.T
    sel = Y[:selection_sample]
    if resp is None:
        within = neighbour_covariance(sel[:2000])
    else:
        # Pooled within-cluster covariance under the given responsibilities (n_sel, k).
        sel = Y[: len(resp)]
        r = resp.astype(np.float64)
        nk = r.sum(axis=0) + 1e-12
        mu = (r.T @ sel) / nk[:, None]
        within = sel.T @ sel - (mu.T * nk) @ mu
        within = within / len(sel) + reg_covar * np.eye(len(within))
    evals, evecs = np.linalg.eigh(within)
    evals = np.maximum(evals, max(evals.max() * 1e-6, 1e-6))
    w = evecs @ np.diag(evals**-0.5) @ evecs.T  # Σ_w^(-1/2), symmetric (p0, p0)
    Yw = Y @ w
    Yw -= Yw.mean(axis=0)
    vt1 = principal_axes(Yw)
    out: np.ndarray = (vt1[:p] @ w @ v0).astype(np.float32)
    return out


def principal_axes(Y: np.ndarray) -> np.ndarray:
    """Principal axes of centred rows ``Y`` (n, p), largest variance first: (p, p) float64.

    Eigenvectors of the p × p scatter matrix (cheaper than an SVD of the n × p data).
    """
    evals, evecs = np.linalg.eigh(Y.T @ Y)
    return evecs[:, np.argsort(evals)[::-1]].T


def neighbour_covariance(Y: np.ndarray, *, chunk: int = 512) -> np.ndarray:
    """Half the mean outer product of each row's difference to its nearest other row.

    Nearest neighbours almost always share a cluster, so this estimates the within-cluster
    covariance without knowing the clusters. ``Y`` (n, p) float64 → (p, p) float64.
    """
    sq = np.sum(Y * Y, axis=1)
    nn = np.empty(len(Y), dtype=np.int64)
    for s in range(0, len(Y), chunk):
        d2 = sq[s : s + chunk, None] - 2.0 * Y[s : s + chunk] @ Y.T + sq[None, :]
        d2[np.arange(len(d2)), np.arange(s, s + len(d2))] = np.inf
        nn[s : s + chunk] = np.argmin(d2, axis=1)
    diff = Y - Y[nn]
    out: np.ndarray = diff.T @ diff / (2.0 * len(Y))
    return out
