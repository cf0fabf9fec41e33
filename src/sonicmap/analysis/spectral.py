"""Spectral and timbre descriptors from one shared magnitude STFT at the analysis rate.

All functions are pure and vectorised over frames: ``P`` is a power spectrogram
``[shape=(n_frames, n_bins), float32]`` (|X|² of a Hann-windowed rfft), ``freqs`` the bin centre
frequencies in Hz. Descriptors are computed on the analysis-rate signal, i.e. the band up to
~5 kHz (the energy above it is summarised separately by ``hf_ratio``).
"""

from __future__ import annotations

import functools

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


def mel_edges(n_mels: int = N_MELS, fmin: float = 30.0, fmax: float = 5000.0) -> np.ndarray:
    """Edges of the mel filters [Hz, shape=(n_mels + 2,)]: filter i rises from ``edges[i]`` to its
    centre ``edges[i + 1]`` and falls to ``edges[i + 2]``."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))


def mel_filterbank(
    freqs: np.ndarray, *, n_mels: int = N_MELS, fmin: float = 30.0, fmax: float = 5000.0
) -> np.ndarray:
    """Triangular mel filterbank (:func:`mel_edges`), area-normalised (Slaney style).

    Returns np.ndarray [shape=(n_bins, n_mels), float32] so that ``P @ fb`` gives mel energies.
    """
    edges = mel_edges(n_mels, fmin, fmax)
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
    result: np.ndarray = d.astype(np.float32)
    return result


@functools.cache
def _moment_matrix(freqs_key: bytes) -> np.ndarray:
    """Columns 1, f, f² [shape=(n_bins, 3), float32] for the bin frequencies ``freqs_key``."""
    f = np.frombuffer(freqs_key, dtype=np.float64)
    m = np.stack([np.ones_like(f), f, f * f], axis=1).astype(np.float32)
    m.flags.writeable = False
    return m


def frame_descriptors(P: np.ndarray, freqs: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame centroid (Hz), bandwidth (Hz), rolloff 85 % (Hz), flatness (0-1).

    P : [shape=(n, n_bins)] power spectrogram. Returns arrays [shape=(n,)], float64; frames with
    no energy yield 0 for every descriptor.
    """
    A = np.sqrt(P)
    # Σ A, Σ A·f, Σ A·f² in one product
    m = (A @ _moment_matrix(np.asarray(freqs, dtype=np.float64).tobytes())).astype(np.float64)
    s = m[:, 0]
    ok = s > 1e-8
    safe = np.where(ok, s, 1.0)
    c = m[:, 1] / safe
    f2 = m[:, 2] / safe
    bw = np.sqrt(np.maximum(f2 - c * c, 0.0))
    ro = freqs[np.minimum(_rolloff_bin(P, 0.85), freqs.size - 1)]
    nb = P.shape[1]
    logp = np.log(P + _EPS)
    gm = np.exp(np.add.reduce(logp, axis=1) / nb)  # = logp.mean(axis=1), without its overhead
    am = np.add.reduce(P, axis=1) / nb + _EPS
    flat = (gm / am).astype(np.float64)
    if not ok.all():
        c[~ok] = 0.0
        bw[~ok] = 0.0
        ro = np.where(ok, ro, 0.0)
        flat[~ok] = 0.0
    return {"centroid": c, "bandwidth": bw, "rolloff": ro, "flatness": flat}


def _rolloff_bin(P: np.ndarray, share: float, *, width: int = 16) -> np.ndarray:
    """Per frame, the number of bins whose cumulative power stays below ``share`` of the total
    (= the index of the roll-off bin) [shape=(n,), int].

    Two levels (sums of ``width`` bins, then the bins of the crossing group) instead of a full
    cumulative sum: numpy's cumsum along rows is slow (~4 ns per element). The group sums are
    taken over a (bin in group, frame, group) copy, halving it pairwise: the order numpy's own
    sum over the last axis uses for 16 values, several times faster on this layout."""
    n, nb = P.shape
    groups = -(-nb // width)
    Q = np.zeros((n, groups * width), P.dtype)
    Q[:, :nb] = P
    Q = Q.reshape(n, groups, width)
    if width == 16:
        h = np.ascontiguousarray(Q.transpose(2, 0, 1))
        h = h[:8] + h[8:]
        h = h[0::2] + h[1::2]
        h = h[0::2] + h[1::2]
        gsum = h[0] + h[1]
    else:  # pragma: no cover - the default width is used
        gsum = Q.sum(axis=2)
    cg = np.cumsum(gsum, axis=1)  # (n, groups)
    thr = share * cg[:, -1:]
    g = np.minimum((cg < thr).sum(axis=1), groups - 1)  # group holding the crossing
    rows = np.arange(n)
    before = np.where(g > 0, cg[rows, g - 1], 0.0)
    inner = np.cumsum(Q[rows, g], axis=1) + before[:, None]  # (n, width)
    result: np.ndarray = g * width + (inner < thr).sum(axis=1)
    return result


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
    weakest ``alpha`` fraction. Returns [shape=(n, n_bands)], float64 (computed in P's dtype).
    """
    return contrast_and_valley(P, bands, alpha=alpha)[0]


def contrast_and_valley(
    P: np.ndarray, bands: list[slice], *, alpha: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Spectral contrast (:func:`spectral_contrast`) and spectral valley, both dB.

    The valley of a band (Jiang et al. 2002) is the mean of its weakest ``alpha`` fraction of bins,
    here relative to the frame's mean power over all bins: ``10 log10(valley / mean(P))``, so it
    does not depend on the playback level (the noise floor between partials, relative to the
    frame). Returns two arrays [shape=(n, n_bands)], float64; empty bands and silent frames 0.
    """
    nb = len(bands)
    peak = np.ones((nb, P.shape[0]), P.dtype)
    valley = np.ones_like(peak)
    k = np.ones((nb, 1), P.dtype)  # bins averaged per band (1 for an empty band: no division)
    ok = np.zeros(nb, bool)
    for i, band in enumerate(bands):
        m = band.stop - band.start
        if m <= 0:
            continue
        sub = np.sort(P[:, band], axis=1)
        ki = max(1, int(round(alpha * m)))
        np.add.reduce(sub[:, :ki], axis=1, out=valley[i])
        np.add.reduce(sub[:, -ki:], axis=1, out=peak[i])
        k[i] = ki
        ok[i] = True
    # sum / k in P's dtype = the mean, without its per-call overhead, for all bands at once
    valley /= k
    peak /= k
    eps = P.dtype.type(1e-10) if P.dtype.kind == "f" else 1e-10
    r = np.log10((peak + eps) / (valley + eps))
    r *= 10
    level = np.add.reduce(P, axis=1) / P.shape[1] + eps
    v = np.log10((valley + eps) / level)
    v *= 10
    if not ok.all():
        r[~ok] = 0.0
        v[~ok] = 0.0
    return r.T.astype(np.float64), v.T.astype(np.float64)
