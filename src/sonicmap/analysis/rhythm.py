"""Rhythm descriptors from an onset-strength envelope: tempo, pulse strength, onset rate, DFA.

The onset envelope is the log-mel spectral flux (half-wave rectified, max-filtered over
neighbouring bands as in SuperFlux) computed by :mod:`sonicmap.analysis.analyze` at
``fps = 11025 / 256 ≈ 43.07`` frames per second.

Tempo (after Percival & Tzanetakis, "Streamlined tempo estimation based on autocorrelation and
cross-correlation with pulses", IEEE/ACM TASLP 22(12), 2014):

1. generalised autocorrelation of the detrended envelope (``|FFT|^k`` with k < 2 sharpens peaks),
   unbiased by the overlap length;
2. harmonic enhancement ``E(τ) = A(τ) + A(2τ) + A(4τ)``; the strongest peaks of E between
   ``bpm_min`` and ``bpm_max`` are the candidates;
3. each candidate period is scored by cross-correlating the envelope with pulse trains (beats at
   the period) over every phase: the best phase's mean envelope plus the variance over phases;
4. a log-normal tempo prior (median ``prior_bpm`` = 140, σ = 1 octave) settles octave ambiguity.
   Per-beat pulse scores favour slower grids that pick out the strongest hits (kick on 1 and 3),
   so the prior's median sits above the usual 120 BPM to compensate; chosen by measurement over
   156 generated clips from three seeds (median 120 → A1 0.81, 130 → 0.85, 140 → 0.90, 150 →
   0.90 but more doubling of slow pieces); the estimator makes octave errors at the extremes
   (halving 170-190 BPM, doubling 60-65 BPM);
5. the chosen lag is refined with the autocorrelation peaks at 1, 2 and 4 periods.
"""

from __future__ import annotations

import numpy as np


def moving_average(x: np.ndarray, size: int) -> np.ndarray:
    """Centred moving average with edge values repeated (like ``scipy.ndimage.uniform_filter1d``
    with ``mode="nearest"``); x [shape=(n,)] → [shape=(n,)], float64."""
    left = size // 2
    xp = np.pad(np.asarray(x, dtype=np.float64), (left, size - 1 - left), mode="edge")
    c = np.concatenate([[0.0], np.cumsum(xp)])
    return (c[size:] - c[:-size]) / size


def moving_max(x: np.ndarray, size: int) -> np.ndarray:
    """Centred moving maximum with edge values repeated; x [shape=(n,)] → [shape=(n,)]."""
    left = size // 2
    xp = np.pad(np.asarray(x), (left, size - 1 - left), mode="edge")
    return np.lib.stride_tricks.sliding_window_view(xp, size).max(axis=1)


BPM_MIN = 50.0
BPM_MAX = 220.0


def _acf(o: np.ndarray, max_lag: int, *, k: float) -> np.ndarray:
    n = o.size
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.abs(np.fft.rfft(o, nfft)) ** k
    a = np.fft.irfft(spec, nfft)[: max_lag + 1]
    a = a / np.maximum(n - np.arange(a.size), 1) * n  # unbias
    return a / a[0] if a[0] > 0 else np.zeros_like(a)


def _parabolic(y: np.ndarray, i: int) -> float:
    if i <= 0 or i >= y.size - 1:
        return float(i)
    a, b, c = y[i - 1], y[i], y[i + 1]
    den = a - 2 * b + c
    return float(i) if den >= 0 else i + 0.5 * (a - c) / den


def _peak_near(a: np.ndarray, lag: float, tol: float) -> float | None:
    lo, hi = int(np.floor(lag * (1 - tol))), int(np.ceil(lag * (1 + tol)))
    lo, hi = max(lo, 1), min(hi, a.size - 2)
    if hi <= lo:
        return None
    i = lo + int(np.argmax(a[lo : hi + 1]))
    if i in (lo, hi):
        return None
    return _parabolic(a, i)


def _pulse_score(
    o: np.ndarray,
    period: float,
    fps: float,
    *,
    window_s: float = 8.0,
    max_windows: int = 64,
) -> float:
    """Pulse-train cross-correlation, per 8 s window (tempo may drift).

    For each window: the best phase's mean envelope on the beat grid plus the variance over
    phases; averaged over windows.
    """
    n = o.size
    w = min(int(round(window_s * fps)), n)
    n_beats = int((w - 1) // period)
    if n_beats < 2:
        return 0.0
    starts = np.arange(0, n - w + 1, max(1, w // 2))
    if starts.size > max_windows:
        starts = starts[np.linspace(0, starts.size - 1, max_windows).astype(int)]
    phases = np.arange(int(np.ceil(period)))
    grid = np.round(phases[:, None] + np.arange(n_beats)[None, :] * period).astype(np.int64)
    grid = np.minimum(grid, w - 1)  # (P, B)
    vals = o[starts[:, None, None] + grid[None, :, :]].mean(axis=2)  # (W, P)
    return float((vals.max(axis=1) + vals.var(axis=1)).mean())


def estimate_tempo(
    onset: np.ndarray,
    fps: float,
    *,
    bpm_min: float = BPM_MIN,
    bpm_max: float = BPM_MAX,
    prior_bpm: float = 140.0,
    prior_sigma_oct: float = 1.0,
    acf_exponent: float = 0.5,
    n_candidates: int = 10,
) -> tuple[float, float, float]:
    """Tempo of an onset envelope.

    Parameters
    ----------
    onset : np.ndarray [shape=(n,)] onset strength per frame (any unit, ≥ 0)
    fps : frames per second of ``onset``

    Returns
    -------
    (bpm [beats/min], confidence [0-1], pulse_strength [0-1]); ``(0, 0, 0)`` when there is no
    periodic content (silence, < 4 s, a constant envelope).
    """
    o = np.asarray(onset, dtype=np.float64)
    if o.size < 4 * fps or not np.isfinite(o).all() or o.std() < 1e-9:
        return 0.0, 0.0, 0.0
    o = o - moving_average(o, max(3, int(fps)))
    # [frames/s] * [60 s/min] / [beats/min] = [frames/beat]
    lag_min = int(np.floor(fps * 60.0 / bpm_max))
    lag_max = int(np.ceil(fps * 60.0 / bpm_min))
    if o.size < 2 * lag_max:
        return 0.0, 0.0, 0.0
    a = _acf(o, min(4 * lag_max + 2, o.size - 1), k=acf_exponent)
    a2 = _acf(o, lag_max + 1, k=2.0)
    lags = np.arange(lag_min, lag_max + 1)
    e = a[lags].copy()
    for m in (2, 4):
        idx = lags * m
        ok = idx < a.size
        e[ok] += a[idx[ok]]
    is_peak = np.r_[False, (e[1:-1] > e[:-2]) & (e[1:-1] >= e[2:]), False]
    cand = lags[is_peak]
    if cand.size == 0:
        return 0.0, 0.0, 0.0
    cand = cand[np.argsort(e[is_peak])[::-1][:n_candidates]]
    # tolerate ±1 frame of grid rounding
    pos = moving_max(np.maximum(o, 0.0), 3)
    best = (-np.inf, 0.0)
    for lag in cand:
        period = _peak_near(a, float(lag), 0.1) or float(lag)
        refined = [period]
        for m in (2, 4):
            p = _peak_near(a, period * m, 0.05)
            if p is not None:
                refined.append(p / m)
        period = refined[-1]  # the longest multiple found is the most precise
        bpm = 60.0 * fps / period
        if not bpm_min <= bpm <= bpm_max:
            continue
        prior = np.exp(-0.5 * (np.log2(bpm / prior_bpm) / prior_sigma_oct) ** 2)
        score = _pulse_score(pos, period, fps) * prior
        if score > best[0]:
            best = (score, period)
    if not np.isfinite(best[0]):
        return 0.0, 0.0, 0.0
    period = best[1]
    strength = float(np.clip(np.interp(period, np.arange(a2.size), a2), 0.0, 1.0))
    return float(60.0 * fps / period), strength, strength


def onset_rate(onset: np.ndarray, fps: float, *, min_gap_s: float = 0.05) -> float:
    """Onsets per second: local maxima (±70 ms) above mean + 0.5·std of the envelope."""
    o = np.asarray(onset, dtype=np.float64)
    if o.size < 3 or o.std() < 1e-9:
        return 0.0
    w = max(3, int(round(0.14 * fps)) | 1)
    mx = moving_max(o, w)
    thr = moving_average(o, max(3, int(2 * fps))) + 0.5 * o.std()
    peaks = np.flatnonzero((o == mx) & (o > thr))
    if peaks.size == 0:
        return 0.0
    gap = max(1, int(min_gap_s * fps))
    keep = np.r_[True, np.diff(peaks) >= gap]
    return float(keep.sum() / (o.size / fps))


def dfa_exponents(
    env: np.ndarray, fps: float, *, min_tau_s: float = 0.31, max_tau_s: float = 8.8, n_tau: int = 16
) -> np.ndarray:
    """Detrended fluctuation analysis (Streich & Herrera 2005) of an amplitude envelope.

    env : [shape=(n,)] frame RMS at ``fps``. Returns the DFA exponents α between successive
    time scales (log-spaced from ``min_tau_s`` to ``max_tau_s``); empty when the envelope is too
    short or constant.
    """
    x = np.asarray(env, dtype=np.float64)
    if x.size < 2 * max(2, int(min_tau_s * fps)) or x.std() < 1e-12:
        return np.zeros(0)
    y = np.cumsum(x - x.mean())
    taus = np.unique(np.round(np.geomspace(min_tau_s * fps, max_tau_s * fps, n_tau)).astype(int))
    taus = taus[(taus >= 3) & (taus * 2 <= y.size)]
    fl = []
    for tau in taus:
        nwin = y.size // tau
        seg = y[: nwin * tau].reshape(nwin, tau)
        t = np.arange(tau, dtype=np.float64)
        t -= t.mean()
        slope = seg @ t / (t @ t)
        resid = seg - seg.mean(axis=1, keepdims=True) - slope[:, None] * t[None, :]
        fl.append(np.sqrt(np.mean(resid**2)))
    fl = np.asarray(fl)
    ok = fl > 0
    taus, fl = taus[ok], fl[ok]
    if taus.size < 2:
        return np.zeros(0)
    return np.diff(np.log10(fl)) / np.diff(np.log10(taus))


def dfa_danceability(env: np.ndarray, fps: float) -> float:
    """Danceability after Streich & Herrera / Essentia: 1 / mean DFA exponent (0 to ~3, higher is
    more danceable; 0 when undefined)."""
    alpha = dfa_exponents(env, fps)
    if alpha.size == 0:
        return 0.0
    m = float(np.mean(alpha))
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
    seg = seg - seg.mean(axis=1, keepdims=True)
    spec = (np.abs(np.fft.rfft(seg * np.hanning(win), axis=1)) ** 2).mean(axis=0)
    f = np.fft.rfftfreq(win, 1.0 / fps)
    tot = spec[(f >= 0.5) & (f <= 15.0)].sum()
    if tot <= 0:
        return 0.0
    return float(spec[(f >= lo_hz) & (f <= hi_hz)].sum() / tot)
