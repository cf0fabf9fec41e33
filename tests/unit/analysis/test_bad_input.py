"""Bad and unusual input: a clear DecodeError/AnalysisError or a valid, finite result — never a
crash, a hang or NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from tests.unit.analysis.conftest import click_track, sine, write_pcm

from sonicmap.analysis import analyze_file
from sonicmap.errors import AnalysisError, DecodeError
from sonicmap.synth import Style, render, write_audio


def _finite(v) -> bool:
    if isinstance(v, list):
        return all(_finite(x) for x in v)
    return not isinstance(v, float) or math.isfinite(v)


def _valid(a) -> None:
    for k, v in a.features.items():
        assert _finite(v), k
    json.dumps(a.features, allow_nan=False)


def _error_or_valid(path) -> str:
    try:
        a = analyze_file(path, tags=None)
    except (DecodeError, AnalysisError) as exc:
        assert str(path.name) in str(exc) or "audio" in str(exc)
        return "error"
    _valid(a)
    return "ok"


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    y = render(Style(bpm=100, key=2, drums="backbeat"), duration_s=8.0, sr=44100, seed=3)
    return {
        ext: write_audio(d / f"m.{ext}", y, 44100) for ext in ("mp3", "flac", "ogg", "m4a", "wav")
    }


pytestmark = pytest.mark.timeout(60)


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.mp3"
    p.write_bytes(b"")
    with pytest.raises(DecodeError, match="empty"):
        analyze_file(p, tags=None)


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError, match="no such file"):
        analyze_file(tmp_path / "nope.flac", tags=None)


def test_text_renamed_mp3(tmp_path):
    p = tmp_path / "notes.mp3"
    p.write_text("this is not audio\n" * 50)
    with pytest.raises(DecodeError):
        analyze_file(p, tags=None)


@pytest.mark.parametrize("ext", ["mp3", "wav", "flac", "ogg"])
def test_random_bytes(tmp_path, ext):
    p = tmp_path / f"random.{ext}"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    assert _error_or_valid(p) in ("error", "ok")


@pytest.mark.parametrize("ext", ["mp3", "flac", "ogg", "m4a", "wav"])
def test_truncated_files(tmp_path, music, ext):
    data = music[ext].read_bytes()
    p = tmp_path / f"cut.{ext}"
    p.write_bytes(data[: len(data) // 2])
    outcome = _error_or_valid(p)
    if outcome == "ok":
        a = analyze_file(p, tags=None)
        assert 1.0 < a.analysed_s <= 8.5


def test_header_only(tmp_path, music):
    p = tmp_path / "head.flac"
    p.write_bytes(music["flac"].read_bytes()[:200])
    with pytest.raises((DecodeError, AnalysisError)):
        analyze_file(p, tags=None)


def test_pure_silence_has_defined_values(tmp_path):
    p = write_pcm(tmp_path / "silence.wav", np.zeros((2, 44100 * 5), np.float32), 44100)
    f = analyze_file(p, tags=None).features
    assert f["loudness_lufs"] == -70.0
    assert f["bpm"] == 0.0 and f["bpm_confidence"] == 0.0
    assert f["key_strength"] == 0.0
    assert f["rms_mean_db"] == -100.0
    assert all(_finite(v) for v in f.values())


def test_one_second_clip(tmp_path):
    p = write_pcm(tmp_path / "short.wav", sine(440, 1.0, 44100), 44100)
    f = analyze_file(p, tags=None).features
    assert f["bpm"] == 0.0  # too short for a tempo
    assert f["key"] == "A"
    assert f["duration_s"] == pytest.approx(1.0, abs=0.01)


def test_too_short_is_an_analysis_error(tmp_path):
    p = write_pcm(tmp_path / "blip.wav", sine(440, 0.2, 44100), 44100)
    with pytest.raises(AnalysisError, match="0.5 s"):
        analyze_file(p, tags=None)


@pytest.mark.parametrize(
    ("name", "sr", "channels", "codec"),
    [
        ("8bit.wav", 22050, 1, "pcm_u8"),
        ("hires.wav", 96000, 2, "pcm_s24le"),
        ("surround.wav", 48000, 6, "pcm_s16le"),
        ("be.aiff", 44100, 2, "pcm_s16be"),
    ],
)
def test_unusual_pcm(tmp_path, name, sr, channels, codec):
    y = click_track(120, 8, sr) + sine(330, 8, sr, dbfs=-18)
    p = write_pcm(tmp_path / name, np.stack([y] * channels), sr, codec=codec)
    a = analyze_file(p, tags=None)
    _valid(a)
    assert a.info["sample_rate"] == sr and a.info["channels"] == channels
    assert abs(a.features["bpm"] - 120) / 120 < 0.04
    assert a.features["key"] == "E"
    assert -40 < a.features["loudness_lufs"] < -5


def test_names_with_spaces_and_non_ascii(tmp_path, music):
    p = tmp_path / "Sigur Rós – Ágætis byrjun 日本.flac"
    p.write_bytes(music["flac"].read_bytes())
    a = analyze_file(p, tags=None)
    _valid(a)
    assert abs(a.features["bpm"] - 100) < 4


def test_nan_and_inf_samples_in_a_float_wav(tmp_path):
    y = click_track(120, 6, 22050) + sine(440, 6, 22050, dbfs=-20)
    y[1000:1100] = np.nan
    y[50000] = np.inf
    p = write_pcm(tmp_path / "nan.wav", np.stack([y, y]), 22050, codec="pcm_f32le")
    a = analyze_file(p, tags=None)
    _valid(a)
    assert a.features["key"] == "A" and -40 < a.features["loudness_lufs"] < -5
