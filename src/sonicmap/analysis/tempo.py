"""Tempo (beats per minute) and pulse strength from onset-strength envelopes.

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

Octave decision (:mod:`sonicmap.analysis.metre`; analysis versions 4 and 6): the estimate T
competes with T/2, 2T/3, 3T/2 and 2T by a linear score over periodicity, event-density and
beat-grid features, whose weights were fitted on the tuning half of the people-written set by
``bench/tempo_octave_fit.py``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
from scipy import fft as _fft  # several times faster than numpy.fft on batches of rows

from sonicmap.analysis.metre import (
    N_OCTAVE_FEATURES,
    OCTAVE_WEIGHTS,
    Evidence,
    octave_candidates,
)
from sonicmap.analysis.rhythm import BASS_MAX_HZ, _hann_sym, _std, moving_average, onset_rate
from sonicmap.analysis.spectral import N_MELS, mel_edges

BPM_MIN = 50.0
BPM_MAX = 220.0
_SMOOTH = np.array([0.25, 0.5, 0.25])
"""3-frame (70 ms) Hann smoothing of the detrended envelopes before the tempo salience."""
_SMOOTH_ACF = np.array([0.0625, 0.25, 0.375, 0.25, 0.0625])
"""Autocorrelation of ``_SMOOTH`` at lags −2 … 2."""
BASS_SHARE = float(np.count_nonzero(mel_edges()[1:-1] < BASS_MAX_HZ)) / N_MELS
"""Share of the analysis's mel bands in the bass onset envelope: the full-band envelope is the
mean flux over all bands, so the non-bass bands' mean is (onset − s·bass) / (1 − s)."""
_TEMPOGRAM_BATCH = 32
"""Tempogram windows transformed at once (bounds its memory whatever the track length)."""


def _raw_acf(o: np.ndarray, max_lag: int) -> np.ndarray:
    """Σ_i o[i]·o[i+τ] for τ = 0 … max_lag (via the power spectrum, zero-padded: no wrap)."""
    nfft = _fft.next_fast_len(o.size + max_lag + 1, real=True)
    X = _fft.rfft(o, nfft)
    result: np.ndarray = _fft.irfft(X.real**2 + X.imag**2, nfft)[: max_lag + 1]
    return result


def _normalised(r: np.ndarray, n: int) -> np.ndarray:
    """Unbiased autocorrelation of an ``n``-sample signal from its raw sums ``r``, scaled to
    a[0] = 1 (zeros for a silent signal)."""
    a = r / np.maximum(n - np.arange(r.size), 1) * n  # unbias
    return a / a[0] if a[0] > 0 else np.zeros_like(a)


def _smoothed_raw_acf(
    r: np.ndarray, s: np.ndarray, d0: float, d1: float, max_lag: int
) -> np.ndarray:
    """Raw autocorrelation of ``s = np.convolve(d, _SMOOTH, mode="same")`` from that of ``d``.

    r : raw autocorrelation of d up to at least ``max_lag + 2``; d0, d1 : first and last
    sample of d. The full convolution's autocorrelation is r filtered by the kernel's own
    (``_SMOOTH_ACF``); "same" drops the full convolution's first and last samples, whose
    products are subtracted. Equal to the direct computation up to rounding.
    """
    n = s.size
    rr = np.concatenate([r[2:0:-1], r[: max_lag + 3]])  # r at lags −2 … max_lag + 2
    full = np.convolve(rr, _SMOOTH_ACF, mode="valid")  # lags 0 … max_lag
    f_first, f_last = 0.25 * d0, 0.25 * d1  # full[0], full[n + 1]
    tau = np.arange(1, max_lag + 1)
    full[0] -= f_first * f_first + f_last * f_last
    full[1:] -= f_first * s[tau - 1] + s[n - tau] * f_last
    return full


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
    if shorter), half overlapping; returns [shape=bpm.shape], in envelope units. The windows
    are transformed ``_TEMPOGRAM_BATCH`` at a time and only the bins around ``bpm`` are kept,
    so the memory does not grow with the envelope.
    """
    o = np.asarray(o, dtype=np.float64)
    w = min(int(round(window_s * fps)), o.size)
    hop = max(1, w // 2)
    n_win = (o.size - w) // hop + 1
    win = _hann_sym(w)
    n_fft = max(n_fft, 1 << int(np.ceil(np.log2(w))))
    # [beats/min] / [60 s/min] = [beats/s] = [Hz]; bin k is at k * fps / n_fft Hz
    f = bpm / 60.0
    k_lo = max(int(np.floor(f.min() * n_fft / fps)) - 1, 0)
    k_hi = min(int(np.ceil(f.max() * n_fft / fps)) + 2, n_fft // 2 + 1)
    mag = np.zeros(k_hi - k_lo)
    frames = np.lib.stride_tricks.as_strided(o, (n_win, w), (hop * o.strides[0], o.strides[0]))
    for b in range(0, n_win, _TEMPOGRAM_BATCH):
        fr = frames[b : b + _TEMPOGRAM_BATCH]
        fr = (fr - fr.mean(axis=1, keepdims=True)) * win
        X = _fft.rfft(fr, n_fft, axis=1)[:, k_lo:k_hi]
        mag += np.abs(X).sum(axis=0)
    mag /= n_win * win.sum()
    return np.interp(f, np.arange(k_lo, k_hi) * (fps / n_fft), mag)


def _periodicity(
    a: np.ndarray, o: np.ndarray, fps: float, lags: np.ndarray, window_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Two periodicity functions of the onset envelope ``o`` of normalised autocorrelation ``a``
    at the beat periods ``lags`` [frames]: the positive part of the autocorrelation and the
    Fourier tempogram scaled to a maximum of 1 over ``lags`` (each [shape=lags.shape]); their
    product is the tempo salience."""
    acf = np.maximum(np.interp(lags, np.arange(a.size), a), 0.0)
    # [frames/s] * [60 s/min] / [frames/beat] = [beats/min]
    f = fourier_tempogram(o, fps, 60.0 * fps / lags, window_s=window_s)
    peak = f.max()
    return acf, (f / peak if peak > 0 else np.zeros_like(acf))


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


@functools.cache
def _lag_grid(
    fps: float, lag_min: int, lag_max: int, prior_bpm: float, prior_sigma_oct: float
) -> tuple[np.ndarray, np.ndarray]:
    """The integer beat periods [frames] searched and their log-Gaussian tempo prior (shared,
    read-only)."""
    lags = np.arange(lag_min, lag_max + 1, dtype=np.float64)
    bpm = 60.0 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpm / prior_bpm) / prior_sigma_oct) ** 2)
    lags.flags.writeable = prior.flags.writeable = False
    return lags, prior


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
    octave: bool = True,
    rate: float | None = None,
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
    octave : apply the octave decision (``octave_candidates``, ``OCTAVE_WEIGHTS``) to the
        salience-based estimate
    rate : ``onset_rate(onset, fps)`` when the caller has it already (the octave decision uses
        it; computed here otherwise)

    Returns
    -------
    (bpm [beats/min], confidence [0-1], pulse_strength [0-1]); ``(0, 0, 0)`` when there is no
    periodic content (silence, < 4 s, a constant envelope).
    """
    ev = _tempo_evidence(
        onset, fps, low_onset, bpm_min, bpm_max, prior_bpm, prior_sigma_oct, window_s
    )
    if ev is None:
        return 0.0, 0.0, 0.0
    period = ev.period
    if octave:
        cands, feats = _candidates(ev, onset, fps, bpm_min, bpm_max, rate)
        period = 60.0 * fps / float(cands[int(np.argmax(feats @ OCTAVE_WEIGHTS))])
    strength = float(np.clip(np.interp(period, np.arange(ev.acf.size), ev.acf), 0.0, 1.0))
    return float(60.0 * fps / period), strength, strength


def tempo_octave_candidates(
    onset: np.ndarray, fps: float, *, low_onset: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The octave decision's candidates [bpm, shape=(k,)] and features [shape=(k, 15)] for the
    envelopes of a track, with ``estimate_tempo``'s defaults (what it scores with
    ``OCTAVE_WEIGHTS``; empty when there is no periodic content). Used to fit the weights
    (``bench/tempo_octave_fit.py``)."""
    ev = _tempo_evidence(onset, fps, low_onset, BPM_MIN, BPM_MAX, 120.0, 1.0, 8.0)
    if ev is None:
        return np.zeros(0), np.zeros((0, N_OCTAVE_FEATURES))
    return _candidates(ev, onset, fps, BPM_MIN, BPM_MAX)


def _candidates(
    ev: _Evidence,
    onset: np.ndarray,
    fps: float,
    bpm_min: float,
    bpm_max: float,
    rate: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    return octave_candidates(
        60.0 * fps / ev.period,
        Evidence(
            ev.grid_bpm,
            ev.periodicity,
            onset_rate(onset, fps) if rate is None else rate,
            ev.envelopes,
            fps,
        ),
        bpm_min,
        bpm_max,
    )


class _Evidence(NamedTuple):
    period: float
    """salience-based beat period [frames], before the octave decision"""
    acf: np.ndarray
    """normalised autocorrelation of the full-band envelope (not smoothed)"""
    grid_bpm: np.ndarray
    """tempi [beats/min] of the periodicity functions (descending)"""
    periodicity: list[tuple[np.ndarray, np.ndarray]]
    """(autocorrelation, tempogram) of the full-band and the bass envelope (zeros if none)"""
    envelopes: tuple[np.ndarray, np.ndarray, np.ndarray]
    """detrended, half-wave rectified full-band, bass (zeros if none) and non-bass envelopes"""


def _tempo_evidence(
    onset: np.ndarray,
    fps: float,
    low_onset: np.ndarray | None,
    bpm_min: float,
    bpm_max: float,
    prior_bpm: float,
    prior_sigma_oct: float,
    window_s: float,
) -> _Evidence | None:
    """Everything ``estimate_tempo`` decides from, up to the octave decision (None: no
    periodic content)."""
    o = np.asarray(onset, dtype=np.float64)
    if o.size < 4 * fps or not np.isfinite(o).all() or _std(o) < 1e-9:
        return None
    # [frames/s] * [60 s/min] / [beats/min] = [frames/beat]
    lag_min = int(np.ceil(fps * 60.0 / bpm_max))
    lag_max = int(np.floor(fps * 60.0 / bpm_min))
    if o.size < 2 * lag_max:
        return None
    lags, prior = _lag_grid(fps, lag_min, lag_max, prior_bpm, prior_sigma_oct)
    envelopes = [o]
    if low_onset is not None:
        low = np.asarray(low_onset, dtype=np.float64)[: o.size]
        if low.size == o.size and np.isfinite(low).all() and _std(low) >= 1e-9:
            envelopes.append(low)
    salience = np.zeros(lags.size)
    periodicity = []
    n_acf = min(4 * lag_max + 2, o.size - 1)  # refinement and measure level
    n_sal = min(lag_max + 1, o.size - 1)  # salience
    ma = max(3, int(fps))
    acfs, detrended = [], []
    for env in envelopes:
        d = env - moving_average(env, ma)
        detrended.append(d)
        # a 3-frame (70 ms) Hann smoothing: the autocorrelation peaks of an impulsive envelope
        # are narrower than a frame and would fall between the integer lags
        sm = np.convolve(d, _SMOOTH, mode="same")
        # one autocorrelation of the detrended envelope serves both: the unsmoothed one for
        # the refinement (sharper peaks), the smoothed one derived from it for the salience
        r = _raw_acf(d, max(n_acf, min(n_sal + 2, o.size - 1)))
        acfs.append(_normalised(r[: n_acf + 1], d.size))
        if r.size >= n_sal + 3:
            a_sal = _normalised(_smoothed_raw_acf(r, sm, d[0], d[-1], n_sal), d.size)
        else:  # pragma: no cover - only with a tempo range far wider than the default
            a_sal = _normalised(_raw_acf(sm, n_sal), sm.size)
        acf, tg = _periodicity(a_sal, sm, fps, lags, window_s)
        periodicity.append((acf, tg))
        salience += acf * tg
    salience *= prior
    if not salience.max() > 0:
        return None
    lag = float(lags[int(np.argmax(salience))])
    a = acfs[0]
    period = base = _peak_near(a, lag, 0.1) or lag
    for m in (2, 4):  # the longest multiple found is the most precise
        p = _peak_near(a, base * m, 0.05)
        if p is not None:
            period = p / m
    period = float(np.clip(period, fps * 60.0 / bpm_max, fps * 60.0 / bpm_min))
    mean_acf = acfs[0] if len(acfs) == 1 else (acfs[0] + acfs[1]) / 2
    period = _metrical_period(mean_acf, fps, period, lags, salience)
    if len(periodicity) == 1:
        periodicity.append((np.zeros(lags.size), np.zeros(lags.size)))
        full, bass, rest = detrended[0], np.zeros(o.size), detrended[0]
    else:
        full, bass = detrended
        rest = (full - BASS_SHARE * bass) / (1.0 - BASS_SHARE)
    grid = (np.maximum(full, 0.0), np.maximum(bass, 0.0), np.maximum(rest, 0.0))
    return _Evidence(period, acfs[0], 60.0 * fps / lags, periodicity, grid)
