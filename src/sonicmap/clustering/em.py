"""EM runs of :class:`~sonicmap.clustering.gmm.ArtistGmm`: one scikit-learn Gaussian mixture
fitted at a given k (retried with more regularisation when a component collapses), and the
initialisation that carries a previous model's clusters into a new model space.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

log = logging.getLogger("sonicmap.clustering.gmm")  # the model's logger, as before the split

Init = tuple[np.ndarray, np.ndarray, np.ndarray]
"""An initial solution: means (k, p), weights (k,), precisions (k, p) or (k, p, p)."""


def fit_mixture(
    Z: np.ndarray,
    k: int,
    *,
    n_init: int,
    warm: Init | None,
    covariance_type: str,
    reg_covar: float,
    max_iter: int,
    tol: float,
    random_state: int,
) -> GaussianMixture:
    """A ``k``-component mixture fitted on ``Z`` (n, p): from ``warm`` when given (one run),
    else from ``n_init`` k-means++ starts. A collapsed component is retried with 10× the
    regularisation in float64 (twice at most)."""
    kwargs: dict[str, Any] = {}
    if warm is not None:
        kwargs = {
            "means_init": warm[0],
            "weights_init": warm[1] / warm[1].sum(),
            "precisions_init": warm[2],
        }
    gm = GaussianMixture(
        n_components=k,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        max_iter=max_iter,
        tol=tol,
        n_init=n_init if warm is None else 1,
        init_params="k-means++",
        random_state=random_state,
        **kwargs,
    )
    for attempt in range(3):
        try:
            with _quiet():
                gm.fit(Z)
            return gm
        except ValueError:
            # A collapsed component: retry with 10x the regularisation, in float64.
            if attempt == 2:
                raise
            gm.set_params(reg_covar=gm.reg_covar * 10)
            Z = Z.astype(np.float64)
            log.debug("gmm k=%d collapsed; retry with reg_covar=%g", k, gm.reg_covar)
    return gm


def warm_init(r: np.ndarray, Z_sel: np.ndarray, *, covariance_type: str, reg_covar: float) -> Init:
    """Initial (means, weights, precisions) from responsibilities: one M-step.

    ``r`` (n, k) float64 — a previous model's responsibilities on the sample — and ``Z_sel``
    (n, p), the same sample in the new model space: the previous clusters, expressed there.
    """
    Z = Z_sel.astype(np.float64)
    nk = r.sum(axis=0) + 10 * np.finfo(np.float64).eps
    means = (r.T @ Z) / nk[:, None]
    if covariance_type == "diag":
        cov = (r.T @ (Z * Z)) / nk[:, None] - means**2 + reg_covar
        prec = 1.0 / np.maximum(cov, reg_covar)
    else:
        prec = np.empty((len(nk), Z.shape[1], Z.shape[1]))
        for j in range(len(nk)):
            diff = Z - means[j]
            c = (r[:, j, None] * diff).T @ diff / nk[j] + reg_covar * np.eye(Z.shape[1])
            prec[j] = np.linalg.inv(c)
    return means, nk / nk.sum(), prec


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence scikit-learn's ConvergenceWarning (max_iter reached is reported via converged_)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
