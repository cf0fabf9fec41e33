"""``analyze_file``: one streaming pass over a file → named descriptors, scores and their sources.

Pipeline per 2 s block (memory is bounded by the block, whatever the track length):

* native rate: per-channel powers per 100 ms segment (loudness) — :mod:`decode`;
* analysis rate (11 025 Hz mono): a short STFT (512 points, hop 256, ≈ 43 frames/s) feeding the
  onset envelope, the mel bands / MFCCs, the spectral descriptors and the K-weighting ratio; a long
  STFT (4096 points, hop 4096) whose per-frame normalised magnitudes are summed for the chroma.

Only small per-frame series are kept (onset envelope, RMS and band envelopes: ~3 floats per
23 ms frame, capped by ``max_duration_s``) plus running sums; the tempo, key, loudness and DFA
are computed once at the end.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.fft import rfft as _rfft  # float32 in, complex64 out; faster than numpy on short rows

from sonicmap.analysis import loudness, rhythm, spectral, tempo, texture, tonal
from sonicmap.analysis.decode import (
    ANALYSIS_HOP,
    ANALYSIS_SR,
    HF_EDGES_HZ,
    SEGMENT_S,
    DecodeStats,
    StreamInfo,
    hf_band_shares,
    iter_blocks,
    scratch,
)
from sonicmap.analysis.scores import compute_scores, danceability_score
from sonicmap.errors import AnalysisError, DecodeError, TagError

logger = logging.getLogger(__name__)

ANALYSIS_VERSION = 5
"""Bumped on any change of the algorithms or of the feature set."""

N_FFT = 512
HOP = ANALYSIS_HOP
FPS = ANALYSIS_SR / HOP
"""Frames per second of the short STFT (≈ 43.07)."""
N_FFT_LONG = 4096
HOP_LONG = 4096
FLUX_RANGE_DB = 40.0
CHROMA_FMIN = 55.0
CHROMA_FMAX = 3500.0
MIN_DURATION_S = 0.5
_DESC_EVERY = 8  # spectral descriptors: every 8th frame (means/stds only)
_CONTRAST_EVERY = 2
_DESC_BATCH = 512
_MEL_CENTRES = spectral.mel_edges()[1:-1]
# mel bands (by centre frequency) whose flux makes the bass onset envelope of the tempo estimate
_N_BASS_BANDS = int(np.count_nonzero(_MEL_CENTRES < rhythm.BASS_MAX_HZ))
_CHUNK_S = 8
_HF_BATCH = 32  # native-rate frames per batch of high-band FFTs (64 s of audio)
_CHUNK = _CHUNK_S * ANALYSIS_SR


@dataclass
class Analysis:
    """Result of :func:`analyze_file`.

    features : feature name → JSON-able value (see ``sonicmap.analysis.features.FEATURES``)
    sources : feature name → ``"signal"`` or ``"tag:<tag name>"``
    duration_s : s, length of the file
    analysed_s : s, audio analysed
    truncated : True when ``max_duration_s`` cut the analysis short
    version : ANALYSIS_VERSION that produced it
    """

    features: dict[str, Any]
    sources: dict[str, str]
    duration_s: float
    analysed_s: float
    truncated: bool
    version: int = ANALYSIS_VERSION
    info: dict[str, Any] = field(default_factory=dict)


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


class _Accumulator:
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
        mel_db = np.log10(mel + np.float32(1e-10))
        mel_db *= np.float32(10.0)
        # MFCC = mel_db @ D; its mean and mean square follow from Σ mel_db and Σ mel_dbᵀ mel_db
        self.mel_sum += mel_db.sum(axis=0, dtype=np.float64)
        self.mel_gram += mel_db.T @ mel_db
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

    def finish(self, native_sr: int) -> dict[str, Any]:
        self._process()
        self._flush_descriptors()
        f: dict[str, Any] = {}
        onset = self.onset_envelope()
        env = np.concatenate(self.env) if self.env else np.zeros(0, np.float32)
        bass = np.concatenate(self.onset_bass).astype(np.float64) if self.onset_bass else None
        rate = rhythm.onset_rate(onset, FPS)
        bpm, conf, pulse = tempo.estimate_tempo(onset, FPS, low_onset=bass, rate=rate)
        f["bpm"] = round(bpm, 2)
        f["bpm_confidence"] = round(conf, 4)
        f["pulse_strength"] = round(pulse, 4)
        f["onset_rate"] = round(rate, 4)
        dfa = rhythm.dfa_danceability(env, FPS)
        f["dfa_danceability"] = round(dfa, 4)
        f["danceability"] = round(danceability_score(dfa), 4) if dfa > 0 else 0.0
        # key
        spec = self.long_sum / max(self.n_long, 1)
        freqs = self.long_freqs[self.long_band]
        pf, pm = tonal.spectral_peaks(spec, freqs, fmin=CHROMA_FMIN, fmax=CHROMA_FMAX)
        tuning = tonal.estimate_tuning(pf, pm)
        chroma = tonal.hpcp(pf, pm, tuning=tuning)
        key, mode, strength = tonal.estimate_key(chroma)
        f["key"] = tonal.PITCH_CLASSES[key]
        f["key_index"] = key
        f["mode"] = mode
        f["key_strength"] = round(strength, 4)
        f["tuning_cents"] = round(100 * tuning, 2)
        f["chroma"] = [
            round(float(v), 5) for v in (chroma if chroma.sum() > 0 else np.full(12, 1 / 12))
        ]
        # loudness
        z, mono, low = self.loudness_powers(native_sr)
        f["loudness_lufs"] = round(loudness.gated_loudness(z), 2)
        f["loudness_range_lu"] = round(loudness.loudness_range(z), 2)
        f["dynamic_complexity"] = round(loudness.dynamic_complexity(z), 3)
        rms_db = 10 * np.log10(np.maximum(mono, 1e-10)) if mono.size else np.array([-100.0])
        f["rms_mean_db"] = round(float(rms_db.mean()), 2)
        f["rms_std_db"] = round(float(rms_db.std()), 2)
        # spectral
        nd = max(self.n_desc, 1)

        def mean_std(name: str) -> tuple[float, float]:
            m = self.desc_sum.get(name, 0.0) / nd
            v = self.desc_sq.get(name, 0.0) / nd - m * m
            return m, math.sqrt(max(v, 0.0))

        c_m, c_s = mean_std("centroid")
        f["spectral_centroid_hz"] = round(c_m, 2)
        f["spectral_centroid_std_hz"] = round(c_s, 2)
        f["spectral_bandwidth_hz"] = round(mean_std("bandwidth")[0], 2)
        f["spectral_rolloff_hz"] = round(mean_std("rolloff")[0], 2)
        f["spectral_flatness"] = round(mean_std("flatness")[0], 5)
        f["spectral_contrast"] = [
            round(float(v), 3) for v in self.contrast_sum / max(self.n_contrast, 1)
        ]
        f["spectral_valley"] = [
            round(float(v), 3) for v in self.valley_sum / max(self.n_contrast, 1)
        ]
        fp = texture.fluctuation_pattern(onset, FPS)
        f["fluctuation_pattern"] = [round(v, 5) for v in fp["pattern"]]  # type: ignore[attr-defined]
        f["fluctuation_gravity_hz"] = round(float(fp["gravity"]), 4)  # type: ignore[arg-type]
        f["fluctuation_strength"] = round(float(fp["strength"]), 5)  # type: ignore[arg-type]
        f["spectral_flux"] = round(float(onset.mean()) if onset.size else 0.0, 4)
        tot = float(mono.sum())
        f["hf_ratio"] = round(
            float(np.clip(1.0 - low.sum() / tot, 0.0, 1.0)) if tot > 1e-12 else 0.0, 4
        )
        self._flush_hf()
        hf = self.hf_sum / max(self.n_hf, 1)
        f["hf_profile_db"] = [round(float(max(10 * np.log10(v + 1e-10), -100.0)), 2) for v in hf]
        f["zcr"] = round(self.zc / max(self.n_low, 1), 5)
        band_env = np.concatenate(self.band_env) if self.band_env else np.zeros(0)
        f["speech_modulation"] = round(rhythm.modulation_ratio(band_env, FPS), 4)
        nm = max(self.n_mfcc, 1)
        # MFCC: natural-log mel energies → DCT ([dB] * ln(10) / 10 = [neper])
        dct = self.dct_db.astype(np.float64)
        mm = dct.T @ (self.mel_sum / nm)
        # diag(Dᵀ G D) as one product and a column sum (a three-operand einsum costs ~20 µs)
        msq = ((self.mel_gram / nm) @ dct * dct).sum(axis=0)
        ms = np.sqrt(np.maximum(msq - mm * mm, 0.0))
        f["mfcc_mean"] = [round(float(v), 4) for v in mm]
        f["mfcc_std"] = [round(float(v), 4) for v in ms]
        # single-Gaussian timbre model (Mandel & Ellis 2005): the MFCC covariance Dᵀ Cov(mel) D
        cov = dct.T @ (self.mel_gram / nm) @ dct - np.outer(mm, mm)
        f["mfcc_corr"] = [round(v, 4) for v in texture.mfcc_correlations(cov)]
        return f


def _finite(features: dict[str, Any]) -> dict[str, Any]:
    """Replace any non-finite float (defensive: never return NaN) by 0."""
    out: dict[str, Any] = {}
    for k, v in features.items():
        if isinstance(v, float) and not math.isfinite(v):
            logger.warning("non-finite feature %s replaced by 0", k)
            v = 0.0
        elif isinstance(v, list):
            v = [0.0 if isinstance(x, float) and not math.isfinite(x) else x for x in v]
        out[k] = v
    return out


def analyze_file(
    path: str | Path, *, max_duration_s: float | None = 1800.0, tags: Any = None
) -> Analysis:
    """Decode ``path`` once (streamed) and compute every descriptor and score.

    Parameters
    ----------
    path : audio file (MP3, FLAC, Ogg Vorbis, Opus, M4A/AAC, WAV, AIFF, … anything FFmpeg reads)
    max_duration_s : s, analyse at most this much audio (``None``: all); ``truncated`` records it
    tags : a ``sonicmap.library.tags.Tags`` whose ``descriptors`` are merged (see
        :func:`sonicmap.analysis.merge.merge_tag_descriptors` for the precedence); ``None`` reads
        them from the file when ``sonicmap.library.tags`` is available.

    Raises
    ------
    DecodeError : not audio, empty, unreadable or undecodable.
    AnalysisError : decoded but shorter than 0.5 s.
    """
    if max_duration_s is not None and not max_duration_s > 0:
        raise AnalysisError(f"max_duration_s must be > 0 or None, got {max_duration_s!r}")
    _steady_malloc()
    with _single_threaded_blas():
        return _analyze(Path(path), max_duration_s, tags)


MALLOC_MMAP_THRESHOLD = 4 << 20
"""Bytes: blocks at least this large are mmapped by glibc (and unmapped at once when freed)."""
MALLOC_TRIM_THRESHOLD = 8 << 20
"""Bytes: glibc returns free memory at the top of the heap to the kernel above this much."""


@functools.cache
def _steady_malloc() -> bool:
    """Fix glibc's mmap and trim thresholds (once per process; False where that is not glibc).

    An analysis allocates a few short-lived arrays of 0.1–1 MB per 8 s chunk (FFT outputs). By
    default glibc adjusts its thresholds to the blocks freed so far, so whether such an array
    comes from already-mapped heap or from fresh pages depends on what the process did before:
    in the bad case every chunk maps, faults in and unmaps ~1 MB again (~2,000 page faults and
    ~4 % of the CPU time per 3 minutes of audio, ``bench/analysis.py``). Fixed thresholds (4 MB,
    8 MB: values glibc's own adjustment can reach) keep them in the heap; bigger blocks are still
    mapped and returned to the kernel at once.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    ok = mallopt(m_mmap_threshold, MALLOC_MMAP_THRESHOLD) == 1
    return bool(mallopt(m_trim_threshold, MALLOC_TRIM_THRESHOLD) == 1) and ok


@functools.cache
def _blas_controller() -> Any:
    """threadpoolctl's controller (it inspects the loaded libraries once), None without it."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return None
    return ThreadpoolController()


def _single_threaded_blas() -> Any:
    """Cap BLAS at one thread: our matrices are small, and idle BLAS threads spinning between
    calls cost more CPU than they save (the scan already runs one analysis per core)."""
    ctl = _blas_controller()
    if ctl is None:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return ctl.limit(limits=1, user_api="blas")


def _analyze(p: Path, max_duration_s: float | None, tags: Any) -> Analysis:
    infos: list[StreamInfo] = []
    acc: _Accumulator | None = None
    n_native = 0
    stats = DecodeStats()
    for block in iter_blocks(p, max_duration_s=max_duration_s, info_out=infos, stats=stats):
        if acc is None:
            cap = max_duration_s if max_duration_s is not None else 1800.0
            acc = _Accumulator(max_frames=int(cap * FPS) + 2)
        acc.feed(block.powers, block.mono_powers, block.mono)
        acc.feed_hf(block.hf, infos[0].sample_rate)
        n_native += block.n_native
    info = infos[0]
    assert acc is not None
    analysed = n_native / info.sample_rate
    if analysed < MIN_DURATION_S:
        raise AnalysisError(
            f"{p}: only {analysed:.3f} s of audio decoded; at least {MIN_DURATION_S} s are needed"
        )
    truncated = stats.truncated
    # when truncated, the container's duration (a lower bound: the analysed length if unknown)
    duration = max(analysed, float(info.duration_s or 0.0)) if truncated else analysed
    features = acc.finish(info.sample_rate)
    features = {
        "duration_s": round(duration, 3),
        "analysed_s": round(analysed, 3),
        "truncated": bool(truncated),
        **features,
    }
    features.update(compute_scores(features))
    sources = {k: "signal" for k in features}
    features = _finite(features)
    if tags is None:
        tags = read_tags_safely(p)
    if tags is not None:
        from sonicmap.analysis.merge import merge_tag_descriptors

        merge_tag_descriptors(features, sources, getattr(tags, "descriptors", None) or {})
    logger.debug(
        "analysed path=%s duration=%.1f bpm=%s key=%s %s",
        p,
        duration,
        features["bpm"],
        features["key"],
        features["mode"],
    )
    return Analysis(
        features=features,
        sources=sources,
        duration_s=duration,
        analysed_s=round(analysed, 3),
        truncated=bool(truncated),
        info={
            "sample_rate": info.sample_rate,
            "channels": info.channels,
            "codec": info.codec,
            "skipped_packets": stats.skipped_packets,
        },
    )


def read_tags_safely(path: str | Path) -> Any:
    """``sonicmap.library.tags.read_tags(path)``, or ``None`` when unreadable."""
    from sonicmap.library.tags import read_tags

    try:
        return read_tags(path)
    except TagError as exc:
        logger.info("tags unreadable path=%s: %s", path, exc)
        return None
    except DecodeError:
        return None
