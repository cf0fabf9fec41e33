"""Rhythm descriptors from onset-strength and amplitude envelopes: onset rate, detrended
fluctuation (danceability), modulation ratio, and the envelope helpers they share with the tempo
estimate (:mod:`sonicmap.analysis.tempo`).

The onset envelopes are log-mel spectral flux (half-wave rectified, max-filtered over
neighbouring bands as in SuperFlux) computed by :mod:`sonicmap.analysis.analyze` at
``fps = 11025 / 256 ≈ 43.07`` frames per second: one over all mel bands and one over the bass
bands (below ``BASS_MAX_HZ``: kick drum and bass notes).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import fft as _fft  # several times faster than numpy.fft on batches of rows


def _pad_edges(x: np.ndarray, left: int, right: int) -> np.ndarray:
    """``np.pad(x, (left, right), mode="edge")`` without its per-call overhead (x non-empty)."""
    xp = np.empty(x.size + left + right, dtype=x.dtype)
    xp[:left] = x[0]
    xp[left : left + x.size] = x
    xp[left + x.size :] = x[-1]
    return xp


def _std(x: np.ndarray) -> float:
    """``x.std()`` of a 1-D float64 array (the same operations, so the same value) without its
    per-call overhead."""
    d = x - np.add.reduce(x) / x.size
    return math.sqrt(np.add.reduce(d * d) / x.size)


def moving_average(x: np.ndarray, size: int) -> np.ndarray:
    """Centred moving average with edge values repeated (like ``scipy.ndimage.uniform_filter1d``
    with ``mode="nearest"``); x [shape=(n,)] → [shape=(n,)], float64."""
    left = size // 2
    c = np.empty(x.size + size, dtype=np.float64)
    c[0] = 0.0
    np.cumsum(_pad_edges(np.asarray(x, dtype=np.float64), left, size - 1 - left), out=c[1:])
    return (c[size:] - c[:-size]) / size


def moving_max(x: np.ndarray, size: int) -> np.ndarray:
    """Centred moving maximum with edge values repeated; x [shape=(n,)] → [shape=(n,)]."""
    left = size // 2
    x = np.asarray(x)
    xp = _pad_edges(x, left, size - 1 - left)
    out = xp[: x.size].copy()
    for k in range(1, size):  # size - 1 element-wise maxima: cheaper than a strided reduction
        np.maximum(out, xp[k : k + x.size], out=out)
    return out


BASS_MAX_HZ = 200.0
"""Upper edge [Hz] of the mel bands (by centre) whose flux makes the bass onset envelope."""


@functools.cache
def _hann_sym(n: int) -> np.ndarray:
    """``np.hanning(n)`` (symmetric), shared and read-only."""
    w = np.hanning(n)
    w.flags.writeable = False
    return w


def onset_rate(onset: np.ndarray, fps: float, *, min_gap_s: float = 0.05) -> float:
    """Onsets per second: local maxima (±70 ms) above mean + 0.5·std of the envelope."""
    o = np.asarray(onset, dtype=np.float64)
    if o.size < 3:
        return 0.0
    sd = _std(o)
    if sd < 1e-9:
        return 0.0
    w = max(3, int(round(0.14 * fps)) | 1)
    thr = moving_average(o, max(3, int(2 * fps)))
    thr += 0.5 * sd
    peaks = np.flatnonzero((o == moving_max(o, w)) & (o > thr))
    if peaks.size == 0:
        return 0.0
    gap = max(1, int(min_gap_s * fps))
    n_onsets = 1 + int(np.count_nonzero(np.diff(peaks) >= gap))
    return float(n_onsets / (o.size / fps))


def _dfa_fluctuation(y: np.ndarray, tau: int) -> float:
    """RMS residual of a least-squares line fitted to each whole window of ``tau`` samples of
    the profile ``y``.

    Per window (centred first, so no large sums cancel): residual energy = Σc² − (c·t)² / t·t
    with t the centred time ramp. When the lines explain all but 1e-6 of the variance (a
    piecewise-linear profile: silence, steady levels) that difference would be rounding noise,
    and the residuals are computed explicitly instead.
    """
    nwin = y.size // tau
    seg = y[: nwin * tau].reshape(nwin, tau)
    # = seg - seg.mean(axis=1, keepdims=True), without the per-call overhead of the method
    c = seg - (np.add.reduce(seg, axis=1) / tau)[:, None]
    t, inv_tt = _centred_ramp(tau)
    b = c @ t
    cc = float(np.vdot(c, c))
    rss = cc - float(b @ b) * inv_tt
    if rss > _DFA_CLOSED_FORM_MIN * cc:
        return math.sqrt(rss / c.size)
    slope = seg @ t / (t @ t)
    resid = seg - seg.mean(axis=1, keepdims=True) - slope[:, None] * t[None, :]
    return float(np.sqrt(np.mean(resid**2)))


_DFA_CLOSED_FORM_MIN = 1e-6
"""Smallest residual share of the windows' variance computed in closed form (rounding error of
the closed form ≈ 1e-16 / share, relative)."""


@functools.cache
def _centred_ramp(n: int) -> tuple[np.ndarray, float]:
    """(t − mean(t) for t = 0 … n − 1, 1 / Σ t²)."""
    t = np.arange(n, dtype=np.float64)
    t -= t.mean()
    t.flags.writeable = False
    return t, 1.0 / float(t @ t)


@functools.cache
def _dfa_scales(n: int, fps: float, min_tau_s: float, max_tau_s: float, n_tau: int) -> np.ndarray:
    taus = np.unique(np.round(np.geomspace(min_tau_s * fps, max_tau_s * fps, n_tau)).astype(int))
    return taus[(taus >= 3) & (taus * 2 <= n)]


def dfa_exponents(
    env: np.ndarray, fps: float, *, min_tau_s: float = 0.31, max_tau_s: float = 8.8, n_tau: int = 16
) -> np.ndarray:
    """Detrended fluctuation analysis (Streich & Herrera 2005) of an amplitude envelope.

    env : [shape=(n,)] frame RMS at ``fps``. Returns the DFA exponents α between successive
    time scales (log-spaced from ``min_tau_s`` to ``max_tau_s``); empty when the envelope is too
    short or constant.
    """
    x = np.asarray(env, dtype=np.float64)
    if x.size < 2 * max(2, int(min_tau_s * fps)) or _std(x) < 1e-12:
        return np.zeros(0)
    y = np.cumsum(x - np.add.reduce(x) / x.size)  # = x - x.mean(), without its overhead
    taus = _dfa_scales(
        min(y.size, 2 * int(np.ceil(max_tau_s * fps)) + 2), fps, min_tau_s, max_tau_s, n_tau
    )
    fl = np.array([_dfa_fluctuation(y, tau) for tau in taus.tolist()])
    ok = fl > 0
    taus, fl = taus[ok], fl[ok]
    if taus.size < 2:
        return np.zeros(0)
    result: np.ndarray = np.diff(np.log10(fl)) / np.diff(np.log10(taus))
    return result


def dfa_danceability(env: np.ndarray, fps: float) -> float:
    """Danceability after Streich & Herrera / Essentia: 1 / mean DFA exponent (0 to ~3, higher is
    more danceable; 0 when undefined)."""
    alpha = dfa_exponents(env, fps)
    if alpha.size == 0:
        return 0.0
    m = float(np.add.reduce(alpha) / alpha.size)  # = np.mean(alpha), without its overhead
    return float(min(1.0 / m, 3.0)) if m > 1e-3 else 3.0


def modulation_ratio(
    band_env: np.ndarray, fps: float, *, lo_hz: float = 2.5, hi_hz: float = 7.0
) -> float:
    """Share of the log-envelope modulation energy between ``lo_hz`` and ``hi_hz`` (syllable rate)
    among 0.5-15 Hz, averaged over 3 s windows. 0-1; speech typically > 0.4."""
    x = np.log(np.asarray(band_env, dtype=np.float64) + 1e-10)
    win = int(round(3.0 * fps))
    if x.size < win:
        return 0.0
    n = x.size // win
    seg = x[: n * win].reshape(n, win)
    seg = seg - seg.sum(axis=1, keepdims=True) / win
    seg *= _hann_sym(win)
    X = _fft.rfft(seg, axis=1)
    spec = (X.real**2 + X.imag**2).sum(axis=0)  # the mean's 1/n cancels in the ratio
    total, band = _modulation_bands(win, fps, lo_hz, hi_hz)
    tot = spec[total].sum()
    if tot <= 0:
        return 0.0
    return float(spec[band].sum() / tot)


@functools.cache
def _modulation_bands(win: int, fps: float, lo_hz: float, hi_hz: float) -> tuple[slice, slice]:
    """Bins [slices] of the 0.5-15 Hz range and of the ``lo_hz``-``hi_hz`` band."""
    f = np.fft.rfftfreq(win, 1.0 / fps)

    def sl(lo: float, hi: float) -> slice:
        i = np.flatnonzero((f >= lo) & (f <= hi))
        return slice(int(i[0]), int(i[-1]) + 1) if i.size else slice(0, 0)

    return sl(0.5, 15.0), sl(lo_hz, hi_hz)
