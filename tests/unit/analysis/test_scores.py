"""High-level scores: in [0, 1], monotone in the documented direction — on the formulas and on
signals built to differ in one way."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.analysis.conftest import click_track, noise, write_pcm

from sonicmap.analysis import analyze_file
from sonicmap.analysis.scores import WEIGHTS, compute_scores

SR = 22050
TYPICAL = {
    "loudness_lufs": -14.0,
    "onset_rate": 3.0,
    "spectral_centroid_hz": 1300.0,
    "spectral_flatness": 0.05,
    "hf_ratio": 0.05,
    "dynamic_complexity": 3.0,
    "bpm": 110.0,
    "pulse_strength": 0.3,
    "dfa_danceability": 1.0,
    "speech_modulation": 0.35,
    "zcr": 0.08,
    "mode": "major",
    "key_strength": 0.5,
}
STEP = {
    "loudness_lufs": 6.0,
    "onset_rate": 2.0,
    "spectral_centroid_hz": 500.0,
    "spectral_flatness": 0.05,
    "hf_ratio": 0.05,
    "dynamic_complexity": 2.0,
    "bpm": 30.0,
    "pulse_strength": 0.2,
    "dfa_danceability": 0.4,
    "speech_modulation": 0.1,
}


@pytest.mark.parametrize("score", sorted(WEIGHTS))
def test_each_formula_moves_in_its_documented_direction(score):
    base = compute_scores(TYPICAL)[score]
    assert 0.0 < base < 1.0
    for name, w in WEIGHTS[score].items():
        if name == "bias":
            continue
        f = dict(TYPICAL)
        if name == "mode_sign":
            f["mode"] = "minor"
            moved = compute_scores(f)[score]
            assert (moved < base) if w > 0 else (moved > base), (score, name)
            continue
        f[name] = TYPICAL[name] + STEP[name]
        moved = compute_scores(f)[score]
        assert (moved > base) if w > 0 else (moved < base), (score, name)


def test_scores_stay_in_range_at_extremes():
    for v in (-1e9, 1e9):
        f = {k: v for k in TYPICAL if k not in ("mode",)}
        f["mode"] = "minor"
        for s in compute_scores(f).values():
            assert 0.0 <= s <= 1.0


def _analyse(tmp_path, name, y):
    return analyze_file(
        write_pcm(tmp_path / f"{name}.wav", np.stack([y, y]), SR), tags=None
    ).features


def test_louder_denser_brighter_is_more_energetic(tmp_path):
    base = click_track(100, 10, SR) * 0.5
    louder = base * 4.0
    denser = click_track(200, 10, SR) * 0.5
    dark = np.convolve(base, np.ones(8) / 8, mode="same").astype(np.float32)
    e = {
        n: _analyse(tmp_path, n, y)["energy"]
        for n, y in (("base", base), ("louder", louder), ("denser", denser), ("dark", dark))
    }
    assert e["louder"] > e["base"]
    assert e["denser"] > e["base"]
    assert e["dark"] < e["base"]


def test_syllable_rate_modulation_is_speechier(tmp_path):
    rng = np.random.default_rng(5)
    n = 12 * SR
    carrier = noise(12, SR, rms_db=-20, pink=True)
    # irregular syllables: 3-6 per second, random lengths and gaps
    env = np.zeros(n, np.float32)
    t = 0.0
    while t < 12:
        dur = rng.uniform(0.08, 0.25)
        i, j = int(t * SR), min(n, int((t + dur) * SR))
        env[i:j] = np.hanning(j - i)
        t += dur + rng.uniform(0.03, 0.12)
    speech = _analyse(tmp_path, "speech", carrier * env * 2)
    steady = _analyse(tmp_path, "steady", carrier)
    assert speech["speech_modulation"] > steady["speech_modulation"]
    assert speech["speechiness"] > steady["speechiness"]
    assert speech["instrumentalness"] < steady["instrumentalness"]


def test_major_is_happier_than_minor(tmp_path):
    t = np.arange(10 * SR) / SR

    def chord(freqs):
        return sum(0.1 * np.sin(2 * np.pi * f * t) for f in freqs).astype(np.float32)

    major = chord([261.63, 329.63, 392.0])
    minor = chord([261.63, 311.13, 392.0])
    fa, fi = _analyse(tmp_path, "maj", major), _analyse(tmp_path, "min", minor)
    assert fa["mode"] == "major" and fi["mode"] == "minor"
    assert fa["valence"] > fi["valence"] and fa["mood_happy"] > fi["mood_happy"]


def test_quiet_sparse_is_more_relaxed_and_acoustic_than_loud_noisy(tmp_path):
    quiet = click_track(70, 10, SR) * 0.1
    loud = click_track(140, 10, SR) * 0.8 + noise(10, SR, rms_db=-16)
    q, lo = _analyse(tmp_path, "quiet", quiet), _analyse(tmp_path, "loud", loud)
    assert q["mood_relaxed"] > lo["mood_relaxed"]
    assert q["acousticness"] > lo["acousticness"]
    assert lo["mood_aggressive"] > q["mood_aggressive"]
