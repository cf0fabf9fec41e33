"""BS.1770-4 loudness: coefficient derivation, calibrated sines, noise at several rates vs a
straightforward full-rate reference implementation, gating, silence."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal
from tests.unit.analysis.conftest import noise, sine, write_pcm

from sonicmap.analysis import analyze_file
from sonicmap.analysis.loudness import LUFS_FLOOR, gated_loudness, k_weighting_ba, loudness_range


def reference_lufs(y: np.ndarray, sr: int) -> float:
    """BS.1770-4 by the book: K-weight every channel at its own rate, 400 ms / 75 % blocks,
    absolute and relative gates, channel powers summed (G = 1 for L/R)."""
    y = np.atleast_2d(y).astype(np.float64)
    b1, a1, b2, a2 = k_weighting_ba(sr)
    k = signal.lfilter(b2, a2, signal.lfilter(b1, a1, y, axis=1), axis=1)
    step = int(round(0.1 * sr))
    n_seg = k.shape[1] // step
    seg = (k[:, : n_seg * step] ** 2).reshape(k.shape[0], n_seg, step).mean(axis=2).sum(axis=0)
    return gated_loudness(seg)


def test_coefficients_at_48k_match_the_spec_table():
    b1, a1, b2, a2 = k_weighting_ba(48000)
    np.testing.assert_allclose(
        b1, [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=1e-8
    )
    np.testing.assert_allclose(a1, [1.0, -1.69065929318241, 0.73248077421585], atol=1e-8)
    np.testing.assert_allclose(a2, [1.0, -1.99004745483398, 0.99007225036621], atol=1e-8)
    np.testing.assert_allclose(b2, [1.0, -2.0, 1.0])


@pytest.mark.parametrize("sr", [44100, 48000])
def test_reference_reads_minus_20_for_a_minus_20_dbfs_997hz_sine_in_both_channels(sr):
    y = sine(997, 5, sr, dbfs=-20)
    assert reference_lufs(np.stack([y, y]), sr) == pytest.approx(-20.0, abs=0.05)


@pytest.mark.parametrize(
    ("sr", "channels", "expected"),
    [(44100, 2, -20.0), (48000, 2, -20.0), (22050, 2, -20.0), (44100, 1, -23.01)],
)
def test_calibrated_sine(tmp_path, sr, channels, expected):
    y = sine(997, 6, sr, dbfs=-20)
    p = write_pcm(tmp_path / f"sine{sr}.wav", np.stack([y] * channels), sr, codec="pcm_f32le")
    got = analyze_file(p, tags=None).features["loudness_lufs"]
    assert got == pytest.approx(expected, abs=0.3)


@pytest.mark.parametrize("sr", [44100, 48000, 22050])
@pytest.mark.parametrize("pink", [False, True])
@pytest.mark.parametrize("level", [-30.0, -18.0])
def test_noise_matches_full_rate_reference(tmp_path, sr, pink, level):
    y = np.stack(
        [
            noise(6, sr, rms_db=level, pink=pink, seed=1),
            noise(6, sr, rms_db=level, pink=pink, seed=2),
        ]
    )
    p = write_pcm(tmp_path / "noise.wav", y, sr, codec="pcm_f32le")
    got = analyze_file(p, tags=None).features["loudness_lufs"]
    assert got == pytest.approx(reference_lufs(y, sr), abs=0.3)


def test_level_steps_are_exact(tmp_path):
    sr = 44100
    base = noise(5, sr, rms_db=-25, pink=True)
    vals = []
    for gain_db in (0.0, 6.0):
        y = base * 10 ** (gain_db / 20)
        p = write_pcm(tmp_path / f"g{gain_db}.wav", np.stack([y, y]), sr, codec="pcm_f32le")
        vals.append(analyze_file(p, tags=None).features["loudness_lufs"])
    assert vals[1] - vals[0] == pytest.approx(6.0, abs=0.05)


def test_silence_and_gating():
    assert gated_loudness(np.zeros(100)) == LUFS_FLOOR
    assert gated_loudness(np.zeros(2)) == LUFS_FLOOR
    # a loud half and a silent half: the silence is gated out (only the 3 blocks straddling the
    # edge, at -1.2 to -6 LU, lower the result slightly)
    z = np.r_[np.full(50, 0.01), np.zeros(50)]
    assert gated_loudness(z) == pytest.approx(-0.691 + 10 * np.log10(0.01), abs=0.2)
    assert loudness_range(np.zeros(100)) == 0.0


def test_loudness_range_of_two_levels():
    # 20 s at -20 LUFS then 20 s at -30 LUFS: LRA spans the two plateaus (10 LU, minus edges)
    z = np.r_[np.full(200, 10 ** ((-20 + 0.691) / 10)), np.full(200, 10 ** ((-30 + 0.691) / 10))]
    assert 8.0 < loudness_range(z) <= 10.01
