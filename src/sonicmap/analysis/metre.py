"""The tempo estimate's octave decision: which metrical level is the beat.

The salience-based estimate T of :mod:`sonicmap.analysis.tempo` competes with T/2, 2T/3, 3T/2
and 2T by a linear score w · x(c) over features of each candidate c (``octave_features``),
whose weights ``OCTAVE_WEIGHTS`` are fitted on the tuning half of the people-written set by
``bench/tempo_octave_fit.py`` (a learnt octave decision as in Percival & Tzanetakis,
"Streamlined tempo estimation based on autocorrelation and cross-correlation with pulses",
IEEE/ACM TASLP 22(12), 2014, § IV-D; features after Elowsson & Friberg, "Modeling the
perception of tempo", JASA 137(6), 2015 and McKinney & Moelants, "Ambiguity in tempo
perception", Music Perception 24(2), 2006).

Two kinds of evidence (docs/analysis.md, Rhythm):

* periodicity (analysis version 4): the autocorrelation and the Fourier tempogram of the
  full-band and bass onset envelopes at c, at 2c and at c/2, and the onsets per beat;
* beat-grid structure (analysis version 6): the onset envelopes folded on the candidate's beat
  grid (the mean envelope as a function of the phase within the beat, as in the metrical
  profiles of Gouyon & Herrera 2003 and the bar-pattern features of Dixon, Gouyon & Widmer
  2004) — how much the bass onsets on the beat stand out from those half-way between beats,
  whether the beat divides in three rather than in two (swing: the swung eighths fall at 2/3 of the beat, so a ternary subdivision marks the
  beat level), and the backbeat alternation of the bass (kick drum) with the other bands
  (snare) one beat apart (Goto 2001: the kick on beats 1 and 3, the snare on 2 and 4).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

OCTAVE_RATIOS = (0.5, 2.0 / 3.0, 1.0, 1.5, 2.0)
"""Tempo candidates of the octave decision, as multiples of the salience-based estimate."""
N_OCTAVE_FEATURES = 13
CHANGED = 9
"""Index of the feature "the candidate differs from the estimate" (0 for the estimate itself)."""
OCTAVE_WEIGHTS = np.array(
    [1.7528, 1.3739, 0.0654, 1.0005, -0.0521, 0.8205, 2.4056, 1.1957, 0.2196, -0.4778]
    + [-0.4258, -1.0232, 1.1604]
)
"""Weights of the octave decision's linear score over ``octave_features`` (fitted on the tuning
half of the people-written set by ``bench/tempo_octave_fit.py``; see docs/analysis.md)."""
GRID_BINS = 24
"""Phase bins of a beat-grid fold (divisible by 2 and 3: half-way and third positions)."""
BACKBEAT_BINS = 32
"""Phase bins of the two-beat fold of the backbeat feature."""


def _at(x: np.ndarray, grid_bpm: np.ndarray, bpm: float) -> float:
    """``x`` (given at the descending tempi ``grid_bpm``) at ``bpm``; 0 outside the grid."""
    if bpm < grid_bpm[-1] or bpm > grid_bpm[0]:
        return 0.0
    return float(np.interp(-bpm, -grid_bpm, x))


def folds(envelopes: tuple[np.ndarray, ...], period: float, bins: int) -> list[np.ndarray]:
    """Mean of each envelope [shape=(n,)] by phase within a grid of ``period`` frames, in
    ``bins`` equal phase bins (each [shape=(bins,)], phase 0 at frame 0)."""
    n = envelopes[0].size
    k = np.arange(n, dtype=np.float64)
    k %= period
    k *= bins / period
    b = np.minimum(k.astype(np.intp), bins - 1)
    inv = 1.0 / np.maximum(np.bincount(b, None, bins), 1.0)
    return [np.bincount(b, e, bins) * inv for e in envelopes]


def _smooth(f: np.ndarray) -> np.ndarray:
    """[1 2 1]/4 circular smoothing of a fold."""
    fp = np.empty(f.size + 2)  # circular padding (np.roll's overhead is most of the cost)
    fp[1:-1] = f
    fp[0], fp[-1] = f[-1], f[0]
    result: np.ndarray = 0.25 * (fp[:-2] + 2.0 * f + fp[2:])
    return result


def _contrasts(f: np.ndarray) -> tuple[float, float]:
    """(beat vs half-way, thirds vs half-way) contrasts of a beat-grid fold (``GRID_BINS``
    bins), each (a − b) / (a + b) in [−1, 1]: the beat phase is the fold's maximum (after
    ``_smooth``), the thirds the mean of the phases 1/3 and 2/3 beat after it."""
    n = f.size
    f = _smooth(f)
    i = int(np.argmax(f))
    beat = float(f[i])
    half = float(f[(i + n // 2) % n])
    thirds = 0.5 * float(f[(i + n // 3) % n] + f[(i + 2 * n // 3) % n])
    return _ratio(beat, half), _ratio(thirds, half)


def _ratio(a: float, b: float) -> float:
    """(a − b) / (a + b) for a, b ≥ 0; 0 when both are 0."""
    return (a - b) / (a + b) if a + b > 0 else 0.0


def _backbeat(fb: np.ndarray, fr: np.ndarray) -> float:
    """How much the non-bass onsets follow the bass onsets one beat later rather than with them:
    from the folds on two beats of the bass (``fb``) and non-bass (``fr``) envelopes, their
    normalised correlation shifted by one beat minus unshifted (−2 … 2; 0 when either is
    flat)."""
    n, h = fb.size, fb.size // 2
    fb = fb - np.add.reduce(fb) / n
    fr = fr - np.add.reduce(fr) / n
    norm = math.sqrt(float(fb @ fb) * float(fr @ fr))
    if norm <= 0:
        return 0.0
    shifted = float(fb[h:] @ fr[: n - h]) + float(fb[:h] @ fr[n - h :])  # fb · roll(fr, h)
    return (shifted - float(fb @ fr)) / norm


class Evidence(NamedTuple):
    """What the octave decision sees of a track."""

    grid_bpm: np.ndarray
    """tempi [beats/min] of the periodicity functions (descending)"""
    periodicity: list[tuple[np.ndarray, np.ndarray]]
    """(autocorrelation, tempogram) of the full-band and of the bass envelope (zeros if none)"""
    rate: float
    """onsets per second"""
    envelopes: tuple[np.ndarray, np.ndarray, np.ndarray]
    """detrended, half-wave rectified full-band, bass (zeros if none) and non-bass envelopes"""
    fps: float
    """frames per second of the envelopes"""


def octave_features(bpm: float, ratio: float, ev: Evidence) -> np.ndarray:
    """Features [shape=(13,)] of the tempo candidate ``bpm`` (= ``ratio`` × the estimate).

    Features: both periodicity functions of both envelopes at the candidate; those of the
    full-band envelope at twice and at half the candidate (evidence for a faster or a slower
    metrical level); log2 of the onsets per beat (event density, the main cue of perceived tempo
    after McKinney & Moelants 2006); whether the candidate differs from the estimate (a cost of
    changing it); on the candidate's beat grid, the thirds-versus-half-way contrast of the
    full-band envelope (a ternary subdivision), the beat-versus-half-way contrast of the bass
    envelope, and the backbeat alternation (``_backbeat``). No tempo prior: the salience
    already has one, and a fitted one learns the tempo distribution of the fitting set.
    """
    (af, ff), (ab, fb) = ev.periodicity
    full, bass, rest = ev.envelopes
    grid_bpm, rate = ev.grid_bpm, ev.rate
    period = 60.0 * ev.fps / bpm  # [frames/beat]
    f_full, f_bass = folds((full, bass), period, GRID_BINS)
    _, ternary = _contrasts(f_full)
    beat_bass, _ = _contrasts(f_bass)
    f2_bass, f2_rest = folds((bass, rest), 2.0 * period, BACKBEAT_BINS)
    return np.array(
        [
            _at(af, grid_bpm, bpm),
            _at(ff, grid_bpm, bpm),
            _at(ab, grid_bpm, bpm),
            _at(fb, grid_bpm, bpm),
            _at(af, grid_bpm, 2 * bpm),
            _at(ff, grid_bpm, 2 * bpm),
            _at(af, grid_bpm, bpm / 2),
            _at(ff, grid_bpm, bpm / 2),
            math.log2(max(rate, 0.1) * 60.0 / bpm),
            float(ratio != 1.0),
            ternary,
            beat_bass,
            _backbeat(f2_bass, f2_rest),
        ]
    )


def octave_candidates(
    bpm: float, ev: Evidence, bpm_min: float, bpm_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """The candidates ``bpm × OCTAVE_RATIOS`` inside [bpm_min, bpm_max] [shape=(k,)] and their
    ``octave_features`` [shape=(k, 13)]."""
    cands, feats = [], []
    for r in OCTAVE_RATIOS:
        b = bpm * r
        if bpm_min <= b <= bpm_max:
            cands.append(b)
            feats.append(octave_features(b, r, ev))
    return np.array(cands), np.array(feats).reshape(len(cands), N_OCTAVE_FEATURES)
