"""Every supported format decodes to the same analysis; streaming state carries across blocks."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.analysis.conftest import click_track, sine
from tests.unit.analysis.test_loudness import reference_lufs

from sonicmap.analysis import analyze_file
from sonicmap.analysis.decode import ANALYSIS_SR, iter_blocks, lowpass_fir
from sonicmap.analysis.decode.dsp import Decimator
from sonicmap.errors import DecodeError
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
    d = Decimator(4, 44100)
    streamed = np.concatenate([d.process(x[i : i + 8820]) for i in range(0, x.size, 8820)])
    h = lowpass_fir(24, 4400.0, 44100)
    ref = np.convolve(x.astype(np.float64), h)[3 : x.size : 4]
    np.testing.assert_allclose(streamed, ref[: streamed.size], atol=1e-5)


@pytest.fixture
def pyav_only(monkeypatch):
    """Decode every file through PyAV (as on a platform without libsndfile)."""
    import sonicmap.analysis.decode.sndfile as sndfile_backend

    monkeypatch.setattr(sndfile_backend, "_sf", None)


def _blocks(path):
    info: list = []
    blocks = list(iter_blocks(path, info_out=info))
    return info[0], blocks


@pytest.mark.parametrize(("ext", "atol"), [("mp3", 1e-4), ("wav", 1e-6)])
def test_libsndfile_and_pyav_give_the_same_blocks(tmp_path, signal_44k, ext, atol, monkeypatch):
    """MP3, WAV and AIFF go through libsndfile (mpg123 for MP3): the blocks match PyAV's."""
    y, sr = signal_44k
    y = y * np.array([[1.0], [0.5]])  # unequal channels: the powers and the mix must differ
    p = write_audio(tmp_path / f"x.{ext}", y, sr)
    info_sf, via_sf = _blocks(p)
    import sonicmap.analysis.decode.sndfile as sndfile_backend

    monkeypatch.setattr(sndfile_backend, "_sf", None)
    info_av, via_av = _blocks(p)
    assert info_sf.codec != info_av.codec  # really two decoders (mp3 / mp3float, pcm_16 / …)
    assert (info_sf.sample_rate, info_sf.channels) == (info_av.sample_rate, info_av.channels)
    assert [b.n_native for b in via_sf] == [b.n_native for b in via_av]
    for name in ("powers", "mono_powers", "mono"):
        a = np.concatenate([getattr(b, name) for b in via_sf])
        b = np.concatenate([getattr(b, name) for b in via_av])
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=atol, err_msg=name)


def test_a_file_libsndfile_cannot_read_falls_back_to_pyav(tmp_path, signal_44k):
    """An AAC stream named .mp3 (libsndfile cannot open it) is still analysed, by PyAV."""
    y, sr = signal_44k
    m4a = write_audio(tmp_path / "x.m4a", y, sr)
    p = m4a.rename(tmp_path / "really aac.mp3")
    a = analyze_file(p, tags=None)
    assert a.info["codec"] == "aac"
    assert abs(a.features["bpm"] - 110) / 110 < 0.04 and a.features["key"] == "D"


def test_a_file_pyav_cannot_read_falls_back_to_libsndfile(tmp_path, signal_44k, monkeypatch):
    """A MATLAB 5 sound file named .flac: FFmpeg has no decoder for it, libsndfile reads it."""
    import soundfile

    import sonicmap.analysis.decode.sndfile as sndfile_backend

    y, sr = signal_44k
    p = tmp_path / "really mat5.flac"
    soundfile.write(p, y.T, sr, format="MAT5", subtype="FLOAT")
    with monkeypatch.context() as m:
        m.setattr(sndfile_backend, "_sf", None)  # PyAV alone refuses it
        with pytest.raises(DecodeError, match="PyAV: "):
            analyze_file(p, tags=None)
    a = analyze_file(p, tags=None)
    assert a.info["codec"] == "float"
    assert abs(a.features["bpm"] - 110) / 110 < 0.04 and a.features["key"] == "D"


@pytest.mark.parametrize("name", ["noise.wav", "noise.flac"])
def test_a_file_neither_decoder_reads_names_both_refusals(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError, match="not a decodable audio file") as err:
        list(iter_blocks(p))
    msg = str(err.value)
    assert "libsndfile: " in msg and "PyAV: " in msg, msg
    first = "libsndfile" if name.endswith(".wav") else "PyAV"
    assert msg.index(first) < msg.index("libsndfile" if first == "PyAV" else "PyAV")


def test_surround_wav_keeps_the_lfe_out_of_the_loudness(tmp_path):
    """5.1 files are left to PyAV, which knows the channel layout: BS.1770 excludes the LFE."""
    from tests.unit.analysis.conftest import write_pcm

    sr = 48000
    tone = sine(997.0, 6, sr, dbfs=-20)
    zeros = np.zeros_like(tone)
    on_left = write_pcm(tmp_path / "left.wav", np.stack([tone] + [zeros] * 5), sr)
    on_lfe = write_pcm(tmp_path / "lfe.wav", np.stack([zeros] * 3 + [tone] + [zeros] * 2), sr)
    left = analyze_file(on_left, tags=None).features["loudness_lufs"]
    lfe = analyze_file(on_lfe, tags=None).features["loudness_lufs"]
    assert left == pytest.approx(-20 - 3.01 + 0.0, abs=0.5)  # one channel of a -20 dBFS sine
    assert lfe < left - 40


@pytest.mark.parametrize("decoder", ["libsndfile", "pyav"])
def test_the_duration_cap_holds_on_either_decoder(tmp_path, request, decoder):
    if decoder == "pyav":
        request.getfixturevalue("pyav_only")
    sr = 44100
    y = click_track(100, 20, sr)
    p = write_audio(tmp_path / "long.mp3", np.stack([y, y]), sr)
    a = analyze_file(p, max_duration_s=7.0, tags=None)
    assert a.truncated and a.analysed_s == pytest.approx(7.0, abs=0.01)
    assert a.duration_s == pytest.approx(20.0, abs=0.2)
    whole = analyze_file(p, max_duration_s=25.0, tags=None)
    assert not whole.truncated and whole.analysed_s == pytest.approx(20.0, abs=0.1)


@pytest.mark.parametrize("decoder", ["libsndfile", "pyav"])
def test_a_file_at_the_analysis_rate_is_analysed_like_a_higher_rate_one(tmp_path, request, decoder):
    """11 025 Hz files need no decimation; their blocks must still reach the analysis intact
    (they once all pointed at one reused buffer: a 100 BPM click track came out at 90 BPM, and
    the mono and stereo copies of one signal disagreed)."""
    from tests.unit.analysis.conftest import write_pcm

    if decoder == "pyav":
        request.getfixturevalue("pyav_only")
    feats = {}
    for sr, ch in ((11025, 1), (11025, 2), (22050, 1)):
        y = click_track(100, 20, sr) + sine(440.0, 20, sr, dbfs=-20)
        p = write_pcm(tmp_path / f"{sr}-{ch}.wav", np.stack([y] * ch), sr)
        feats[sr, ch] = analyze_file(p, tags=None).features
    mono, stereo, ref = feats[11025, 1], feats[11025, 2], feats[22050, 1]
    for f in (mono, stereo):
        assert abs(f["bpm"] - 100) / 100 < 0.04
        assert f["key"] == ref["key"] == "A"
        assert f["loudness_lufs"] - 10 * np.log10(2) * (f is stereo) == pytest.approx(
            ref["loudness_lufs"], abs=0.3
        )
    for name in ("spectral_centroid_hz", "spectral_flatness", "zcr", "onset_rate"):
        assert stereo[name] == pytest.approx(mono[name], rel=1e-3), name
