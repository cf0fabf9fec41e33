"""Rhythm descriptors from onset-strength envelopes: tempo, pulse strength, onset rate, DFA.

The onset envelopes are log-mel spectral flux (half-wave rectified, max-filtered over
neighbouring bands as in SuperFlux) computed by :mod:`sonicmap.analysis.analyze` at
``fps = 11025 / 256 ≈ 43.07`` frames per second: one over all mel bands and one over the bass
bands (below ~200 Hz: kick drum and bass notes).

Tempo: the tempo salience of a beat period τ combines, per envelope, two periodicity functions
whose octave errors go in opposite directions (Peeters, "Template-based estimation of
time-varying tempo", EURASIP JASP 2007; also Peeters, ICMC 2005):

* the autocorrelation A(τ) peaks at the period and at its multiples 2τ, 3τ … (sub-harmonics of
  the tempo: half, third);
* the Fourier tempogram F(1/τ) (magnitude of the envelope's DFT in 8 s windows, averaged) peaks
  at the tempo and at its harmonics (double, triple) — it is the correlation with a cosine that
  is positive on the beats and negative half-way between them, so it is low at a too-slow
  period whose half-way points carry strong onsets (a snare on 2 and 4 under a half-tempo grid);

their product is high only at the period both agree on. The bass envelope adds its own product:
kick drum and bass notes mark the beat (or beats 1 and 3) in most music, while hi-hats, strummed
eighths and other subdivisions dominate the full-band flux (Goto, "An audio-based real-time beat
tracking system for music with or without drum-sounds", JNMR 30(2), 2001; band-wise periodicity
summed over bands as in Scheirer, JASA 103(1), 1998 and Klapuri et al., IEEE TASLP 14(1), 2006).
A log-Gaussian tempo prior (median 120 BPM, σ = 1 octave, as librosa's ``tempo`` after Ellis,
"Beat tracking by dynamic programming", JNMR 36(1), 2007) weighs the salience. The chosen period
is refined with the autocorrelation peaks at 1, 2 and 4 periods, then checked against the
measure-level periodicity (the strongest longer autocorrelation peak must last a whole number of
beats, Klapuri et al. 2006); a period that does not nest in it (a 3:2 or 3:4 pulse of syncopated
accents) is replaced by the most salient whole divisor of the measure (``_metrical_period``).
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
BASS_MAX_HZ = 200.0
"""Upper edge [Hz] of the mel bands (by centre) whose flux makes the bass onset envelope."""
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


def fourier_tempogram(
    o: np.ndarray, fps: float, bpm: np.ndarray, *, window_s: float = 8.0, n_fft: int = 4096
) -> np.ndarray:
    """Mean magnitude of the short-time DFT of an onset envelope, at tempi ``bpm``.

    o [shape=(n,)] onset envelope at ``fps``; Hann windows of ``window_s`` (the whole envelope
    if shorter), half overlapping; returns [shape=bpm.shape], in envelope units.
    """
    w = min(int(round(window_s * fps)), o.size)
    starts = np.arange(0, o.size - w + 1, max(1, w // 2))
    win = np.hanning(w)
    frames = o[starts[:, None] + np.arange(w)[None, :]]
    frames = (frames - frames.mean(axis=1, keepdims=True)) * win
    n_fft = max(n_fft, 1 << int(np.ceil(np.log2(w))))
    mag = np.abs(np.fft.rfft(frames, n_fft, axis=1)).mean(axis=0) / win.sum()
    # [beats/min] / [60 s/min] = [beats/s] = [Hz]; bin k is at k * fps / n_fft Hz
    return np.interp(bpm / 60.0, np.fft.rfftfreq(n_fft, 1.0 / fps), mag)


def tempo_salience(
    o: np.ndarray, fps: float, lags: np.ndarray, *, window_s: float = 8.0
) -> np.ndarray:
    """Salience of the beat periods ``lags`` [frames] in one onset envelope [shape=lags.shape]:
    the positive part of the normalised autocorrelation times the Fourier tempogram scaled to a
    maximum of 1 over ``lags``."""
    a = _acf(o, min(int(np.ceil(lags.max())) + 1, o.size - 1), k=2.0)
    acf = np.maximum(np.interp(lags, np.arange(a.size), a), 0.0)
    # [frames/s] * [60 s/min] / [frames/beat] = [beats/min]
    f = fourier_tempogram(o, fps, 60.0 * fps / lags, window_s=window_s)
    peak = f.max()
    return acf * f / peak if peak > 0 else np.zeros_like(acf)


MEASURE_MIN_S = 1.1
"""Shortest period [s] searched for the measure-level periodicity (4 beats at 220 BPM)."""
MEASURE_MIN_ACF = 0.5
"""Normalised autocorrelation the measure-level peak needs before it can overrule the tempo."""
METRICAL_TOL = 0.01
"""Largest relative mismatch between the measure period and an integer number of beats."""


def _metrical_period(
    a: np.ndarray, fps: float, period: float, lags: np.ndarray, salience: np.ndarray
) -> float:
    """The beat period [frames] made consistent with the measure-level periodicity.

    a : normalised autocorrelation of the onset envelopes (mean over envelopes) up to at least
    4 beats at the slowest tempo; period : the chosen beat period [frames]; lags, salience :
    the prior-weighted tempo salience of the integer beat periods.

    A metrical hierarchy nests its levels at integer ratios: the measure (and any longer
    repetition) lasts a whole number of beats (Klapuri, Eronen & Astola, "Analysis of the meter
    of acoustic musical signals", IEEE TASLP 14(1), 2006: tatum, tactus and measure periods
    estimated jointly, the measure an integer multiple of the tactus; likewise Gouyon & Herrera
    2003, Gkiokas et al. 2012). The strongest autocorrelation peak between 1.5 beats (at least
    ``MEASURE_MIN_S``) and the end of ``a`` is taken as that longer period P; when it is clear
    (``MEASURE_MIN_ACF``) and P / period is not within ``METRICAL_TOL`` of an integer — a 3:2 or
    3:4 pulse of syncopated accents, which does not nest in the measure — the beat becomes the
    divisor P / m (m = 1, 2, …, in the tempo range) of highest salience. Otherwise ``period`` is
    returned unchanged.
    """
    lo = max(int(np.ceil(1.5 * period)), int(MEASURE_MIN_S * fps))
    hi = a.size - 2
    if hi <= lo:
        return period
    seg = a[lo - 1 : hi + 2]
    peaks = np.flatnonzero((seg[1:-1] >= seg[:-2]) & (seg[1:-1] >= seg[2:])) + lo
    if peaks.size == 0:
        return period
    i = int(peaks[np.argmax(a[peaks])])
    if a[i] < MEASURE_MIN_ACF:
        return period
    measure = _parabolic(a, i)
    r = measure / period
    if abs(r - round(r)) <= METRICAL_TOL * r:
        return period
    divisors = measure / np.arange(1, int(measure / lags[0]) + 1)
    divisors = divisors[(divisors >= lags[0]) & (divisors <= lags[-1])]
    if divisors.size == 0:
        return period
    s = np.interp(divisors, lags, salience)
    return float(divisors[int(np.argmax(s))]) if s.max() > 0 else period


def estimate_tempo(
    onset: np.ndarray,
    fps: float,
    *,
    low_onset: np.ndarray | None = None,
    bpm_min: float = BPM_MIN,
    bpm_max: float = BPM_MAX,
    prior_bpm: float = 120.0,
    prior_sigma_oct: float = 1.0,
    window_s: float = 8.0,
) -> tuple[float, float, float]:
    """Tempo of an onset envelope (see the module docstring for the method).

    Parameters
    ----------
    onset : np.ndarray [shape=(n,)] onset strength per frame (any unit, ≥ 0), all bands
    fps : frames per second of ``onset``
    low_onset : np.ndarray [shape=(n,)] or None, onset strength of the bass bands (< ~200 Hz);
        its salience is added to that of ``onset``
    prior_bpm, prior_sigma_oct : median [beats/min] and spread [octaves] of the log-Gaussian
        tempo prior

    Returns
    -------
    (bpm [beats/min], confidence [0-1], pulse_strength [0-1]); ``(0, 0, 0)`` when there is no
    periodic content (silence, < 4 s, a constant envelope).
    """
    o = np.asarray(onset, dtype=np.float64)
    if o.size < 4 * fps or not np.isfinite(o).all() or o.std() < 1e-9:
        return 0.0, 0.0, 0.0
    # [frames/s] * [60 s/min] / [beats/min] = [frames/beat]
    lag_min = int(np.ceil(fps * 60.0 / bpm_max))
    lag_max = int(np.floor(fps * 60.0 / bpm_min))
    if o.size < 2 * lag_max:
        return 0.0, 0.0, 0.0
    lags = np.arange(lag_min, lag_max + 1, dtype=np.float64)
    envelopes = [o]
    if low_onset is not None:
        low = np.asarray(low_onset, dtype=np.float64)[: o.size]
        if low.size == o.size and np.isfinite(low).all() and low.std() >= 1e-9:
            envelopes.append(low)
    salience = np.zeros(lags.size)
    # a 3-frame (70 ms) Hann smoothing: the autocorrelation peaks of an impulsive envelope are
    # narrower than a frame and would fall between the integer lags
    kernel = np.array([0.25, 0.5, 0.25])
    for env in envelopes:
        salience += tempo_salience(
            np.convolve(env - moving_average(env, max(3, int(fps))), kernel, mode="same"),
            fps,
            lags,
            window_s=window_s,
        )
    bpm = 60.0 * fps / lags
    salience *= np.exp(-0.5 * (np.log2(bpm / prior_bpm) / prior_sigma_oct) ** 2)
    if not salience.max() > 0:
        return 0.0, 0.0, 0.0
    lag = float(lags[int(np.argmax(salience))])
    # refinement and confidence on the unsmoothed envelopes (sharper peaks)
    n_acf = min(4 * lag_max + 2, o.size - 1)
    acfs = [_acf(e - moving_average(e, max(3, int(fps))), n_acf, k=2.0) for e in envelopes]
    a = acfs[0]
    period = base = _peak_near(a, lag, 0.1) or lag
    for m in (2, 4):  # the longest multiple found is the most precise
        p = _peak_near(a, base * m, 0.05)
        if p is not None:
            period = p / m
    period = float(np.clip(period, fps * 60.0 / bpm_max, fps * 60.0 / bpm_min))
    period = _metrical_period(np.mean(acfs, axis=0), fps, period, lags, salience)
    strength = float(np.clip(np.interp(period, np.arange(a.size), a), 0.0, 1.0))
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
