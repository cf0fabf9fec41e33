"""Gaussian-mixture clustering of artist vectors, lean enough for a Raspberry Pi.

:class:`ArtistGmm` follows scikit-learn's estimator habits: tuning parameters are stored by
``__init__`` (keyword-only), checked at :meth:`ArtistGmm.fit`, and fitted attributes end in ``_``.

Pipeline inside one model::

    X (n, d) float32 ──standardise (mean_, scale_)──▶ ──PCA (components_, p ≤ pca_components)──▶
    Z (n, p) ──GMM (weights_, means_, covariances_)──▶ responsibilities (n, k)

The standardisation and the PCA are part of the model and stored with it, so that a model
predicts the same way years later. The number of components is chosen by BIC over
``2 … max_components`` (never more than the data supports: at most one component per
``min_per_component`` distinct artists). Selection runs on a random subsample of at most
``selection_sample`` rows; the chosen k is then refitted on at most ``fit_sample`` rows starting
from the selection's solution, and every row is scored in chunks (bounded memory).

Fitted parameters are cast to float32 right after fitting (what is stored is exactly what
predicts); log densities are computed in float64 chunk by chunk, probabilities returned as
float32.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture

from sonicmap.clustering.density import density_terms, weighted_log_prob
from sonicmap.clustering.em import Init, fit_mixture, warm_init
from sonicmap.clustering.projection import model_projection
from sonicmap.errors import NotEnoughDataError

log = logging.getLogger(__name__)

CovarianceType = Literal["diag", "full"]
COVARIANCE_TYPES: tuple[str, ...] = ("diag", "full")
_CHUNK = 8192
_PASS_SAMPLE = 1500  # rows used by the intermediate whitening passes


class ArtistGmm:
    """Standardise → (optional) PCA → Gaussian mixture, with k chosen by BIC.

    Parameters (all keyword-only)
    ----------
    n_components : int or None
        Fixed number of components; ``None`` selects k by BIC over ``2 … max_components``.
    max_components : int
        Upper end of the BIC search (capped by what the data supports).
    covariance_type : ``"diag"`` (default) or ``"full"``
        Covariance of each component in the (reduced) space.
    pca_components : int or None
        Keep this many principal components of the standardised vectors (``None`` or ``0``:
        no PCA). Capped at ``min(d, n - 1)``.
    whiten, whiten_passes : bool, int
        Decorrelate the within-cluster scatter before the PCA cut (see ``_projection``),
        re-estimated from the clusters found ``whiten_passes - 1`` times. Correlated features
        otherwise make a ``diag`` mixture split one elongated cluster into several.
    n_init : int
        Initialisations of the final fit (best log-likelihood kept).
    reg_covar : float
        Added to every variance (in standardised units), keeps components non-degenerate.
    max_iter, tol : int, float
        EM stopping rule (per-sample lower-bound change).
    random_state : int
        Seed: the same data and seed give the same model.
    selection_sample, fit_sample : int
        Row caps for the BIC search and the final fit (random subsamples, seeded).
    selection_n_init : int
        Initialisations per k during the BIC search (one bad local optimum at the true k would
        otherwise hand the choice to k ± 1).
    min_per_component : int
        At least this many distinct artists per component; fewer than ``2 * min_per_component``
        distinct artists → :class:`~sonicmap.errors.NotEnoughDataError`.
    patience : int
        Stop the BIC search after this many consecutive k without a better BIC (0: never).

    Fitted attributes
    -----------------
    scaler_mean_, scaler_scale_ : np.ndarray [shape=(d,), float32]
    pca_components_ : np.ndarray [shape=(p, d), float32] or None
    weights_ : np.ndarray [shape=(k,), float64]
    means_ : np.ndarray [shape=(k, p), float32]
    covariances_ : np.ndarray [shape=(k, p), float32] (diag) or [shape=(k, p, p), float32] (full)
    n_components_ : int
    bic_by_k_ : dict[int, float]  (BIC of each k tried, on the selection sample)
    bic_, aic_, mean_log_likelihood_ : float  (on the fit sample: all rows up to ``fit_sample``)
    converged_ : bool
    n_features_in_ : int
    fit_seconds_ : float
    warm_started_ : bool  (the previous model's solution was the best initialisation)
    """

    # fitted attributes set by fit() (declared for the type checker; absent until then)
    n_features_in_: int
    n_reduced_: int
    bic_: float

    def __init__(
        self,
        *,
        n_components: int | None = None,
        max_components: int = 10,
        covariance_type: CovarianceType = "diag",
        pca_components: int | None = 16,
        n_init: int = 1,
        reg_covar: float = 1e-4,
        max_iter: int = 200,
        tol: float = 1e-3,
        random_state: int = 0,
        selection_sample: int = 1000,
        fit_sample: int = 20000,
        min_per_component: int = 5,
        patience: int = 3,
        whiten: bool = True,
        whiten_passes: int = 3,
        selection_n_init: int = 2,
    ) -> None:
        self.n_components = n_components
        self.max_components = max_components
        self.covariance_type = covariance_type
        self.pca_components = pca_components
        self.n_init = n_init
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.selection_sample = selection_sample
        self.fit_sample = fit_sample
        self.min_per_component = min_per_component
        self.patience = patience
        self.whiten = whiten
        self.whiten_passes = whiten_passes
        self.selection_n_init = selection_n_init

    # ------------------------------------------------------------------ parameters

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-able dict."""
        return {
            "n_components": self.n_components,
            "max_components": self.max_components,
            "covariance_type": self.covariance_type,
            "pca_components": self.pca_components,
            "n_init": self.n_init,
            "reg_covar": self.reg_covar,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "random_state": self.random_state,
            "selection_sample": self.selection_sample,
            "fit_sample": self.fit_sample,
            "min_per_component": self.min_per_component,
            "patience": self.patience,
            "whiten": self.whiten,
            "whiten_passes": self.whiten_passes,
            "selection_n_init": self.selection_n_init,
        }

    def _validate_params(self) -> None:
        def bad(name: str, expected: str) -> ValueError:
            return ValueError(
                f"ArtistGmm parameter {name!r} must be {expected}, got {getattr(self, name)!r}"
            )

        if self.covariance_type not in COVARIANCE_TYPES:
            raise bad("covariance_type", "one of 'diag', 'full'")
        if self.n_components is not None and (
            not isinstance(self.n_components, int) or self.n_components < 1
        ):
            raise bad("n_components", "None or an integer >= 1")
        if not isinstance(self.max_components, int) or self.max_components < 2:
            raise bad("max_components", "an integer >= 2")
        if self.pca_components is not None and self.pca_components < 0:
            raise bad("pca_components", "None or an integer >= 0")
        for name in (
            "n_init",
            "max_iter",
            "selection_sample",
            "fit_sample",
            "min_per_component",
            "whiten_passes",
            "selection_n_init",
        ):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise bad(name, "an integer >= 1")
        if not self.reg_covar >= 0:
            raise bad("reg_covar", "a number >= 0")
        if not self.tol > 0:
            raise bad("tol", "a number > 0")

    # ------------------------------------------------------------------ fitting

    def supported_max_components(self, X: np.ndarray) -> int:
        """Largest k the data supports: ``distinct rows // min_per_component`` (≥ 0).

        Distinct rows are counted on a prefix just long enough to decide (all rows only when
        the prefix has too many duplicates).
        """
        need = max(self.max_components, self.n_components or 0) * self.min_per_component
        head = _count_distinct(X[: 4 * need])
        n_distinct = head if head >= need else _count_distinct(X)
        return n_distinct // self.min_per_component

    def fit(self, X: np.ndarray, *, warm_start: ArtistGmm | None = None) -> ArtistGmm:
        """Fit on artist vectors.

        Parameters
        ----------
        X : np.ndarray [shape=(n, d), float32]
            One vector per artist (any finite float array; converted to float32).
        warm_start : ArtistGmm or None
            A previously fitted model on vectors of the same dimension. Its components, mapped
            into this model's space, are tried as one more initialisation for the k it had
            (kept only if it reaches a better log-likelihood), which keeps clusters stable
            and usually converges in a few EM steps.

        Raises
        ------
        NotEnoughDataError
            Fewer distinct rows than two components need.
        ValueError
            Bad parameters, non-finite values, or a warm-start model of another dimension.
        """
        t0 = time.perf_counter()
        self._validate_params()
        X = _as_matrix(X)
        n, d = X.shape
        supported = self.supported_max_components(X)
        if supported < 2:
            raise NotEnoughDataError(
                f"need at least {2 * self.min_per_component} distinct artist vectors to fit 2 "
                f"components ({self.min_per_component} per component), got {_count_distinct(X)} "
                f"distinct of {n}"
            )
        if self.n_components is not None:
            if self.n_components > supported:
                raise NotEnoughDataError(
                    f"n_components={self.n_components} needs at least "
                    f"{self.n_components * self.min_per_component} distinct artist vectors; "
                    f"these {n} rows support at most {supported} components"
                )
            ks = [self.n_components]
        else:
            ks = list(range(2, min(self.max_components, supported) + 1))
        if warm_start is not None and warm_start.n_features_in_ != d:
            raise ValueError(
                f"warm_start model was fitted on {warm_start.n_features_in_}-D vectors, "
                f"these are {d}-D; pass warm_start=None"
            )
        rng = np.random.default_rng(self.random_state)
        self.n_features_in_ = d

        # Standardisation on all rows (two streaming passes would do for huge n; n*d float64
        # sums are cheap here).
        mean = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
        std[std < 1e-8] = 1.0
        self.scaler_mean_ = mean.astype(np.float32)
        self.scaler_scale_ = std.astype(np.float32)

        fit_idx = _subsample(n, self.fit_sample, rng)
        Z_fit = self._standardise(X[fit_idx])
        Z_std = Z_fit
        sel_n = min(len(fit_idx), self.selection_sample)
        passes = self.whiten_passes if self.whiten and self.pca_components else 1
        resp: np.ndarray | None = None
        for i in range(passes):
            # Later passes re-estimate the within-cluster covariance from the clusters found;
            # the intermediate passes only need a rough answer, so they use fewer rows.
            m = sel_n if i == passes - 1 else min(sel_n, _PASS_SAMPLE)
            self.pca_components_ = model_projection(
                Z_std[:m],
                resp,
                pca_components=self.pca_components,
                whiten=self.whiten,
                selection_sample=self.selection_sample,
                reg_covar=self.reg_covar,
            )
            Z_fit = Z_std if self.pca_components_ is None else Z_std @ self.pca_components_.T
            Z_fit = np.ascontiguousarray(Z_fit, dtype=np.float32)
            warm = self._warm_init(warm_start, X[fit_idx[:m]], Z_fit[:m])
            k, gm = self._select(Z_fit[:m], ks, warm)
            resp = gm.predict_proba(Z_fit[:m])

        if len(Z_fit) > sel_n or self.n_init > 1:
            # Refit at the chosen k on the larger sample: from the selection's solution, from the
            # previous model when it had this k, and from (n_init - 1) fresh starts.
            starts: list[GaussianMixture] = [
                self._fit_one(Z_fit, k, n_init=1, warm=(gm.means_, gm.weights_, gm.precisions_))
            ]
            if warm and len(warm[0]) == k:
                starts.append(self._fit_one(Z_fit, k, n_init=1, warm=warm))
            if self.n_init > 1:
                starts.append(self._fit_one(Z_fit, k, n_init=self.n_init - 1, warm=None))
            scores = [s.score(Z_fit) for s in starts]
            gm = starts[int(np.argmax(scores))]
            self.warm_started_ = bool(warm and len(warm[0]) == k and int(np.argmax(scores)) == 1)
        else:
            self.warm_started_ = bool(warm and len(warm[0]) == k)

        self.n_components_ = k
        self.weights_ = np.asarray(gm.weights_, dtype=np.float64)
        self.means_ = np.asarray(gm.means_, dtype=np.float32)
        self.covariances_ = np.asarray(gm.covariances_, dtype=np.float32)
        self.converged_ = bool(gm.converged_)
        self._prepare()

        # BIC/AIC/mean log-likelihood on the fit sample (all rows up to fit_sample).
        X_fit = X[fit_idx]
        self._set_criteria(float(self.score_samples(X_fit).sum()), len(X_fit))
        self.fit_seconds_ = time.perf_counter() - t0
        log.info(
            "gmm fitted k=%d n=%d d=%d p=%d cov=%s bic=%.1f seconds=%.2f",
            k, n, d, self.n_reduced_, self.covariance_type, self.bic_, self.fit_seconds_,
        )  # fmt: skip
        return self

    def _select(
        self, Z_sel: np.ndarray, ks: list[int], warm: Init | None
    ) -> tuple[int, GaussianMixture]:
        """BIC search over ``ks`` on ``Z_sel`` (n_sel, p); sets ``bic_by_k_``."""
        best: tuple[float, int, GaussianMixture] | None = None
        self.bic_by_k_: dict[int, float] = {}
        since_best = 0
        for k in ks:
            gm = self._fit_one(Z_sel, k, n_init=self.selection_n_init, warm=None)
            if warm and len(warm[0]) == k:
                gw = self._fit_one(Z_sel, k, n_init=1, warm=warm)
                if gw.score(Z_sel) >= gm.score(Z_sel):
                    gm = gw
            bic = float(gm.bic(Z_sel))
            self.bic_by_k_[k] = bic
            log.debug("bic k=%d bic=%.1f converged=%s iters=%d", k, bic, gm.converged_, gm.n_iter_)
            if best is None or bic < best[0]:
                best, since_best = (bic, k, gm), 0
            else:
                since_best += 1
                if self.patience and since_best >= self.patience:
                    break
        assert best is not None
        return best[1], best[2]

    def _fit_one(self, Z: np.ndarray, k: int, *, n_init: int, warm: Init | None) -> GaussianMixture:
        return fit_mixture(
            Z,
            k,
            n_init=n_init,
            warm=warm,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=self.random_state,
        )

    def _warm_init(
        self, prev: ArtistGmm | None, X_sel: np.ndarray, Z_sel: np.ndarray
    ) -> Init | None:
        """Initial (means, weights, precisions) in this model's space from a previous model.

        The previous model's responsibilities on the sample ``X_sel`` (n, d) — raw vectors —
        give one M-step on ``Z_sel`` (n, p): the previous clusters, expressed in the new space.
        """
        if prev is None or len(X_sel) == 0:
            return None
        r = prev.predict_proba(X_sel).astype(np.float64)  # (n, k)
        return warm_init(r, Z_sel, covariance_type=self.covariance_type, reg_covar=self.reg_covar)

    def _set_criteria(self, total_ll: float, n: int) -> None:
        k, p = self.n_components_, self.n_reduced_
        cov_params = k * p if self.covariance_type == "diag" else k * p * (p + 1) / 2
        n_params = cov_params + k * p + (k - 1)
        self.n_parameters_ = int(n_params)
        self.mean_log_likelihood_ = total_ll / n
        self.bic_ = -2.0 * total_ll + n_params * math.log(n)
        self.aic_ = -2.0 * total_ll + 2.0 * n_params

    # ------------------------------------------------------------------ prediction

    def _prepare(self) -> None:
        """Derive the float64 terms used for scoring from the stored float32 parameters."""
        self.n_components_ = len(self.weights_)
        self.n_reduced_ = int(self.means_.shape[1])
        self._terms = density_terms(self.weights_, self.covariances_, self.covariance_type)

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        out: np.ndarray = (np.asarray(X, np.float32) - self.scaler_mean_) / self.scaler_scale_
        return out

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Vectors → the model's space. ``X`` (n, d) → ``Z`` [shape=(n, p), float32]."""
        Z = self._standardise(_as_matrix(X, self.n_features_in_))
        if self.pca_components_ is not None:
            Z = Z @ self.pca_components_.T
        return np.ascontiguousarray(Z, dtype=np.float32)

    def means_original(self) -> np.ndarray:
        """Component means mapped back to vector units: [shape=(k, d), float64]."""
        m = self.means_.astype(np.float64)
        if self.pca_components_ is not None:
            m = m @ self.pca_components_.astype(np.float64)
        out: np.ndarray = m * self.scaler_scale_ + self.scaler_mean_
        return out

    def _chunks(self, X: np.ndarray) -> Iterator[np.ndarray]:
        X = _as_matrix(X, self.n_features_in_)
        for start in range(0, len(X), _CHUNK):
            Z = self.transform(X[start : start + _CHUNK])
            yield weighted_log_prob(Z, self.means_, self._terms, self.covariance_type)

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Log-likelihood of each row: [shape=(n,), float64] (in the model's reduced space)."""
        out = [logsumexp(w, axis=1) for w in self._chunks(X)]
        return np.concatenate(out) if out else np.empty(0)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Responsibilities: [shape=(n, k), float32], rows sum to 1."""
        out = []
        for w in self._chunks(X):
            out.append(np.exp(w - logsumexp(w, axis=1, keepdims=True)).astype(np.float32))
        return np.concatenate(out) if out else np.empty((0, self.n_components_), np.float32)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most likely component of each row: [shape=(n,), int64]."""
        out = [np.argmax(w, axis=1) for w in self._chunks(X)]
        return np.concatenate(out) if out else np.empty(0, np.int64)

    def predict_with_scores(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Responsibilities [shape=(n, k), float32] and log-likelihoods [shape=(n,), float64]."""
        probs, lls = [], []
        for w in self._chunks(X):
            ll = logsumexp(w, axis=1, keepdims=True)
            probs.append(np.exp(w - ll).astype(np.float32))
            lls.append(ll[:, 0])
        if not probs:
            return np.empty((0, self.n_components_), np.float32), np.empty(0)
        return np.concatenate(probs), np.concatenate(lls)

    def score(self, X: np.ndarray) -> float:
        """Mean log-likelihood per row."""
        return float(np.mean(self.score_samples(X)))

    def bic(self, X: np.ndarray) -> float:
        """Bayesian information criterion of this model on ``X`` (lower is better)."""
        ll = float(self.score_samples(X).sum())
        return -2.0 * ll + self.n_parameters_ * math.log(len(X))


def _as_matrix(X: Any, d: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D array of artist vectors (n, d), got shape {X.shape}")
    if d is not None and X.shape[1] != d:
        raise ValueError(f"expected vectors of dimension {d}, got {X.shape[1]}")
    if X.size and not np.isfinite(X).all():
        raise ValueError("artist vectors contain NaN or infinity; expected finite values")
    out: np.ndarray = X
    return out


def _count_distinct(X: np.ndarray) -> int:
    if len(X) == 0:
        return 0
    # Exact distinct rows via their bytes; cheap for n ≤ 1e6 rows of 64 float32.
    view = np.ascontiguousarray(X).view(np.dtype((np.void, X.dtype.itemsize * X.shape[1])))
    return int(len(np.unique(view)))


def _subsample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(n)`` truncated to ``cap`` (sorted order not kept)."""
    idx = rng.permutation(n)
    return idx[:cap]
