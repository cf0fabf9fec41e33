"""The streaming part of an analysis: per 2 s block, the work whose state is kept between blocks.

Per block (memory is bounded by the block, whatever the track length):

* native rate: per-channel powers per 100 ms segment (loudness) — :mod:`decode`;
* analysis rate (11 025 Hz mono): a short STFT (512 points, hop 256, ≈ 43 frames/s) feeding the
  onset envelope, the mel bands / MFCCs, the spectral descriptors and the K-weighting ratio; a long
  STFT (4096 points, hop 4096) whose per-frame normalised magnitudes are summed for the chroma;
* native-rate frames, one per 2 s, for the high-band profile (FFTs batched).

Only small per-frame series are kept (onset envelope, RMS and band envelopes: ~3 floats per
23 ms frame, capped by ``max_frames``) plus running sums; :mod:`summary` turns them into the
track's descriptors once at the end.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.fft import rfft as _rfft  # float32 in, complex64 out; faster than numpy on short rows

from sonicmap.analysis import loudness, rhythm, spectral
from sonicmap.analysis.decode import (
    ANALYSIS_HOP,
    ANALYSIS_SR,
    HF_EDGES_HZ,
    SEGMENT_S,
    hf_band_shares,
    scratch,
)

N_FFT = 512
HOP = ANALYSIS_HOP
FPS = ANALYSIS_SR / HOP
"""Frames per second of the short STFT (≈ 43.07)."""
N_FFT_LONG = 4096
HOP_LONG = 4096
FLUX_RANGE_DB = 40.0
CHROMA_FMIN = 55.0
CHROMA_FMAX = 3500.0
_DESC_EVERY = 8  # spectral descriptors: every 8th frame (means/stds only)
_CONTRAST_EVERY = 2
_DESC_BATCH = 512
_MEL_CENTRES = spectral.mel_edges()[1:-1]
# mel bands (by centre frequency) whose flux makes the bass onset envelope of the tempo estimate
_N_BASS_BANDS = int(np.count_nonzero(_MEL_CENTRES < rhythm.BASS_MAX_HZ))
_CHUNK_S = 8
_HF_BATCH = 32  # native-rate frames per batch of high-band FFTs (64 s of audio)
_CHUNK = _CHUNK_S * ANALYSIS_SR
_DB_PER_NEPER = np.float32(10.0 / np.log(10.0))


@functools.cache
def _hann(n: int) -> np.ndarray:
    """Periodic Hann window [shape=(n,), float32] (read-only, shared)."""
    w = np.hanning(n + 1)[:-1].astype(np.float32)
    w.flags.writeable = False
    return w


class _Framer:
    """Streaming framing of a 1-D signal: keeps the tail between blocks."""

    def __init__(self, n_fft: int, hop: int) -> None:
        self.n_fft, self.hop = n_fft, hop
        self.tail = np.zeros(0, np.float32)
        self.window = _hann(n_fft)
        self.name = f"frames{n_fft}_{hop}"

    def frames(self, y: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self.tail, y]) if self.tail.size else y
        if buf.size < self.n_fft:
            self.tail = buf
            return np.zeros((0, self.n_fft), np.float32)
        n = (buf.size - self.n_fft) // self.hop + 1
        # a strided view (n frames of n_fft samples, hop apart); as_strided is a cheap call
        # where sliding_window_view costs tens of microseconds of argument checking
        step = buf.strides[0]
        fr = np.lib.stride_tricks.as_strided(
            buf, shape=(n, self.n_fft), strides=(self.hop * step, step), writeable=False
        )
        self.tail = buf[n * self.hop :].copy()
        # windowed frames in a reused array: valid until the next call (consumed at once)
        frames: np.ndarray = np.multiply(fr, self.window, out=scratch(self.name, (n, self.n_fft)))
        return frames


@dataclass(frozen=True)
class _Tables:
    """Constant matrices of the analysis (built once per process; read-only)."""

    freqs: np.ndarray
    dct_db: np.ndarray
    bands: list[slice]
    bandmat: np.ndarray
    long_freqs: np.ndarray
    long_band: slice


@functools.cache
def _tables() -> _Tables:
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / ANALYSIS_SR)
    win = np.hanning(N_FFT + 1)[:-1]
    c = np.full(freqs.size, 2.0)
    c[0] = c[-1] = 1.0
    norm = N_FFT * N_FFT * np.mean(win**2)
    # columns: K-weighted and plain mean square of the frame (Parseval, one-sided spectrum)
    kpvec = np.stack(
        [c * loudness.k_power_response(freqs, ANALYSIS_SR) / norm, c / norm], axis=1
    ).astype(np.float32)
    long_freqs = np.fft.rfftfreq(N_FFT_LONG, 1.0 / ANALYSIS_SR)
    melfb = spectral.mel_filterbank(freqs)
    speech_bands = (_MEL_CENTRES >= 300) & (_MEL_CENTRES <= 3000)
    t = _Tables(
        freqs=freqs,
        dct_db=spectral.dct_matrix() * np.float32(np.log(10.0) / 10.0),
        bands=spectral.contrast_bands(freqs),
        # every linear band measure of a power spectrum in one product: columns K-weighted and
        # plain mean square, the 40 mel bands, the speech band (300-3000 Hz) sum
        bandmat=np.ascontiguousarray(
            np.column_stack([kpvec, melfb, melfb[:, speech_bands].sum(axis=1)]), np.float32
        ),
        long_freqs=long_freqs,
        long_band=slice(int(CHROMA_FMIN / long_freqs[1]) - 1, int(CHROMA_FMAX / long_freqs[1]) + 2),
    )
    for a in (t.freqs, t.dct_db, t.bandmat, t.long_freqs):
        a.flags.writeable = False
    return t


class Accumulator:
    """Running state of one analysis."""

    def __init__(self, max_frames: int) -> None:
        self.max_frames = max_frames
        t = _tables()
        self.freqs = t.freqs
        self.dct_db = t.dct_db
        self.bands = t.bands
        self.bandmat = t.bandmat
        self.long_freqs = t.long_freqs
        self.long_band = t.long_band
        self.short = _Framer(N_FFT, HOP)
        self.long = _Framer(N_FFT_LONG, HOP_LONG)
        self.long_sum = np.zeros(self.long_band.stop - self.long_band.start)
        self.n_long = 0
        self.frame_index = 0
        self.prev_mel_db: np.ndarray | None = None
        self.onset: list[np.ndarray] = []
        self.onset_bass: list[np.ndarray] = []
        self.env: list[np.ndarray] = []
        self.band_env: list[np.ndarray] = []
        self.n_kept = 0
        # per block: (first 100 ms segment, [frame count, Σ K-weighted, Σ plain mean square] per segment)
        self.seg_pk: list[tuple[int, np.ndarray]] = []
        self.ref_db = -100.0
        self.powers: list[np.ndarray] = []
        self.mono_powers: list[np.ndarray] = []
        self.desc_sum: dict[str, float] = {}
        self.desc_sq: dict[str, float] = {}
        self.n_desc = 0
        self.contrast_sum = np.zeros(len(self.bands))
        self.valley_sum = np.zeros(len(self.bands))
        self.n_contrast = 0
        self.desc_buf: list[np.ndarray] = []
        self.n_buf = 0
        # MFCC moments from the first two moments of the log-mel vector (the DCT is linear)
        self.mel_sum = np.zeros(spectral.N_MELS)
        self.mel_gram = np.zeros((spectral.N_MELS, spectral.N_MELS))
        self.n_mfcc = 0
        self.zc = 0
        self.n_low = 0
        self.last_sign = False
        self.pending: list[np.ndarray] = []
        self.n_pending = 0
        self.hf_sum = np.zeros(len(HF_EDGES_HZ) - 1)
        self.n_hf = 0
        self.hf_frames: list[np.ndarray] = []
        self.hf_sr = ANALYSIS_SR

    def feed_hf(self, frames: np.ndarray | None, sr: int) -> None:
        """Add one block's native-rate frames for the high-band profile (FFTs batched: per call
        the cost is mostly overhead)."""
        if frames is not None:
            self.hf_frames.append(frames)
            self.hf_sr = sr
            if len(self.hf_frames) >= _HF_BATCH:
                self._flush_hf()

    def _flush_hf(self) -> None:
        if self.hf_frames:
            shares = hf_band_shares(np.concatenate(self.hf_frames), self.hf_sr)
            self.hf_frames = []
            self.hf_sum += shares.sum(axis=0)
            self.n_hf += shares.shape[0]

    def feed(self, powers: np.ndarray, mono_powers: np.ndarray, y: np.ndarray) -> None:
        """Add one decoded block: its 100 ms powers and its mono mix at the analysis rate.

        The analysis-rate signal is processed in chunks of ``_CHUNK_S`` seconds: the cost of a
        chunk is dominated by per-call numpy overhead, so chunks longer than the decoder's
        (cache-sized) native blocks are cheaper."""
        self.powers.append(powers)
        self.mono_powers.append(mono_powers)
        if y.size:
            self.pending.append(y)
            self.n_pending += y.size
            if self.n_pending >= _CHUNK:
                self._process()

    def _process(self) -> None:
        if not self.pending:
            return
        y = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
        self.pending, self.n_pending = [], 0
        sb = np.signbit(y)
        self.zc += int(np.count_nonzero(sb[1:] != sb[:-1])) + int(sb[0] != self.last_sign)
        self.n_low += y.size
        self.last_sign = bool(sb[-1])
        fr = self.short.frames(y)
        if fr.shape[0]:
            self._short(fr)
        fl = self.long.frames(y)
        if fl.shape[0]:
            mag = np.abs(_rfft(fl, axis=1)[:, self.long_band])
            # Σ_frames mag / (‖mag‖ + 1e-3) as one vector-matrix product
            w = 1.0 / (np.sqrt(np.einsum("ij,ij->i", mag, mag)) + np.float32(1e-3))
            self.long_sum += w @ mag
            self.n_long += fl.shape[0]

    def _short(self, fr: np.ndarray) -> None:
        X = _rfft(fr, axis=1)
        # |X|² (float32) in a reused array: one pass, no temporaries; only copies of P are kept
        P = np.abs(X, out=scratch("power", X.shape))
        del X
        np.square(P, out=P)
        n = P.shape[0]
        idx = self.frame_index + np.arange(n)
        self.frame_index += n
        # loudness: frame centre → 100 ms segment; K-weighted and plain mean square of the frame
        seg = np.floor((idx * HOP + N_FFT / 2) / (ANALYSIS_SR * SEGMENT_S))
        bm = P @ self.bandmat  # (n, 43): K-weighted and plain mean square, 40 mel, speech band
        kp = bm[:, :2]
        s0 = int(seg[0])
        rel = (seg - s0).astype(np.int64)
        self.seg_pk.append(
            (
                s0,
                np.stack(
                    [np.bincount(rel), np.bincount(rel, kp[:, 0]), np.bincount(rel, kp[:, 1])]
                ),
            )
        )
        mel = bm[:, 2 : 2 + spectral.N_MELS]
        # 10 log10(x) as ln(x) · 10/ln 10: numpy's natural log of float32 is vectorised, its
        # log10 calls libm per element (~4x the cost); they differ by float32 rounding
        mel_db = np.log(mel + np.float32(1e-10))
        mel_db *= _DB_PER_NEPER
        # MFCC = mel_db @ D; its mean and mean square follow from Σ mel_db and Σ mel_dbᵀ mel_db
        self.mel_sum += mel_db.sum(axis=0, dtype=np.float64)
        # the Gram matrix in float64: the MFCC variances are E[x²] − E[x]² of dB values near
        # −100 … 0; from float32 products the cancellation left noise in their last digit that
        # depended on how the BLAS split the sums (its thread count: features differed between
        # analyses overlapping in threads, whose threadpoolctl contexts lift each other's cap)
        m64 = mel_db.astype(np.float64)
        self.mel_gram += m64.T @ m64
        self.n_mfcc += n
        # dynamic range limited to 40 dB below the loudest band so far (up to this frame, so the
        # envelope does not depend on the chunking): rises out of near silence (decays between
        # notes, digital silence) must not dwarf the real onsets
        ref = np.maximum.accumulate(mel_db.max(axis=1))
        np.maximum(ref, np.float32(self.ref_db), out=ref)
        self.ref_db = float(ref[-1])
        ref -= np.float32(FLUX_RANGE_DB)
        np.maximum(mel_db, ref[:, None], out=mel_db)
        first = self.prev_mel_db if self.prev_mel_db is not None else mel_db[0]
        prev = np.concatenate([first[None, :], mel_db[:-1]])
        # SuperFlux-style: compare with the max over neighbouring bands of the previous frame
        pmax = prev.copy()
        np.maximum(pmax[:, 1:], prev[:, :-1], out=pmax[:, 1:])
        np.maximum(pmax[:, :-1], prev[:, 1:], out=pmax[:, :-1])
        rise = np.maximum(mel_db - pmax, 0.0)
        flux = rise.mean(axis=1)
        self.prev_mel_db = mel_db[-1].copy()
        if self.n_kept < self.max_frames:
            k = min(n, self.max_frames - self.n_kept)
            self.onset.append(flux[:k].astype(np.float32))
            self.onset_bass.append(rise[:k, :_N_BASS_BANDS].mean(axis=1).astype(np.float32))
            self.env.append(np.sqrt(kp[:k, 1]).astype(np.float32))
            self.band_env.append(bm[:k, -1].copy())
            self.n_kept += k
        # spectral descriptors and contrast on a subset of frames (every 8th frame of the track,
        # whatever the chunking), batched: per call the cost is mostly numpy overhead
        first = (-int(idx[0])) % _DESC_EVERY
        self.desc_buf.append(P[first::_DESC_EVERY].copy())
        self.n_buf += self.desc_buf[-1].shape[0]
        if self.n_buf >= _DESC_BATCH:
            self._flush_descriptors()

    def _flush_descriptors(self) -> None:
        if not self.desc_buf:
            return
        Ps = np.concatenate(self.desc_buf)
        self.desc_buf, self.n_buf = [], 0
        d = spectral.frame_descriptors(Ps, self.freqs)
        for name, v in d.items():
            self.desc_sum[name] = self.desc_sum.get(name, 0.0) + float(v.sum())
            self.desc_sq[name] = self.desc_sq.get(name, 0.0) + float((v * v).sum())
        self.n_desc += Ps.shape[0]
        Pc = Ps[::_CONTRAST_EVERY]
        contrast, valley = spectral.contrast_and_valley(Pc, self.bands)
        self.contrast_sum += contrast.sum(axis=0)
        self.valley_sum += valley.sum(axis=0)
        self.n_contrast += Pc.shape[0]

    # ---------------------------------------------------------------- final descriptors
    def loudness_powers(self, native_sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(z, mono, low) per 100 ms segment: K-weighted channel-summed power, native mono power
        and the mono power inside the analysis band."""
        powers = np.concatenate(self.powers) if self.powers else np.zeros(0)
        mono = np.concatenate(self.mono_powers) if self.mono_powers else np.zeros(0)
        n = powers.size
        if n == 0:
            return powers, mono, mono
        acc = np.zeros((3, n))
        for s0, part in self.seg_pk:
            m = min(part.shape[1], n - s0)
            if m > 0:
                acc[:, s0 : s0 + m] += part[:, :m]
        cnt = np.maximum(acc[0], 1.0)
        kw, pw = acc[1] / cnt, acc[2] / cnt
        g_hi = loudness.k_plateau_gain(native_sr, ANALYSIS_SR)
        high = np.maximum(mono - pw, 0.0)
        k_mono = kw + g_hi * high
        # K-weighting gain of the mix in this segment; 1 when the mix is silent
        r = np.where(mono > 1e-12, k_mono / np.maximum(mono, 1e-30), 1.0)
        return r * powers, mono, pw

    def onset_envelope(self) -> np.ndarray:
        """Onset strength per frame [shape=(n,), float64]: mean positive log-mel flux (dB/frame)."""
        return np.concatenate(self.onset).astype(np.float64) if self.onset else np.zeros(0)

    def flush(self) -> None:
        """Process what is still buffered (the last partial chunk, descriptor and high-band
        batches): called once, after the last block."""
        self._process()
        self._flush_descriptors()
        self._flush_hf()
