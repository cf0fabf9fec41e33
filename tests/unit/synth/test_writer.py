"""write_audio: every format decodes back (PyAV) with the right length, rate and channels."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from sonicmap.errors import SonicmapError
from sonicmap.library.tags import read_tags
from sonicmap.synth import Style, available_formats, render, write_audio

FORMATS = ["wav", "flac", "mp3", "ogg", "opus", "m4a", "aiff", "aif", "wma"]


def decode(path: Path) -> tuple[np.ndarray, int, int]:
    """(samples [shape=(channels, n)], sample rate, channels) of the first audio stream."""
    with av.open(str(path)) as c:
        st = c.streams.audio[0]
        frames = [f.to_ndarray() for f in c.decode(st)]
        rate, ch = st.rate, st.channels
    y = np.concatenate(frames, axis=1).astype(np.float64)
    if y.shape[0] != ch:  # packed formats come back as (1, n * channels)
        y = y.reshape(-1, ch).T
    if np.issubdtype(frames[0].dtype, np.integer):
        y /= 32768.0
    return y, rate, ch


def test_all_formats_are_available_here() -> None:
    assert set(FORMATS) <= set(available_formats())


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize("channels", [1, 2])
def test_round_trip_duration_rate_channels(tmp_path: Path, ext: str, channels: int) -> None:
    sr = 44100
    y = render(Style(), duration_s=2.0, sr=sr, seed=1, channels=channels)
    p = write_audio(tmp_path / f"t.{ext}", y, sr, tags={"title": "Tïtle", "artist": "Ärtist"})
    z, rate, ch = decode(p)
    assert rate == (48000 if ext == "opus" else sr)
    assert ch == channels or (ext == "ogg" and ch == 2)
    assert z.shape[1] / rate == pytest.approx(2.0, abs=0.05)
    # the music is still there at roughly the same level
    rms_in = np.sqrt(np.mean(np.asarray(y, np.float64) ** 2))
    rms_out = np.sqrt(np.mean(z**2))
    assert rms_out == pytest.approx(rms_in, rel=0.2)
    t = read_tags(p)
    assert (t.title, t.artist) == ("Tïtle", "Ärtist")


def test_lossless_formats_are_sample_exact_to_16_bits(tmp_path: Path) -> None:
    y = render(Style(), duration_s=0.5, sr=22050, seed=2, channels=2)
    for ext in ("wav", "flac", "aiff"):
        z, _, _ = decode(write_audio(tmp_path / f"t.{ext}", y, 22050))
        assert np.max(np.abs(z - y)) < 1.0 / 16000


def test_bitrate_changes_lossy_file_size(tmp_path: Path) -> None:
    y = render(Style(noise=0.3), duration_s=3.0, sr=44100, seed=3)
    small = write_audio(tmp_path / "a.mp3", y, 44100, bitrate=64_000).stat().st_size
    big = write_audio(tmp_path / "b.mp3", y, 44100, bitrate=256_000).stat().st_size
    assert big > 2.5 * small


@pytest.mark.parametrize(
    ("name", "y", "match"),
    [
        ("x.xyz", np.zeros(100, np.float32), "unknown extension"),
        ("x.wav", np.zeros((3, 100), np.float32), "shape"),
        ("x.wav", np.zeros(0, np.float32), "empty"),
        ("x.wav", np.array([0.0, np.nan], np.float32), "NaN"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, name: str, y: np.ndarray, match: str) -> None:
    with pytest.raises(SonicmapError, match=match):
        write_audio(tmp_path / name, y, 44100)


def test_creates_parent_folders_and_non_ascii_names(tmp_path: Path) -> None:
    p = tmp_path / "Bjørn" / "東京 album" / "01 Über.flac"
    write_audio(p, np.zeros(4410, np.float32), 44100)
    assert p.is_file()


def _last_granule(path: Path) -> int:
    """Granule position (samples) of the last Ogg page: what libsndfile takes as the length."""
    import struct

    data = path.read_bytes()
    pos = data.rindex(b"OggS")
    return struct.unpack("<q", data[pos + 6 : pos + 14])[0]


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("streamed", [False, True])
def test_ogg_granule_positions_cover_the_whole_file(
    tmp_path: Path, channels: int, streamed: bool
) -> None:
    """Readers that trust the Ogg granule positions (libsndfile → soundfile → librosa) must see
    the whole file, not the first seconds (frames without timestamps gave 64 samples/packet)."""
    from sonicmap.synth.writer import write_audio_stream

    sr = 44100
    y = render(Style(), duration_s=4.0, sr=sr, seed=5, channels=channels)
    p = tmp_path / "t.ogg"
    if streamed:
        y2 = y.reshape(channels, -1)
        write_audio_stream(
            p, (y2[:, i : i + 30000] for i in range(0, y2.shape[1], 30000)), sr, channels=channels
        )
    else:
        write_audio(p, y, sr)
    z, rate, _ = decode(p)
    n_in = y.shape[-1]
    assert n_in <= z.shape[1] <= n_in + 1024
    assert _last_granule(p) == z.shape[1]
    try:
        import soundfile
    except (ImportError, OSError):  # optional (bench extra)
        return
    assert soundfile.info(str(p)).frames == z.shape[1]
