"""Key, mode and chroma from the track's mean magnitude spectrum (HPCP-like).

Method (after Gómez, "Tonal description of music audio signals", 2006):

1. the long STFT (4096 points at 11 025 Hz, 2.7 Hz bins) is normalised per frame and averaged over
   the track (:mod:`analyze` does this streaming);
2. spectral peaks between ``fmin`` and ``fmax`` are located with parabolic interpolation;
3. the tuning offset (cents from A4 = 440 Hz) is the magnitude-weighted circular mean of the peaks'
   deviations from equal temperament;
4. each peak adds its magnitude (``compression=1``) to its pitch class, spread by a cos²
   window 4/3 semitone wide; optionally (``harmonics > 1``) also to the pitch classes of ``f/h``
   with weight ``s^(h-1)`` (HPCP harmonic weighting);
5. the 12-bin chroma is correlated (Pearson) with the 24 rotations of a major and a minor key
   profile; the best is the key, its correlation the key strength.

Choices (analysis version 4) made by measurement on the tuning half of the people-written set
(``bench/tempo_key_set.py``, MIREX weighted score; table in docs/analysis.md): Albrecht &
Shanahan's profiles with linear magnitudes (0.919) beat Temperley's with square-root compression,
the earlier choice made on the generated set (0.806), Krumhansl–Kessler, Aarden–Essen, Temperley
2005 and Essentia's ``edma``; a bass-weighted chroma and harmonic weighting did not help.
"""

from __future__ import annotations

import functools

import numpy as np

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # Krumhansl & Kessler (1982), probe-tone ratings
    "krumhansl": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
    # Temperley (1999), "What's key for key?"
    "temperley": (
        (5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0),
        (5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0),
    ),
    # Albrecht & Shanahan (2013), pitch-class distributions of a large corpus of major- and
    # minor-mode common-practice pieces, "The use of large corpora to train a new type of
    # key-finding algorithm", Music Perception 31(1), 59-67
    "albrecht": (
        (0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081),
        (0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052),
    ),
    # Aarden (2003) / Essen folk-song corpus pitch-class frequencies
    "aarden": (
        (
            17.7661,
            0.145624,
            14.9265,
            0.160186,
            19.8049,
            11.3587,
            0.291248,
            22.062,
            0.145624,
            8.15494,
            0.232998,
            4.95122,
        ),
        (
            18.2648,
            0.737619,
            14.0499,
            16.8599,
            0.702494,
            14.4362,
            0.702494,
            18.6161,
            4.56621,
            1.93186,
            7.37619,
            1.75623,
        ),
    ),
}
DEFAULT_PROFILE = "albrecht"


def spectral_peaks(
    spec: np.ndarray, freqs: np.ndarray, *, fmin: float, fmax: float, rel_threshold: float = 0.02
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated peak frequencies (Hz) and magnitudes of ``spec`` [shape=(n_bins,)] in [fmin, fmax]."""
    s = np.asarray(spec, dtype=np.float64)
    band = (freqs >= fmin) & (freqs <= fmax)
    if not band.any() or s[band].max() <= 0:
        return np.zeros(0), np.zeros(0)
    thr = rel_threshold * s[band].max()
    i = np.flatnonzero(band[1:-1] & (s[1:-1] > s[:-2]) & (s[1:-1] >= s[2:]) & (s[1:-1] > thr)) + 1
    if i.size == 0:
        return np.zeros(0), np.zeros(0)
    la, lb, lc = (np.log(s[j] + 1e-12) for j in (i - 1, i, i + 1))
    den = la - 2 * lb + lc
    delta = np.where(den < 0, 0.5 * (la - lc) / np.where(den < 0, den, -1.0), 0.0)
    delta = np.clip(delta, -0.5, 0.5)
    df = freqs[1] - freqs[0]
    f = freqs[i] + delta * df
    mag = np.exp(lb - 0.25 * (la - lc) * delta)
    return f, mag


def estimate_tuning(f: np.ndarray, mag: np.ndarray) -> float:
    """Tuning offset in semitones (−0.5..0.5) relative to A4 = 440 Hz."""
    if f.size == 0:
        return 0.0
    semis = 12 * np.log2(f / 440.0)
    ang = 2 * np.pi * (semis - np.round(semis))
    z = np.sum(mag * np.exp(1j * ang))
    if abs(z) < 1e-12:
        return 0.0
    return float(np.angle(z) / (2 * np.pi))


def hpcp(
    f: np.ndarray,
    mag: np.ndarray,
    *,
    tuning: float = 0.0,
    harmonics: int = 1,
    decay: float = 0.6,
    window: float = 4 / 3,
    compression: float = 0.75,
) -> np.ndarray:
    """12-bin harmonic pitch-class profile, index 0 = C; sums to 1 (zeros if no peaks)."""
    out = np.zeros(12)
    if f.size == 0:
        return out
    mag = np.asarray(mag, dtype=np.float64) ** compression
    bins = np.arange(12)[None, :]
    for h in range(1, harmonics + 1):
        p = 12 * np.log2(f / h / 440.0) - tuning + 9.0  # semitones, C = 0
        d = (p[:, None] - bins + 6.0) % 12.0 - 6.0
        w = np.where(np.abs(d) < window / 2, np.cos(np.pi * d / window) ** 2, 0.0)
        out += (decay ** (h - 1)) * (mag[:, None] * w).sum(axis=0)
    s = out.sum()
    return out / s if s > 0 else out


def _norm(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    v = v - v.mean()
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


@functools.cache
def _rotations(profile: str) -> np.ndarray:
    """The 24 normalised profile rotations [shape=(2, 12, 12)]: [mode, key, pitch class]."""
    out = np.zeros((2, 12, 12))
    for m, prof in enumerate(PROFILES[profile]):
        p = _norm(np.asarray(prof))
        for k in range(12):
            out[m, k] = np.roll(p, k)
    out.flags.writeable = False
    return out


def key_scores(chroma: np.ndarray, profile: str = DEFAULT_PROFILE) -> np.ndarray:
    """Pearson correlation of ``chroma`` with each key: [shape=(2, 12)], row 0 major, row 1 minor."""
    result: np.ndarray = _rotations(profile) @ _norm(chroma)
    return result


def estimate_key(chroma: np.ndarray, profile: str = DEFAULT_PROFILE) -> tuple[int, str, float]:
    """(key pitch class 0-11, "major"/"minor", strength 0-1) of a 12-bin chroma (C = 0).

    Strength is the winning correlation, clipped to [0, 1]; a flat or empty chroma gives
    (0, "major", 0.0).
    """
    c = np.asarray(chroma, dtype=np.float64)
    if c.size != 12 or c.std() < 1e-9:
        return 0, "major", 0.0
    s = key_scores(c, profile)
    m, k = np.unravel_index(int(np.argmax(s)), s.shape)
    return int(k), ("major", "minor")[m], float(np.clip(s[m, k], 0.0, 1.0))
