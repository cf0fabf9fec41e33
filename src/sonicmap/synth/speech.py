"""The speech-like layer of the synthesizer (syllabic, formant-filtered buzz)."""

from __future__ import annotations

import numpy as np

from sonicmap.synth.voices import TWO_PI, next_fast_len

_VOWELS = (  # formants F1, F2, F3 in Hz
    (730.0, 1090.0, 2440.0),
    (270.0, 2290.0, 3010.0),
    (530.0, 1840.0, 2480.0),
    (300.0, 870.0, 2240.0),
    (570.0, 840.0, 2410.0),
)


def speech_layer(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Speech-like layer: syllables at ~4 Hz of formant-filtered buzz with fricative onsets.

    Returns float32 [shape=(n,)], RMS about 0.1 while speaking.
    """
    out = np.zeros(n, dtype=np.float32)
    pos = int(rng.uniform(0.05, 0.3) * sr)
    count = 0
    while pos < n:
        length = int(rng.uniform(0.14, 0.30) * sr)
        m = min(length, n - pos)
        if m < 64:
            break
        f0 = rng.uniform(100.0, 150.0)
        mlen = next_fast_len(m)
        t = np.arange(m, dtype=np.float32) / np.float32(sr)
        f0c = f0 * (1.0 + 0.08 * np.sin(TWO_PI * t * rng.uniform(1.0, 3.0)))
        src = 2.0 * (np.cumsum(f0c / sr) % 1.0) - 1.0
        src = src.astype(np.float32) + 0.05 * rng.standard_normal(m).astype(np.float32)
        spec = np.fft.rfft(src, mlen)
        freqs = np.fft.rfftfreq(mlen, 1.0 / sr)
        formants = _VOWELS[int(rng.integers(len(_VOWELS)))]
        gain = np.zeros_like(freqs)
        for i, fc in enumerate(formants):
            bw = 80.0 + 40.0 * i
            gain += (0.5**i) * np.exp(-0.5 * ((freqs - fc) / bw) ** 2)
        voiced = np.fft.irfft(spec * gain, mlen)[:m].astype(np.float32)
        env = np.sin(np.pi * np.arange(m, dtype=np.float32) / m) ** 0.7
        seg = voiced * env
        # fricative onset (s/t/k): 20-50 ms of high-passed noise
        nf = min(m, int(rng.uniform(0.02, 0.05) * sr))
        if rng.random() < 0.6:
            hiss = np.diff(rng.standard_normal(nf + 1)).astype(np.float32) * 0.25
            seg[:nf] += hiss * np.linspace(1.0, 0.0, nf, dtype=np.float32) * np.abs(voiced).max()
        out[pos : pos + m] += seg
        count += 1
        gap = rng.uniform(0.01, 0.06)
        if count % int(rng.integers(4, 9)) == 0:
            gap += rng.uniform(0.25, 0.6)  # a pause between phrases
        pos += m + int(gap * sr)
    rms = float(np.sqrt(np.mean(out**2))) if n else 0.0
    if rms > 0:
        out *= np.float32(0.1 / rms)
    return out
