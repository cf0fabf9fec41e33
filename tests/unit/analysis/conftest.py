"""Signal builders for the analysis tests: known tempo, key, level; written with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest


def write_pcm(
    path: Path, y: np.ndarray, sr: int, *, codec: str = "pcm_s16le", layout: str | None = None
) -> Path:
    """Write y [shape=(channels, n) or (n,), float in ±1] as WAV/AIFF with ``codec``."""
    y = np.atleast_2d(np.asarray(y, dtype=np.float32))
    ch = y.shape[0]
    layout = layout or {1: "mono", 2: "stereo", 6: "5.1"}[ch]
    fmt = {
        "pcm_s16le": "s16",
        "pcm_s16be": "s16",
        "pcm_u8": "u8",
        "pcm_s24le": "s32",
        "pcm_f32le": "flt",
        "pcm_s32le": "s32",
    }[codec]
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=sr, layout=layout)
        res = av.AudioResampler(format=fmt, layout=layout, rate=sr)
        step = 8192
        for i in range(0, y.shape[1], step):
            blk = np.ascontiguousarray(np.clip(y[:, i : i + step], -1, 1))
            fr = av.AudioFrame.from_ndarray(blk, format="fltp", layout=layout)
            fr.sample_rate = sr
            for f in res.resample(fr):
                for p in s.encode(f):
                    c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def sine(freq: float, dur: float, sr: int, *, dbfs: float = -20.0) -> np.ndarray:
    """Sine whose peak is ``dbfs`` (dB re full-scale sine), float32 [shape=(n,)]."""
    t = np.arange(int(dur * sr)) / sr
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(dur: float, sr: int, *, rms_db: float, pink: bool = False, seed: int = 0) -> np.ndarray:
    """White or pink (1/f power, band-limited to 20 Hz-20 kHz like calibration pink noise) noise
    at ``rms_db`` dBFS RMS, float32 [shape=(n,)]."""
    rng = np.random.default_rng(seed)
    n = int(dur * sr)
    x = rng.standard_normal(n)
    if pink:
        X = np.fft.rfft(x)
        f = np.fft.rfftfreq(n, 1 / sr)
        X[1:] /= np.sqrt(f[1:])
        X[(f < 20.0) | (f > 20000.0)] = 0
        x = np.fft.irfft(X, n)
    x = x / np.sqrt(np.mean(x**2)) * 10 ** (rms_db / 20)
    return x.astype(np.float32)


def click_track(bpm: float, dur: float, sr: int, *, seed: int = 0) -> np.ndarray:
    """Short noise bursts every beat (accent on the bar) at -12 dBFS, float32 [shape=(n,)]."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(dur * sr), np.float32)
    burst = int(0.02 * sr)
    env = np.exp(-np.arange(burst) / (0.004 * sr)).astype(np.float32)
    for k, t in enumerate(np.arange(0.1, dur - 0.05, 60.0 / bpm)):
        i = int(t * sr)
        amp = 0.5 if k % 4 == 0 else 0.3
        y[i : i + burst] += (
            amp * env[: y.size - i] * rng.standard_normal(min(burst, y.size - i)).astype(np.float32)
        )
    return y


@pytest.fixture
def tmp_audio(tmp_path: Path) -> Path:
    return tmp_path
