"""Every supported format decodes to the same analysis; streaming state carries across blocks."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.analysis.conftest import click_track, sine
from tests.unit.analysis.test_loudness import reference_lufs

from sonicmap.analysis import analyze_file
from sonicmap.analysis.decode import ANALYSIS_SR, _Decimator, iter_blocks, lowpass_fir
from sonicmap.synth import write_audio


@pytest.fixture(scope="module")
def signal_44k():
    sr = 44100
    y = click_track(110, 8, sr) + sine(293.66, 8, sr, dbfs=-20)  # D4
    return np.stack([y, y]), sr


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3", "ogg", "opus", "m4a", "aiff"])
def test_formats_agree(tmp_path, signal_44k, ext):
    y, sr = signal_44k
    p = write_audio(tmp_path / f"x.{ext}", y, sr)
    a = analyze_file(p, tags=None)
    f = a.features
    assert abs(f["bpm"] - 110) / 110 < 0.04
    assert f["key"] == "D"
    assert f["duration_s"] == pytest.approx(8.0, abs=0.1)
    # loudness of what the codec actually kept (MP3/AAC/Opus drop the top octave), by the book
    decoded, dsr = _decode_all(p)
    assert f["loudness_lufs"] == pytest.approx(reference_lufs(decoded, dsr), abs=0.3)


def _decode_all(path):
    import av

    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        frames = [fr.to_ndarray().astype(np.float64) for fr in c.decode(s)]
        fmt = s.codec_context.format
        sr = s.codec_context.sample_rate
        ch = s.codec_context.channels
    x = (
        np.concatenate(frames, axis=1)
        if fmt.is_planar
        else np.concatenate(frames, axis=1).reshape(-1, ch).T
    )
    if fmt.name.startswith("s16"):
        x /= 32768.0
    elif fmt.name.startswith("s32"):
        x /= 2147483648.0
    return x, sr


def test_blocks_cover_the_signal_at_the_analysis_rate(tmp_path, signal_44k):
    y, sr = signal_44k
    p = write_audio(tmp_path / "x.flac", y, sr)
    blocks = list(iter_blocks(p))
    n_low = sum(b.mono.size for b in blocks)
    assert abs(n_low - 8 * ANALYSIS_SR) <= 4
    assert sum(b.powers.size for b in blocks) == 80  # 100 ms segments
    assert all(b.mono.dtype == np.float32 for b in blocks)


def test_streamed_decimation_equals_one_shot_filtering():
    x = np.random.default_rng(0).standard_normal(44100 * 3).astype(np.float32)
    d = _Decimator(4, 44100)
    streamed = np.concatenate([d.process(x[i : i + 8820]) for i in range(0, x.size, 8820)])
    h = lowpass_fir(24, 4400.0, 44100)
    ref = np.convolve(x.astype(np.float64), h)[3 : x.size : 4]
    np.testing.assert_allclose(streamed, ref[: streamed.size], atol=1e-5)
