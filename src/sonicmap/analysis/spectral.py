"""Spectral and timbre descriptors from one shared magnitude STFT at the analysis rate.

All functions are pure and vectorised over frames: ``P`` is a power spectrogram
``[shape=(n_frames, n_bins), float32]`` (|X|² of a Hann-windowed rfft), ``freqs`` the bin centre
frequencies in Hz. Descriptors are computed on the analysis-rate signal, i.e. the band up to
~5 kHz (the energy above it is summarised separately by ``hf_ratio``).
"""

from __future__ import annotations

import numpy as np

N_MELS = 40
N_MFCC = 13
CONTRAST_EDGES_HZ = (0.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 5512.5)
_EPS = np.float32(1e-10)


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney-free HTK mel scale: mel = 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=float) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10 ** (np.asarray(m, dtype=float) / 2595.0) - 1.0)


def mel_filterbank(
    freqs: np.ndarray, *, n_mels: int = N_MELS, fmin: float = 30.0, fmax: float = 5000.0
) -> np.ndarray:
    """Triangular mel filterbank, area-normalised (Slaney style).

    Returns np.ndarray [shape=(n_bins, n_mels), float32] so that ``P @ fb`` gives mel energies.
    """
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fb = np.zeros((freqs.size, n_mels))
    for i in range(n_mels):
        lo, c, hi = edges[i], edges[i + 1], edges[i + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[:, i] = np.maximum(0.0, np.minimum(up, down)) * (2.0 / (hi - lo))
    # bins narrower than a triangle would miss: give each filter at least its nearest bin
    for i in range(n_mels):
        if fb[:, i].sum() == 0:
            fb[np.argmin(np.abs(freqs - edges[i + 1])), i] = 2.0 / (edges[i + 2] - edges[i])
    return fb.astype(np.float32)


def dct_matrix(n_in: int = N_MELS, n_out: int = N_MFCC) -> np.ndarray:
    """Orthonormal DCT-II matrix [shape=(n_in, n_out), float32]: ``logmel @ D`` gives MFCCs."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    d = np.cos(np.pi / n_in * (n + 0.5) * k) * np.sqrt(2.0 / n_in)
    d[:, 0] /= np.sqrt(2.0)
    return d.astype(np.float32)


def frame_descriptors(P: np.ndarray, freqs: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame centroid (Hz), bandwidth (Hz), rolloff 85 % (Hz), flatness (0-1).

    P : [shape=(n, n_bins)] power spectrogram. Returns arrays [shape=(n,)], float64; frames with
    no energy yield 0 for every descriptor.
    """
    A = np.sqrt(P)
    # Σ A, Σ A·f, Σ A·f² in one product
    m = A @ np.stack([np.ones_like(freqs), freqs, freqs * freqs], axis=1).astype(A.dtype)
    m = m.astype(np.float64)
    s = m[:, 0]
    ok = s > 1e-8
    safe = np.where(ok, s, 1.0)
    c = m[:, 1] / safe
    f2 = m[:, 2] / safe
    bw = np.sqrt(np.maximum(f2 - c * c, 0.0))
    ro = freqs[np.minimum(_rolloff_bin(P, 0.85), freqs.size - 1)]
    logp = np.log(P + _EPS)
    gm = np.exp(logp.mean(axis=1))
    am = P.mean(axis=1) + _EPS
    flat = gm / am
    z = np.zeros_like(c)
    return {
        "centroid": np.where(ok, c, z),
        "bandwidth": np.where(ok, bw, z),
        "rolloff": np.where(ok, ro, z),
        "flatness": np.where(ok, flat, z),
    }


def _rolloff_bin(P: np.ndarray, share: float, *, width: int = 16) -> np.ndarray:
    """Per frame, the number of bins whose cumulative power stays below ``share`` of the total
    (= the index of the roll-off bin) [shape=(n,), int].

    Two levels (sums of ``width`` bins, then the bins of the crossing group) instead of a full
    cumulative sum: numpy's cumsum along rows is slow (~4 ns per element)."""
    n, nb = P.shape
    groups = -(-nb // width)
    Q = np.zeros((n, groups * width), P.dtype)
    Q[:, :nb] = P
    Q = Q.reshape(n, groups, width)
    cg = np.cumsum(Q.sum(axis=2), axis=1)  # (n, groups)
    thr = share * cg[:, -1:]
    g = np.minimum((cg < thr).sum(axis=1), groups - 1)  # group holding the crossing
    rows = np.arange(n)
    before = np.where(g > 0, cg[rows, g - 1], 0.0)
    inner = np.cumsum(Q[rows, g], axis=1) + before[:, None]  # (n, width)
    return g * width + (inner < thr).sum(axis=1)


def contrast_bands(freqs: np.ndarray) -> list[slice]:
    """Bins of each spectral-contrast sub-band (``CONTRAST_EDGES_HZ``), as slices."""
    e = CONTRAST_EDGES_HZ
    out = []
    for i in range(len(e) - 1):
        idx = np.flatnonzero((freqs >= e[i]) & (freqs < e[i + 1]))
        out.append(slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else slice(0, 0))
    return out


def spectral_contrast(P: np.ndarray, bands: list[slice], *, alpha: float = 0.2) -> np.ndarray:
    """Octave-band spectral contrast (Jiang et al. 2002), dB.

    Per band: 10 log10 of the mean of the strongest ``alpha`` fraction of bins over the mean of the
    weakest ``alpha`` fraction. Returns [shape=(n, n_bands)], float64.
    """
    out = np.zeros((P.shape[0], len(bands)))
    for i, band in enumerate(bands):
        m = band.stop - band.start
        if m <= 0:
            continue
        sub = np.sort(P[:, band], axis=1)
        k = max(1, int(round(alpha * m)))
        valley = sub[:, :k].mean(axis=1)
        peak = sub[:, -k:].mean(axis=1)
        out[:, i] = 10 * np.log10((peak + 1e-10) / (valley + 1e-10))
    return out
