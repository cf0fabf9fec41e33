"""Timbre and rhythm-texture statistics beyond means (for similarity), from series already kept.

* :func:`fluctuation_pattern` — a reduced fluctuation pattern (Pampalk, Rauber & Merkl 2002;
  Pampalk 2006, ch. 2.2.5): the modulation spectrum (0.5-10 Hz) of the onset envelope, weighted
  by the fluctuation-strength curve, summarised per log-spaced modulation band, with its centre
  of gravity and its overall strength.
* :func:`mfcc_correlations` — the correlations between the low MFCCs, i.e. the off-diagonal of the
  single-Gaussian timbre model (Mandel & Ellis 2005) normalised by its diagonal (the MFCC
  standard deviations are reported separately).

All pure functions over small arrays; called once per track at the end of the analysis.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft as _fft

FP_WINDOW = 256
"""Frames per modulation window (≈ 5.9 s at 43 frames/s), hop half of it."""
FP_EDGES_HZ = (0.5, 0.82, 1.35, 2.2, 3.6, 6.0, 10.0)
"""Edges of the modulation bands (log-spaced, 0.5-10 Hz)."""
MFCC_CORR_ORDER = 6
"""Correlations between MFCC 1 … this (15 pairs)."""


@functools.cache
def _fp_tables(fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(window, fluctuation-strength weight per bin, band index per bin (−1 outside), freqs)."""
    f = np.fft.rfftfreq(FP_WINDOW, 1.0 / fps)
    win = np.hanning(FP_WINDOW)
    with np.errstate(divide="ignore"):
        # Fastl's fluctuation strength: maximal at 4 Hz modulation, 1/(f/4 + 4/f)
        w = np.where(f > 0, 1.0 / (f / 4.0 + 4.0 / np.where(f > 0, f, 1.0)), 0.0)
    band = np.searchsorted(np.asarray(FP_EDGES_HZ), f, side="right") - 1
    band[(f < FP_EDGES_HZ[0]) | (f >= FP_EDGES_HZ[-1])] = -1
    for a in (win, w, band, f):
        a.flags.writeable = False
    return win, w, band, f


def fluctuation_pattern(onset: np.ndarray, fps: float) -> dict[str, object]:
    """Reduced fluctuation pattern of an onset-strength envelope.

    Windows of :data:`FP_WINDOW` frames (hop half), mean removed, Hann-weighted; per window the
    modulation magnitude |FFT| is weighted by ``1 / (f/4 + 4/f)`` (fluctuation strength, peak at
    4 Hz) and averaged over windows: ``M(f)``. Returns

    * ``pattern``: the share of Σ M(f) in each band of :data:`FP_EDGES_HZ` (sums to 1);
    * ``gravity``: Σ f·M(f) / Σ M(f) over 0.5-10 Hz (Hz; Pampalk's FP gravity);
    * ``strength``: Σ M(f) over 0.5-10 Hz divided by the window's Σ envelope (dimensionless:
      how much of the onset energy is periodic modulation rather than steady texture).

    An envelope shorter than one window, or without modulation, yields equal shares, 3 Hz and 0.
    """
    n_bands = len(FP_EDGES_HZ) - 1
    neutral = {"pattern": [1.0 / n_bands] * n_bands, "gravity": 3.0, "strength": 0.0}
    x = np.asarray(onset, dtype=np.float64)
    if x.size < FP_WINDOW:
        return neutral
    win, w, band, f = _fp_tables(float(fps))
    hop = FP_WINDOW // 2
    n = (x.size - FP_WINDOW) // hop + 1
    seg = np.lib.stride_tricks.as_strided(
        x, shape=(n, FP_WINDOW), strides=(hop * x.strides[0], x.strides[0]), writeable=False
    )
    level = seg.sum(axis=1)
    centred = (seg - (level / FP_WINDOW)[:, None]) * win
    M = np.abs(_fft.rfft(centred, axis=1)).mean(axis=0) * w
    inside = band >= 0
    total = float(M[inside].sum())
    if not total > 0:
        return neutral
    shares = np.bincount(band[inside], M[inside], minlength=n_bands) / total
    mean_level = float(level.mean())
    return {
        "pattern": [float(v) for v in shares],
        "gravity": float((f[inside] * M[inside]).sum() / total),
        "strength": total / mean_level if mean_level > 0 else 0.0,
    }


def mfcc_correlations(cov: np.ndarray, order: int = MFCC_CORR_ORDER) -> list[float]:
    """Upper-triangle correlations (row-major) between MFCC 1 … ``order`` from their covariance.

    cov : [shape=(n_mfcc, n_mfcc)] covariance of the MFCCs (coefficient 0 first). Coefficients
    with no variance correlate 0 with everything.
    """
    c = np.asarray(cov, dtype=np.float64)[1 : order + 1, 1 : order + 1]
    sd = np.sqrt(np.maximum(np.diag(c), 0.0))
    ok = sd > 1e-9
    denom = np.outer(np.where(ok, sd, 1.0), np.where(ok, sd, 1.0))
    r = np.clip(c / denom, -1.0, 1.0)
    r[~ok, :] = 0.0
    r[:, ~ok] = 0.0
    iu = np.triu_indices(order, k=1)
    return [float(v) for v in r[iu]]
