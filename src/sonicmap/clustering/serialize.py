"""Model ↔ named numpy arrays (no pickle, no joblib).

A model is a flat ``dict[str, np.ndarray]``; each array is stored as (dtype string, shape,
raw C-order little-endian bytes), e.g. in the ``gmm_model_arrays`` table. Names:

========================  =====================  ==========================================
name                      shape, dtype           meaning
========================  =====================  ==========================================
``scaler_mean``           (d,) float32           standardisation: subtract …
``scaler_scale``          (d,) float32           … then divide
``projection``            (p, d) float32         optional: standardised vectors → model space
``weights``               (k,) float64           mixture weights (sum 1)
``means``                 (k, p) float32         component means in model space
``covariances``           (k, p) or (k, p, p)    ``diag`` or ``full`` covariances, float32
``meta``                  (m,) float64           ``[format_version, bic, aic, mean_ll, n_params]``
========================  =====================  ==========================================

The covariance type follows from the shape of ``covariances``. :data:`FORMAT_VERSION` is bumped
whenever a name or a meaning changes; :func:`model_from_arrays` refuses other versions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sonicmap.clustering.gmm import ArtistGmm
from sonicmap.errors import SonicmapError

FORMAT_VERSION = 1
_REQUIRED = ("scaler_mean", "scaler_scale", "weights", "means", "covariances")
_ALLOWED_DTYPES = {"float32", "float64", "int32", "int64", "uint8"}


class ModelFormatError(SonicmapError):
    """Stored model arrays are missing, inconsistent or of an unknown format version."""


def model_to_arrays(model: ArtistGmm) -> dict[str, np.ndarray]:
    """The fitted parameters of ``model`` as named arrays (see the module table)."""
    if not hasattr(model, "weights_"):
        raise ValueError("model is not fitted; call fit() first")
    out: dict[str, np.ndarray] = {
        "scaler_mean": np.asarray(model.scaler_mean_, np.float32),
        "scaler_scale": np.asarray(model.scaler_scale_, np.float32),
        "weights": np.asarray(model.weights_, np.float64),
        "means": np.asarray(model.means_, np.float32),
        "covariances": np.asarray(model.covariances_, np.float32),
        "meta": np.array(
            [
                FORMAT_VERSION,
                model.bic_,
                model.aic_,
                model.mean_log_likelihood_,
                model.n_parameters_,
            ],
            dtype=np.float64,
        ),
    }
    if model.pca_components_ is not None:
        out["projection"] = np.asarray(model.pca_components_, np.float32)
    return out


def model_from_arrays(
    arrays: Mapping[str, np.ndarray], *, format_version: int = FORMAT_VERSION
) -> ArtistGmm:
    """Rebuild a model that predicts exactly as the one that was stored.

    Unknown extra names are ignored (the pipeline stores e.g. ``training_artist_ids`` next to
    the parameters). Raises :class:`ModelFormatError` on a version or shape mismatch.
    """
    if format_version != FORMAT_VERSION:
        raise ModelFormatError(
            f"model format version {format_version} is not supported (this code reads "
            f"version {FORMAT_VERSION}); retrain with `sonicmap cluster`"
        )
    missing = [n for n in _REQUIRED if n not in arrays]
    if missing:
        raise ModelFormatError(f"model arrays missing: {', '.join(missing)}")
    cov = np.asarray(arrays["covariances"], np.float32)
    means = np.asarray(arrays["means"], np.float32)
    weights = np.asarray(arrays["weights"], np.float64)
    k, p = means.shape
    if cov.shape == (k, p):
        cov_type = "diag"
    elif cov.shape == (k, p, p):
        cov_type = "full"
    else:
        raise ModelFormatError(f"covariances of shape {cov.shape} do not fit means {means.shape}")
    if weights.shape != (k,):
        raise ModelFormatError(f"weights of shape {weights.shape}, expected ({k},)")
    m = ArtistGmm(covariance_type=cov_type, n_components=k)  # type: ignore[arg-type]
    m.scaler_mean_ = np.asarray(arrays["scaler_mean"], np.float32)
    m.scaler_scale_ = np.asarray(arrays["scaler_scale"], np.float32)
    m.n_features_in_ = int(m.scaler_mean_.shape[0])
    proj = arrays.get("projection")
    m.pca_components_ = None if proj is None else np.asarray(proj, np.float32)
    expected_p = m.n_features_in_ if proj is None else proj.shape[0]
    if p != expected_p:
        raise ModelFormatError(f"means have {p} columns, the projection gives {expected_p}")
    m.weights_, m.means_, m.covariances_ = weights, means, cov
    meta = np.asarray(arrays.get("meta", np.full(5, np.nan)), np.float64)
    m.bic_, m.aic_, m.mean_log_likelihood_ = (float(x) for x in meta[1:4])
    m.n_parameters_ = int(meta[4]) if np.isfinite(meta[4]) else 0
    m.converged_ = True
    m._prepare()
    return m


def encode_array(arr: np.ndarray) -> tuple[str, list[int], bytes]:
    """``arr`` → (dtype name, shape, little-endian C-order bytes)."""
    a = np.asarray(arr)
    name = a.dtype.name
    if name not in _ALLOWED_DTYPES:
        raise ValueError(
            f"cannot store arrays of dtype {name}; expected one of {sorted(_ALLOWED_DTYPES)}"
        )
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return name, [int(s) for s in a.shape], a.tobytes()


def decode_array(dtype: str, shape: list[int] | tuple[int, ...], data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_array` (returns a writable copy)."""
    if dtype not in _ALLOWED_DTYPES:
        raise ModelFormatError(
            f"stored array has dtype {dtype!r}; expected one of {sorted(_ALLOWED_DTYPES)}"
        )
    dt = np.dtype(dtype).newbyteorder("<")
    count = int(np.prod(shape)) if len(shape) else 1
    if len(data) != count * dt.itemsize:
        raise ModelFormatError(
            f"stored array has {len(data)} bytes; dtype {dtype} and shape {list(shape)} need "
            f"{count * dt.itemsize}"
        )
    return np.frombuffer(data, dtype=dt).astype(np.dtype(dtype)).reshape(shape)
