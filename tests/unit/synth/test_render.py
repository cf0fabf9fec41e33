"""The renderer: deterministic, never clips, hits its loudness, and its knobs change the sound."""

from __future__ import annotations

import numpy as np
import pytest

from sonicmap.errors import SonicmapError
from sonicmap.synth import DRUMS, TIMBRES, Style, demo_styles, render
from sonicmap.synth.voices import karplus_strong

SR = 22050


def centroid_hz(y: np.ndarray, sr: int) -> float:
    """Spectral centroid of the whole mono signal in Hz (plain FFT)."""
    mag = np.abs(np.fft.rfft(y))
    f = np.fft.rfftfreq(len(y), 1 / sr)
    return float((f * mag).sum() / mag.sum())


def chroma(y: np.ndarray, sr: int) -> np.ndarray:
    """Energy per pitch class over 100 Hz-2 kHz (above the bass roots), shape (12,), sum 1."""
    p = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / sr)
    sel = (f > 100) & (f < 2000)
    pc = np.round(12 * np.log2(f[sel] / 440.0)).astype(int) % 12  # 0 = A
    c = np.bincount(pc, weights=p[sel], minlength=12)
    c = np.roll(c, 9)  # 0 = C
    return c / c.sum()


# Krumhansl-Kessler key profiles
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def estimate_key(y: np.ndarray, sr: int) -> tuple[int, str]:
    c = chroma(y, sr)
    best = max(
        (
            (np.corrcoef(c, np.roll(prof, k))[0, 1], k, mode)
            for k in range(12)
            for prof, mode in ((KK_MAJOR, "major"), (KK_MINOR, "minor"))
        ),
    )
    return best[1], best[2]


def test_deterministic_and_seed_dependent() -> None:
    s = Style(speech_like=True, noise=0.1, swing=0.3)
    a = render(s, duration_s=3, sr=SR, seed=5)
    b = render(s, duration_s=3, sr=SR, seed=5)
    c = render(s, duration_s=3, sr=SR, seed=6)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("channels", [1, 2])
def test_shape_dtype_and_length(channels: int) -> None:
    y = render(Style(), duration_s=2.5, sr=SR, seed=0, channels=channels)
    assert y.dtype == np.float32
    n = int(round(2.5 * SR))
    assert y.shape == ((n,) if channels == 1 else (2, n))
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("timbre", TIMBRES)
def test_every_timbre_is_loud_enough_and_never_clips(timbre: str) -> None:
    y = render(Style(timbre=timbre, loudness_db=-7.0, drums="blast"), duration_s=2, sr=SR)
    assert np.max(np.abs(y)) <= 0.99
    rms_db = 20 * np.log10(np.sqrt(np.mean(y**2)))
    assert -10.0 < rms_db <= -6.5  # the limiter may give up a little loudness, never clip


@pytest.mark.parametrize("drums", DRUMS)
@pytest.mark.parametrize("meter", [3, 4])
def test_every_drum_pattern_hits_the_loudness_target(drums: str | None, meter: int) -> None:
    y = render(Style(drums=drums, meter=meter, loudness_db=-20.0), duration_s=2, sr=SR, channels=1)
    assert 20 * np.log10(np.sqrt(np.mean(y**2))) == pytest.approx(-20.0, abs=0.2)


def test_brightness_raises_the_spectral_centroid() -> None:
    cents = [
        centroid_hz(render(Style(brightness=b, drums=None), duration_s=4, sr=SR, channels=1), SR)
        for b in (0.1, 0.5, 0.95)
    ]
    assert cents[0] < cents[1] < cents[2]
    assert cents[2] > 2 * cents[0]


def test_drums_add_onsets_at_the_tempo() -> None:
    """The kick of four_on_floor makes the low-band envelope periodic at the beat period."""
    bpm = 120.0
    y = render(
        Style(bpm=bpm, drums="four_on_floor", timbre="pad", bass=False),
        duration_s=8,
        sr=SR,
        channels=1,
    )
    hop = 256
    env = np.sqrt(np.add.reduceat(y**2, np.arange(0, len(y), hop)))
    flux = np.maximum(np.diff(env), 0)
    flux -= flux.mean()
    ac = np.correlate(flux, flux, "full")[len(flux) - 1 :]
    lag_s = np.arange(len(ac)) * hop / SR
    search = (lag_s > 0.3) & (lag_s < 1.0)
    best = lag_s[search][np.argmax(ac[search])]
    assert best == pytest.approx(60 / bpm, rel=0.05)


@pytest.mark.parametrize("timbre", ["epiano", "saw", "guitar", "bell"])
def test_key_is_well_posed(timbre: str) -> None:
    """A plain Krumhansl-Kessler estimate on whole-track chroma finds >= 21 of the 24 keys."""
    hits = 0
    for key in range(12):
        for mode in ("major", "minor"):
            s = Style(key=key, mode=mode, timbre=timbre, drums="backbeat", density=2)
            y = render(s, duration_s=8, sr=SR, seed=key, channels=1)
            hits += estimate_key(y, SR) == (key, mode)
    assert hits >= 21


def test_speech_like_adds_syllabic_modulation() -> None:
    """A speech layer puts energy at 2-6 Hz in the envelope of the 300-3000 Hz band."""

    def syllabic_ratio(y: np.ndarray) -> float:
        spec = np.fft.rfft(y)
        f = np.fft.rfftfreq(len(y), 1 / SR)
        spec[(f < 300) | (f > 3000)] = 0
        band = np.fft.irfft(spec, len(y))
        hop = 220  # 100 Hz envelope
        env = np.sqrt(np.add.reduceat(band**2, np.arange(0, len(band), hop)))
        m = np.abs(np.fft.rfft(env - env.mean()))
        fm = np.fft.rfftfreq(len(env), hop / SR)
        return float(m[(fm > 2) & (fm < 6)].sum() / m[(fm > 0.5) & (fm < 20)].sum())

    base = Style(drums=None, timbre="pad", bass=False, density=0.5)
    plain = render(base, duration_s=8, sr=SR, channels=1)
    speech = render(base.with_(speech_like=True), duration_s=8, sr=SR, channels=1)
    assert syllabic_ratio(speech) > syllabic_ratio(plain) + 0.1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bpm", 10),
        ("key", 12),
        ("mode", "dorian"),
        ("timbre", "kazoo"),
        ("drums", "polka"),
        ("meter", 5),
        ("brightness", 2.0),
    ],
)
def test_invalid_style_names_the_field(field: str, value: object) -> None:
    with pytest.raises(SonicmapError, match=field):
        Style(**{field: value})


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"duration_s": 0}, "duration_s"),
        ({"duration_s": 1, "sr": 100}, "sr"),
        ({"duration_s": 1, "channels": 3}, "channels"),
    ],
)
def test_invalid_render_arguments(kw: dict, match: str) -> None:
    with pytest.raises(SonicmapError, match=match):
        render(Style(), **kw)


def test_demo_styles_are_distinct_and_deterministic() -> None:
    styles = demo_styles(20, seed=3)
    assert styles == demo_styles(20, seed=3)
    assert len({s.genre for s in styles}) == 20
    assert len({(s.timbre, s.drums, round(s.bpm), s.key, s.mode) for s in styles}) == 20
    bpms = [s.bpm for s in styles]
    assert min(bpms) < 75 and max(bpms) > 170
    assert {s.mode for s in styles} == {"major", "minor"}
    assert len({s.key for s in styles}) == 12
    assert any(s.drums is None for s in styles) and any(s.speech_like for s in styles)
    assert len(demo_styles(45)) == 45


@pytest.mark.parametrize("freq", [82.41, 220.0, 659.26, 1046.5])
@pytest.mark.parametrize("sr", [22050, 44100])
def test_karplus_strong_is_in_tune_and_decays(freq: float, sr: int) -> None:
    y = karplus_strong(freq, 2 * sr, sr)
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    f = np.fft.rfftfreq(len(y), 1 / sr)
    low = f < 1.5 * freq  # the fundamental is the strongest partial below 1.5 f0
    peak = f[low][np.argmax(spec[low])]
    assert abs(1200 * np.log2(peak / freq)) < 10  # cents
    assert np.abs(y[-sr // 10 :]).max() < 0.5 * np.abs(y[: sr // 10]).max()


@pytest.mark.parametrize("duration_s", [0.01, 0.3])
@pytest.mark.parametrize("sr", [8000, 96000])
def test_extremes_stay_finite_and_safe(duration_s: float, sr: int) -> None:
    for style in (
        Style(bpm=300, density=8, timbre="pluck", speech_like=True, noise=1.0),
        Style(bpm=30, density=0.125, timbre="pad", drums=None, bass=False, chords=False),
    ):
        y = render(style, duration_s=duration_s, sr=sr)
        assert y.shape == (2, int(round(duration_s * sr)))
        assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 0.99
        assert np.sqrt(np.mean(y**2)) > 0
