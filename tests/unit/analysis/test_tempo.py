"""Tempo estimation on synthetic onset envelopes (sonicmap.analysis.tempo)."""

from __future__ import annotations

import numpy as np
import pytest

from sonicmap.analysis import metre, rhythm, tempo

FPS = 11025 / 256


def pulses(bpm: float, accents: list[float], seconds: float = 30.0) -> np.ndarray:
    """Onset envelope: one impulse per beat, cycling through ``accents``, on a little noise."""
    o = np.zeros(int(seconds * FPS))
    period = 60.0 * FPS / bpm
    for k, t in enumerate(np.arange(0.0, o.size - 1, period)):
        o[int(round(t))] += accents[k % len(accents)]
    return o + 0.01 * np.random.default_rng(0).random(o.size)


@pytest.mark.parametrize("bpm", [165.0, 180.0])
def test_octave_decision_keeps_fast_beats_with_weak_two_and_four(bpm):
    # strong 1 and 3, weak 2 and 4 (a march or a swing rhythm section): the salience alone
    # prefers the half-note level; the octave decision keeps the quarter note
    o = pulses(bpm, [1.0, 0.35, 0.8, 0.35])
    alone = tempo.estimate_tempo(o, FPS, octave=False)[0]
    assert alone == pytest.approx(bpm / 2, rel=0.04)
    assert tempo.estimate_tempo(o, FPS)[0] == pytest.approx(bpm, rel=0.04)


@pytest.mark.parametrize("bpm", [62.0, 75.0, 96.0, 128.0])
def test_even_pulses_keep_their_tempo(bpm):
    assert tempo.estimate_tempo(pulses(bpm, [1.0]), FPS)[0] == pytest.approx(bpm, rel=0.04)


def test_octave_candidates_stay_in_range_and_include_the_estimate():
    o = pulses(180.0, [1.0, 0.5])
    cands, feats = tempo.tempo_octave_candidates(o, FPS)
    assert feats.shape == (cands.size, metre.N_OCTAVE_FEATURES)
    assert ((cands >= tempo.BPM_MIN) & (cands <= tempo.BPM_MAX)).all()
    assert (feats[:, metre.CHANGED] == 0).sum() == 1  # exactly one candidate is the estimate itself


def test_no_periodic_content_gives_no_candidates():
    cands, feats = tempo.tempo_octave_candidates(np.zeros(int(30 * FPS)), FPS)
    assert cands.size == 0 and feats.shape == (0, metre.N_OCTAVE_FEATURES)
    assert tempo.estimate_tempo(np.zeros(int(30 * FPS)), FPS) == (0.0, 0.0, 0.0)


def test_a_given_onset_rate_gives_the_same_tempo():
    o = pulses(170.0, [1.0, 0.35, 0.8, 0.35])
    rate = rhythm.onset_rate(o, FPS)
    assert tempo.estimate_tempo(o, FPS, rate=rate) == tempo.estimate_tempo(o, FPS)


def grid(bpm: float, offsets: list[float], seconds: float = 30.0) -> np.ndarray:
    """Onset envelope with one impulse at each ``offsets`` (fractions of a beat) of every beat."""
    o = np.zeros(int(seconds * FPS))
    period = 60.0 * FPS / bpm
    for t in np.arange(0.0, o.size - period, period):
        for f in offsets:
            o[int(round(t + f * period))] += 1.0
    return o


def test_a_swung_subdivision_is_ternary_and_a_straight_one_is_not():
    period = 60.0 * FPS / 150.0
    swung_fold, straight_fold = metre.folds(
        (grid(150.0, [0.0, 2.0 / 3.0]), grid(150.0, [0.0, 0.5])), period, metre.GRID_BINS
    )
    _, swung = metre._contrasts(swung_fold)
    _, straight = metre._contrasts(straight_fold)
    assert swung > 0.5 and straight < -0.5


def test_backbeat_marks_the_beat_where_kick_and_snare_alternate():
    # kick on beats 1 and 3, snare on 2 and 4, at 100 BPM: one beat is 0.6 s
    kick = grid(50.0, [0.0])  # a two-beat grid: 50 "BPM" = every other beat at 100
    snare = grid(50.0, [0.5])
    period = 60.0 * FPS / 100.0

    def backbeat(p: float) -> float:
        return metre._backbeat(*metre.folds((kick, snare), 2 * p, metre.BACKBEAT_BINS))

    at_beat = backbeat(period)
    assert at_beat > 1.0
    assert backbeat(period / 2) < at_beat / 2  # the eighth level
    assert backbeat(2 * period) < at_beat / 2  # the half-note level
