"""The one similarity scale: fixed, monotone, in [0, 1]."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sonicmap.sequencing import angle_of, similarity


def test_anchor_points() -> None:
    assert similarity(0.0) == 1.0  # same direction: the same recording
    assert similarity(1.0) == pytest.approx(0.5)  # orthogonal
    assert similarity(2.0) == 0.0  # opposite: the most different
    assert similarity(1.0 - math.cos(math.pi / 3)) == pytest.approx(2 / 3)  # 60°
    assert math.isnan(similarity(math.nan))


def test_array_matches_scalar_and_clips_rounding() -> None:
    d = np.array([-1e-9, 0.0, 0.3, 1.0, 1.7, 2.0, 2.0 + 1e-9])
    got = similarity(d)
    assert got.shape == d.shape
    np.testing.assert_allclose(got, [similarity(float(x)) for x in d])
    assert got[0] == 1.0 and got[-1] == 0.0
    np.testing.assert_allclose(angle_of(np.array([0.0, 1.0, 2.0])), [0.0, np.pi / 2, np.pi])


@given(st.floats(0.0, 2.0), st.floats(0.0, 2.0))
def test_monotone_decreasing_in_distance(d1: float, d2: float) -> None:
    lo, hi = min(d1, d2), max(d1, d2)
    assert 0.0 <= similarity(hi) <= similarity(lo) <= 1.0


@given(st.integers(2, 64), st.integers(0, 2**32 - 1), st.floats(0.01, 100.0))
def test_depends_only_on_the_angle(dim: int, seed: int, scale: float) -> None:
    """Scaling a vector or rotating both vectors (another model's weights over the same
    geometry, another library) leaves the figure unchanged."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(2, dim))
    if not (np.linalg.norm(x) > 1e-6 and np.linalg.norm(y) > 1e-6):
        return

    def cos_d(u: np.ndarray, v: np.ndarray) -> float:
        return 1.0 - float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))

    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    base = similarity(cos_d(x, y))
    assert similarity(cos_d(scale * x, y)) == pytest.approx(base, abs=1e-6)
    assert similarity(cos_d(q @ x, q @ y)) == pytest.approx(base, abs=1e-6)
