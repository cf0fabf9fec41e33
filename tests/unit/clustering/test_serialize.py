"""Model ↔ named arrays: exact round trip, no pickle, version and shape checks."""

from __future__ import annotations

import numpy as np
import pytest

from sonicmap.clustering.gmm import ArtistGmm
from sonicmap.clustering.serialize import (
    FORMAT_VERSION,
    ModelFormatError,
    decode_array,
    encode_array,
    model_from_arrays,
    model_to_arrays,
)
from sonicmap.clustering.synthetic import correlated_mixture


@pytest.mark.parametrize("cov", ["diag", "full"])
def test_round_trip_predicts_identically(cov: str) -> None:
    X, _ = correlated_mixture(400, 3, seed=4)
    m = ArtistGmm(covariance_type=cov, n_components=3).fit(X)  # type: ignore[arg-type]
    stored = {n: encode_array(a) for n, a in model_to_arrays(m).items()}
    back = model_from_arrays({n: decode_array(*rec) for n, rec in stored.items()})
    np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))
    np.testing.assert_array_equal(back.score_samples(X), m.score_samples(X))
    assert back.covariance_type == cov and back.n_components_ == 3
    assert back.bic_ == pytest.approx(m.bic_)
    assert all(isinstance(rec[2], bytes) for rec in stored.values())


def test_encode_decode_dtypes_and_shapes() -> None:
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    dtype, shape, data = encode_array(a)
    assert (dtype, shape, len(data)) == ("int64", [3, 4], 96)
    np.testing.assert_array_equal(decode_array(dtype, shape, data), a)
    with pytest.raises(ValueError, match="dtype object"):
        encode_array(np.array([object()]))
    with pytest.raises(ModelFormatError, match="need 96"):
        decode_array("int64", [3, 4], data[:-1])


def test_unknown_format_version_and_missing_arrays_are_refused() -> None:
    X, _ = correlated_mixture(200, 2, seed=1)
    arrays = model_to_arrays(ArtistGmm(n_components=2).fit(X))
    with pytest.raises(ModelFormatError, match=f"version {FORMAT_VERSION + 1}"):
        model_from_arrays(arrays, format_version=FORMAT_VERSION + 1)
    del arrays["means"]
    with pytest.raises(ModelFormatError, match="missing: means"):
        model_from_arrays(arrays)
