"""Timbre-Gaussian correlations, spectral valleys and the fluctuation pattern (analysis v4)."""

from __future__ import annotations

import numpy as np
import pytest

from sonicmap.analysis import spectral, texture

FPS = 11025 / 256


def _pulses(rate_hz: float, seconds: float = 30.0) -> np.ndarray:
    t = np.arange(int(seconds * FPS)) / FPS
    return np.maximum(np.cos(2 * np.pi * rate_hz * t), 0.0) ** 8


def _swell(rate_hz: float, seconds: float = 30.0) -> np.ndarray:
    t = np.arange(int(seconds * FPS)) / FPS
    return 1.0 + 0.8 * np.cos(2 * np.pi * rate_hz * t)


@pytest.mark.parametrize("rate", [0.6, 1.0, 2.0, 4.0, 8.0])
def test_fluctuation_pattern_peaks_in_the_band_of_the_modulation_rate(rate: float) -> None:
    fp = texture.fluctuation_pattern(_swell(rate), FPS)
    pattern = np.array(fp["pattern"])
    assert pattern.sum() == pytest.approx(1.0)
    band = np.searchsorted(texture.FP_EDGES_HZ, rate, side="right") - 1
    assert int(np.argmax(pattern)) == band
    assert fp["strength"] > 0.02


def test_fluctuation_gravity_rises_with_the_pulse_rate() -> None:
    for make in (_swell, _pulses):  # a pure modulation, and pulses with their harmonics
        g = [texture.fluctuation_pattern(make(r), FPS)["gravity"] for r in (0.7, 1.5, 3.0, 6.0)]
        assert g == sorted(g) and g[-1] > 5.0
    g = [texture.fluctuation_pattern(_swell(r), FPS)["gravity"] for r in (0.7, 1.5, 3.0, 6.0)]
    assert g == pytest.approx([0.7, 1.5, 3.0, 6.0], rel=0.05)


def test_fluctuation_of_steady_or_short_envelopes_is_neutral() -> None:
    for x in (np.ones(2000), np.zeros(2000), _pulses(2.0, seconds=2.0)):
        fp = texture.fluctuation_pattern(x, FPS)
        assert fp["strength"] == 0.0 and fp["gravity"] == 3.0
        assert fp["pattern"] == pytest.approx([1 / 6] * 6)


def test_steady_noise_has_weak_fluctuation_against_pulses() -> None:
    rng = np.random.default_rng(0)
    noise = 1.0 + 0.05 * rng.random(int(30 * FPS))
    assert (
        texture.fluctuation_pattern(noise, FPS)["strength"]
        < 0.2 * (texture.fluctuation_pattern(_pulses(2.0), FPS)["strength"])
    )


def test_mfcc_correlations_from_a_known_covariance() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5000, 13))
    x[:, 2] = 0.8 * x[:, 1] + 0.6 * x[:, 2]  # corr(1, 2) = 0.8
    x[:, 4] = -x[:, 3]  # corr(3, 4) = -1
    x[:, 6] = 0.0  # no variance: correlates 0
    r = texture.mfcc_correlations(np.cov(x, rowvar=False))
    assert len(r) == 15
    pairs = list(zip(*np.triu_indices(6, k=1), strict=True))
    val = dict(zip([(i + 1, j + 1) for i, j in pairs], r, strict=True))
    assert val[(1, 2)] == pytest.approx(0.8, abs=0.03)
    assert val[(3, 4)] == pytest.approx(-1.0, abs=1e-6)
    assert val[(1, 6)] == 0.0 and val[(5, 6)] == 0.0
    assert abs(val[(1, 5)]) < 0.05


def test_spectral_valley_is_low_for_partials_and_high_for_noise() -> None:
    freqs = np.fft.rfftfreq(512, 1 / 11025)
    bands = spectral.contrast_bands(freqs)
    rng = np.random.default_rng(2)
    noise = rng.exponential(size=(50, freqs.size)).astype(np.float32)
    tones = np.full((50, freqs.size), 1e-6, np.float32)
    tones[:, ::12] = 1.0
    _, v_noise = spectral.contrast_and_valley(noise, bands)
    c_tones, v_tones = spectral.contrast_and_valley(tones, bands)
    assert (v_tones.mean(axis=0) < v_noise.mean(axis=0) - 30).all()
    # the valley is relative to the frame: the playback level does not move it
    _, v_loud = spectral.contrast_and_valley(noise * 100, bands)
    np.testing.assert_allclose(v_loud, v_noise, atol=1e-3)
    np.testing.assert_allclose(c_tones, spectral.spectral_contrast(tones, bands))


def test_high_band_profile_shows_the_low_pass_of_an_encoding(tmp_path) -> None:
    import soundfile as sf

    from sonicmap.analysis.analyze import analyze_file
    from sonicmap.analysis.decode import HF_EDGES_HZ

    sr = 44100
    rng = np.random.default_rng(3)
    full = rng.normal(0.0, 0.1, 8 * sr)
    # the same noise low-passed at 16 kHz (as an encoder would): FFT brick wall
    X = np.fft.rfft(full)
    X[np.fft.rfftfreq(full.size, 1 / sr) > 16000] = 0
    cut = np.fft.irfft(X, n=full.size)
    profiles = {}
    for name, y in (("full", full), ("cut", cut)):
        sf.write(tmp_path / f"{name}.wav", np.stack([y, y], axis=1), sr)
        profiles[name] = analyze_file(tmp_path / f"{name}.wav", tags=None).features["hf_profile_db"]
    assert len(profiles["full"]) == len(HF_EDGES_HZ) - 1
    # white noise: each band's share ∝ its width (≈ -10 … -15 dB of the 0-22 kHz power)
    widths = np.diff(HF_EDGES_HZ)
    np.testing.assert_allclose(profiles["full"], 10 * np.log10(widths / (sr / 2)), atol=1.0)
    # below the cut the same bands hold a larger share of less power, above it nothing is left
    gain = 10 * np.log10((sr / 2) / 16000)
    np.testing.assert_allclose(profiles["cut"][:4], np.array(profiles["full"][:4]) + gain, atol=0.5)
    assert max(profiles["cut"][6:]) < -60.0
