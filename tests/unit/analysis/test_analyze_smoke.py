"""End-to-end: a file in, every contract feature out, finite and in range."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from tests.unit.analysis.conftest import click_track, sine, write_pcm

from sonicmap.analysis import ANALYSIS_VERSION, FEATURES, analyze_file
from sonicmap.analysis.features import SCORE_NAMES

CONTRACT = (
    "duration_s bpm bpm_confidence pulse_strength onset_rate danceability key key_index mode "
    "key_strength chroma loudness_lufs loudness_range_lu dynamic_complexity rms_mean_db rms_std_db "
    "spectral_centroid_hz spectral_centroid_std_hz spectral_bandwidth_hz spectral_rolloff_hz "
    "spectral_flatness spectral_contrast spectral_flux zcr mfcc_mean mfcc_std energy valence "
    "acousticness instrumentalness speechiness mood_happy mood_aggressive mood_party mood_relaxed truncated"
).split()


def _all_finite(v) -> bool:
    if isinstance(v, list):
        return all(_all_finite(x) for x in v)
    if isinstance(v, float):
        return math.isfinite(v)
    return True


def test_every_contract_feature_is_present_documented_and_finite(tmp_path):
    sr = 44100
    y = click_track(120, 12, sr) + sine(440, 12, sr, dbfs=-24)
    p = write_pcm(tmp_path / "mix.wav", np.stack([y, y]), sr)
    a = analyze_file(p, tags=None)
    for name in CONTRACT:
        assert name in a.features, name
        assert name in FEATURES, name
        assert a.sources[name] == "signal"
        assert _all_finite(a.features[name]), name
    for name in SCORE_NAMES:
        assert 0.0 <= a.features[name] <= 1.0
    assert len(a.features["chroma"]) == 12 and abs(sum(a.features["chroma"]) - 1) < 1e-3
    assert len(a.features["mfcc_mean"]) == 13 and len(a.features["mfcc_std"]) == 13
    assert a.features["key"] in ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    assert a.features["mode"] in ("major", "minor")
    assert abs(a.duration_s - 12) < 0.05 and not a.truncated
    assert abs(a.features["bpm"] - 120) / 120 < 0.04
    json.dumps(a.features, allow_nan=False)
    assert isinstance(ANALYSIS_VERSION, int)


def test_max_duration_caps_and_records_truncation(tmp_path):
    sr = 22050
    y = click_track(100, 30, sr)
    p = write_pcm(tmp_path / "long.wav", y, sr)
    a = analyze_file(p, max_duration_s=10.0, tags=None)
    assert a.truncated and a.features["truncated"] is True
    assert a.analysed_s == pytest.approx(10.0, abs=0.01)
    assert a.duration_s == pytest.approx(30.0, abs=0.05)
    full = analyze_file(p, max_duration_s=None, tags=None)
    assert not full.truncated and full.analysed_s == pytest.approx(30.0, abs=0.05)


def test_cap_at_or_beyond_the_length_is_not_truncation(tmp_path):
    sr = 22050
    p = write_pcm(tmp_path / "ten.wav", click_track(100, 10, sr), sr)
    for cap in (10.0, 25.0):
        a = analyze_file(p, max_duration_s=cap, tags=None)
        assert not a.truncated and a.analysed_s == pytest.approx(10.0, abs=0.01)


def test_memory_state_is_bounded_by_the_cap(tmp_path):
    """Per-frame series stop growing at the cap even when max_duration_s is None."""
    from sonicmap.analysis.accumulator import FPS, Accumulator

    acc = Accumulator(max_frames=int(5 * FPS))
    y = click_track(120, 20, 11025)
    for i in range(0, y.size, 22050):
        acc.feed(np.zeros(20), np.zeros(20), y[i : i + 22050])
    assert sum(a.size for a in acc.onset) == int(5 * FPS)
    assert sum(a.size for a in acc.env) == int(5 * FPS)
