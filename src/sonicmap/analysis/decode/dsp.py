"""Signal processing of the decoder: the decimation FIR and its streamed polyphase form, the
libswresample fallback, 100 ms segment powers, the high-band frames' band shares, and reusable
work arrays."""

from __future__ import annotations

import functools
import math
import threading

import av
import numpy as np

from sonicmap.analysis.decode.base import (
    ANALYSIS_SR,
    BLOCK_S,
    HF_EDGES_HZ,
    HF_EVERY_S,
    HF_N,
    SEGMENT_S,
)

_DECIM_TAPS_PER_PHASE = 6
_DECIM_CUTOFF_HZ = 4400.0
_MAX_FRAME_ERRORS = 50


@functools.cache
def hf_tables(sr: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """(Hann window [float32], band matrix [shape=(n_bins, n_bands), float32]: 1 where a bin
    lies in a band, frame step in samples, sample offsets 0 … HF_N − 1 of a frame)."""
    f = np.fft.rfftfreq(HF_N, 1.0 / sr)
    band = np.searchsorted(np.asarray(HF_EDGES_HZ), f, side="right") - 1
    band[(f < HF_EDGES_HZ[0]) | (f >= HF_EDGES_HZ[-1])] = -1
    n_bands = len(HF_EDGES_HZ) - 1
    M = (band[:, None] == np.arange(n_bands)[None, :]).astype(np.float32)
    win = np.hanning(HF_N + 1)[:-1].astype(np.float32)
    offsets = np.arange(HF_N)
    for a in (M, win, offsets):
        a.flags.writeable = False
    return win, M, max(HF_N, int(round(HF_EVERY_S * sr))), offsets


def hf_band_shares(frames: np.ndarray, sr: int) -> np.ndarray:
    """Each band's share of the power of Hann-windowed native-rate frames.

    frames : [shape=(k, HF_N), float32] at ``sr``. Returns [shape=(k', n_bands), float64] for the
    k' frames with any power (silent frames are left out).
    """
    from scipy.fft import rfft  # float32 in, complex64 out

    win, M, _, _ = hf_tables(sr)
    X = rfft(frames * win, axis=1)
    P = X.real * X.real + X.imag * X.imag
    total = P.sum(axis=1)
    keep = total > 1e-12
    shares: np.ndarray = ((P[keep] @ M) / total[keep, None]).astype(np.float64)
    return shares


def lowpass_fir(numtaps: int, cutoff_hz: float, sr: float) -> np.ndarray:
    """Windowed-sinc (Hamming) low-pass FIR, unit DC gain (as ``scipy.signal.firwin``).

    Returns np.ndarray [shape=(numtaps,), float64]."""
    n = np.arange(numtaps) - (numtaps - 1) / 2
    h = np.sinc(2 * cutoff_hz / sr * n) * np.hamming(numtaps)
    fir: np.ndarray = h / h.sum()
    return fir


_SCRATCH = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """A reusable work array of this thread (contents undefined), for temporaries that never
    outlive the call that asks for them.

    Large temporaries allocated afresh per block make glibc return and re-map the same pages
    over and over (its trim threshold follows the largest freed block): thousands of page faults
    per minute of audio, ~8 % of the analysis time. Reused arrays stay mapped.
    """
    need = math.prod(shape)
    a = getattr(_SCRATCH, name, None)
    if a is None or a.size < need or a.dtype != dtype:
        a = np.empty(need, dtype)
        setattr(_SCRATCH, name, a)
    return a[:need].reshape(shape)


@functools.cache
def reversed_fir(factor: int, sr: int) -> np.ndarray:
    """The decimation filter, time-reversed [shape=(taps,), float32] (shared, read-only)."""
    h = lowpass_fir(_DECIM_TAPS_PER_PHASE * factor, _DECIM_CUTOFF_HZ, sr).astype(np.float32)
    hr = h[::-1].copy()
    hr.flags.writeable = False
    return hr


class Decimator:
    """FIR low-pass + integer decimation, streamed (the last input samples carried across blocks).

    ``process(x)`` takes x [shape=(n,), float32] with n a multiple of ``factor`` and returns
    [shape=(n // factor,), float32]. A caller that builds its input anyway can write it straight
    into :meth:`input` and call :meth:`process_input` (no copy).

    With L = ``_DECIM_TAPS_PER_PHASE`` · factor taps, output m is the dot product of the reversed
    filter with the L inputs ending at sample factor·m + factor − 1 (history first). The outputs
    m ≡ p (mod ``_DECIM_TAPS_PER_PHASE``) read non-overlapping, consecutive runs of L samples: one
    reshape and one matrix-vector product each, ``_DECIM_TAPS_PER_PHASE`` BLAS calls per block
    (cheaper than a polyphase matrix product followed by shifted sums).
    """

    def __init__(self, factor: int, sr: int) -> None:
        self.factor = factor
        self._hr = reversed_fir(factor, sr)
        self._keep = self._hr.size - factor  # history: input samples still needed by the next block
        self._buf = np.zeros(self._keep + BLOCK_S * sr, np.float32)

    def input(self, n: int) -> np.ndarray:
        """Writable view for the next ``n`` input samples (valid until :meth:`process_input`)."""
        need = self._keep + n
        if self._buf.size < need:
            grown = np.zeros(need, np.float32)
            grown[: self._keep] = self._buf[: self._keep]
            self._buf = grown
        return self._buf[self._keep : need]

    def process(self, x: np.ndarray) -> np.ndarray:
        self.input(x.size)[:] = x
        return self.process_input(x.size)

    def process_input(self, n: int) -> np.ndarray:
        """Filter and decimate the first ``n`` samples written to :meth:`input` (n a multiple
        of ``factor``); a factor of 1 (a file at the analysis rate) passes them on unfiltered,
        as a copy (the input view is overwritten by the next block)."""
        d, j, taps = self.factor, _DECIM_TAPS_PER_PHASE, self._hr.size
        buf = self._buf
        if d == 1:
            return buf[self._keep : self._keep + n].copy()
        k = n // d
        y = np.empty(k, np.float32)
        for p in range(min(j, k)):
            q = (k - p + j - 1) // j  # outputs p, p + j, p + 2j, … below k
            start = d * p
            np.matmul(buf[start : start + taps * q].reshape(q, taps), self._hr, out=y[p::j])
        buf[: self._keep] = buf[n : n + self._keep]
        return y


class SwrResampler:
    """libswresample mono → mono at ANALYSIS_SR (for rates that are not multiples of 11 025 Hz)."""

    def __init__(self, sr: int) -> None:
        self.sr = sr
        self._r = av.AudioResampler(format="flt", layout="mono", rate=ANALYSIS_SR)

    def _run(self, frame: av.AudioFrame | None) -> np.ndarray:
        out = [f.to_ndarray().reshape(-1) for f in self._r.resample(frame)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        if x.size == 0:
            return np.zeros(0, np.float32)
        frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.sr
        return self._run(frame)

    def flush(self) -> np.ndarray:
        return self._run(None)


def segment_sums(x: np.ndarray, sr: int, *, weights: np.ndarray | None = None) -> np.ndarray:
    """Σ_c weights[c] · mean(x[c]²) over each complete 100 ms segment.

    x : [shape=(channels, n), float32]; returns [shape=(n_seg,), float64].
    """
    seg = sr * SEGMENT_S
    ch, n = x.shape
    n_seg = int(math.floor(n / seg + 1e-9))
    if n_seg == 0:
        return np.zeros(0)
    w = np.ones(ch) if weights is None else np.asarray(weights, dtype=np.float64)
    if float(seg).is_integer():
        s = int(seg)
        v = x[:, : n_seg * s].reshape(ch, n_seg, s)
        # a batch of (1, s) @ (s, 1) dot products: BLAS, ~2.5x faster than einsum or x*x sums
        per = np.matmul(v[:, :, None, :], v[:, :, :, None]).reshape(ch, n_seg).astype(np.float64)
        per /= s
    else:
        bounds = np.round(np.arange(n_seg + 1) * seg).astype(np.int64)
        sq = x[:, : bounds[-1]].astype(np.float64) ** 2
        per = np.add.reduceat(sq, bounds[:-1], axis=1) / np.diff(bounds)
    total: np.ndarray = w @ per
    return total
