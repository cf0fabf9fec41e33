"""Streaming decoder: any audio file PyAV can open → blocks at the native rate and at the analysis rate.

Output contract
---------------
:func:`iter_blocks` yields :class:`Block` objects, each covering 2 s of audio (the last one may be
shorter), with

* ``powers`` — per 100 ms segment, the BS.1770 channel-weighted sum of the channels' mean squares
  at the **native** rate (full bandwidth; LFE excluded, surround channels weighted 1.41);
* ``mono_powers`` — per 100 ms segment, the mean square of the native-rate mono mix;
* ``mono`` — the mono mix at :data:`ANALYSIS_SR` (11 025 Hz), float32, band-limited to ~4.4 kHz.

Memory is bounded by the block size whatever the track length. Native rates that are an integer
multiple of 11 025 Hz (11.025, 22.05, 44.1, 88.2, 176.4 kHz) are reduced with a polyphase FIR
(cheap); other rates (8, 16, 32, 48, 96 kHz, Opus) go through libswresample on the mono mix.

Decoders
--------
MP3, WAV and AIFF files with one or two channels are read through libsndfile (``soundfile``;
MP3 via mpg123) straight into the block buffer, interleaved. mpg123 and FFmpeg decode MP3 at about
the same cost; what libsndfile saves is the Python loop over PyAV's ~1,150-sample frames (~5 % of
an analysis), and its PCM reader costs ~0.25× PyAV's frames. Everything else, any file libsndfile
will not open, and files with more than two channels (PyAV knows their layout: the LFE) go through
PyAV (FFmpeg). The two MP3 decoders agree to ~5e-6 per sample and in length (both honour the LAME
gapless header). Each is the other's fallback: a file the first decoder refuses (cannot open, no
audio stream, no audio decoded) is handed to the other (libsndfile then takes any channel count)
before it is called undecodable, and that error names both refusals.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

try:  # libsndfile (wheels bundle it); without it every file goes through PyAV
    import soundfile as _sf
except (ImportError, OSError):  # pragma: no cover - a platform without the bundled library
    _sf = None

from sonicmap.errors import DecodeError

logger = logging.getLogger(__name__)

ANALYSIS_SR = 11025
"""Analysis sample rate (Hz) of the mono signal every rhythm/tonal/spectral descriptor uses."""

BLOCK_S = 2
"""Block length (s); a multiple of the 100 ms loudness segment."""

ANALYSIS_HOP = 256
"""Hop (samples at ANALYSIS_SR) of the short analysis STFT; ``analyze`` frames with it."""

SEGMENT_S = 0.1
"""BS.1770 gating step (s): 400 ms blocks with 75 % overlap are sums of four 100 ms segments."""

_HALF_HALF = np.array([0.5, 0.5], np.float32)
_HALF_HALF.flags.writeable = False
_TWO = np.array([2.0])  # the weight of an interleaved stereo block's flat powers (two channels)
_TWO.flags.writeable = False

_SNDFILE_SUFFIXES = frozenset({".mp3", ".wav", ".wave", ".aif", ".aiff", ".aifc"})
"""Files tried with libsndfile first (by name; libsndfile then checks the content)."""

_DECIM_TAPS_PER_PHASE = 6
_DECIM_CUTOFF_HZ = 4400.0
_MAX_FRAME_ERRORS = 50


@dataclass(frozen=True)
class StreamInfo:
    """What the container says about the audio stream.

    sample_rate : int, Hz (native)
    channels : int
    codec : str
    duration_s : float | None, s (container estimate; ``None`` when unknown)
    """

    sample_rate: int
    channels: int
    codec: str
    duration_s: float | None


@dataclass
class DecodeStats:
    """Filled in while decoding: ``truncated`` (the cap stopped decoding while audio remained),
    ``skipped_packets`` (corrupt packets skipped)."""

    truncated: bool = False
    skipped_packets: int = 0


@dataclass
class Block:
    """One block of decoded audio.

    powers : np.ndarray [shape=(n_seg,), float64] — channel-weighted sum of mean squares per 100 ms
        segment at the native rate (dimensionless, full scale = 1 per channel).
    mono_powers : np.ndarray [shape=(n_seg,), float64] — mean square of the native mono mix.
    mono : np.ndarray [shape=(n,), float32] — mono mix at :data:`ANALYSIS_SR`.
    n_native : int — native samples in this block.
    hf : np.ndarray [shape=(k, HF_N), float32] or None — the native-rate mono frames starting in
        this block (one every :data:`HF_EVERY_S`) for the high-band profile
        (:func:`hf_band_shares`, batched by the caller).
    """

    powers: np.ndarray
    mono_powers: np.ndarray
    mono: np.ndarray
    n_native: int
    hf: np.ndarray | None = None


HF_EVERY_S = 2.0
"""Seconds between the native-rate frames of the high-band profile."""
HF_N = 1024
"""Points of a native-rate frame (Hann window)."""
HF_EDGES_HZ = (5512.5, 8000.0, 11000.0, 13000.0, 15000.0, 16500.0, 18000.0, 19500.0, 21000.0)
"""Edges of the bands of the high-band profile (above the analysis band)."""


@functools.cache
def _hf_tables(sr: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
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

    win, M, _, _ = _hf_tables(sr)
    X = rfft(frames * win, axis=1)
    P = X.real * X.real + X.imag * X.imag
    total = P.sum(axis=1)
    keep = total > 1e-12
    return ((P[keep] @ M) / total[keep, None]).astype(np.float64)


def _channel_weights(layout: av.AudioLayout, n: int) -> tuple[np.ndarray, np.ndarray]:
    """BS.1770 loudness weights and the mono-mix weights of each channel.

    Returns (loudness_w [shape=(n,)], mix_w [shape=(n,), sums to 1]).
    """
    names = [getattr(c, "name", "") for c in getattr(layout, "channels", ())]
    if len(names) != n:
        names = [""] * n
    lw = np.ones(n)
    for i, name in enumerate(names):
        up = name.upper()
        if "LFE" in up:
            lw[i] = 0.0
        elif up in {"BL", "BR", "SL", "SR"}:
            lw[i] = 1.41
    mw = (lw > 0).astype(float)
    if mw.sum() == 0:
        mw[:] = 1.0
    return lw, mw / mw.sum()


def _to_planar_float(frame: av.AudioFrame, channels: int) -> np.ndarray:
    """Frame → float32 [shape=(channels, n)], full scale ±1 (the slow path: planar float frames
    are read directly as views on their planes)."""
    fmt = frame.format
    arr = frame.to_ndarray()
    if not fmt.is_planar:
        arr = arr.reshape(-1, channels).T
    name = fmt.name.rstrip("p")
    if name == "s16":
        return arr.astype(np.float32) * np.float32(1 / 32768)
    if name == "s32":
        return (arr * (1 / 2147483648.0)).astype(np.float32)
    if name == "u8":
        return (arr.astype(np.float32) - 128.0) * np.float32(1 / 128)
    if name == "s64":
        return (arr * (1 / 9223372036854775808.0)).astype(np.float32)
    return arr.astype(np.float32, copy=False)


def lowpass_fir(numtaps: int, cutoff_hz: float, sr: float) -> np.ndarray:
    """Windowed-sinc (Hamming) low-pass FIR, unit DC gain (as ``scipy.signal.firwin``).

    Returns np.ndarray [shape=(numtaps,), float64]."""
    n = np.arange(numtaps) - (numtaps - 1) / 2
    h = np.sinc(2 * cutoff_hz / sr * n) * np.hamming(numtaps)
    return h / h.sum()


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
def _reversed_fir(factor: int, sr: int) -> np.ndarray:
    """The decimation filter, time-reversed [shape=(taps,), float32] (shared, read-only)."""
    h = lowpass_fir(_DECIM_TAPS_PER_PHASE * factor, _DECIM_CUTOFF_HZ, sr).astype(np.float32)
    hr = h[::-1].copy()
    hr.flags.writeable = False
    return hr


class _Decimator:
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
        self._hr = _reversed_fir(factor, sr)
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


class _SwrResampler:
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


def _segment_sums(x: np.ndarray, sr: int, *, weights: np.ndarray | None = None) -> np.ndarray:
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
    return w @ per


def probe(path: str | Path) -> StreamInfo:
    """Open ``path`` and describe its first audio stream; raises :class:`DecodeError`."""
    with _open(path) as container:
        return _info(container, path)


def _check_file(p: Path) -> None:
    if not p.is_file():
        raise DecodeError(f"{p}: no such file (expected a readable audio file)")
    if p.stat().st_size == 0:
        raise DecodeError(f"{p}: file is empty (0 bytes); expected an audio file")
    try:
        with open(p, "rb"):
            pass
    except OSError as exc:  # no read permission for this user, or an I/O error
        raise DecodeError(f"{p}: cannot read the file ({exc.strerror or exc})") from None


def _open(path: str | Path) -> av.container.InputContainer:
    p = Path(path)
    _check_file(p)
    try:
        # tags are not read here (sonicmap.library.tags does): a tag that is not UTF-8 (Latin-1
        # Vorbis comments in older rips) must not make the audio undecodable
        return av.open(str(p), mode="r", metadata_errors="replace")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise DecodeError(f"{p}: not a decodable audio file ({reason})") from None


def _info(container: av.container.InputContainer, path: str | Path) -> StreamInfo:
    if not container.streams.audio:
        raise DecodeError(f"{path}: contains no audio stream (format {container.format.name})")
    s = container.streams.audio[0]
    cc = s.codec_context
    sr = int(cc.sample_rate or s.rate or 0)
    ch = int(cc.channels or 0)
    if sr <= 0 or ch <= 0:
        raise DecodeError(
            f"{path}: audio stream has sample rate {sr} Hz and {ch} channels; expected > 0"
        )
    dur = None
    if s.duration is not None and s.time_base is not None:
        dur = float(s.duration * s.time_base)
    elif container.duration is not None:
        dur = container.duration / 1_000_000
    if dur is not None and (not math.isfinite(dur) or dur < 0):
        dur = None
    return StreamInfo(sr, ch, cc.name, dur)


def iter_blocks(
    path: str | Path,
    *,
    max_duration_s: float | None = None,
    info_out: list | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[Block]:
    """Decode ``path`` in 2 s blocks (see the module docstring).

    The preferred decoder for the file (see "Decoders" above) is tried first; when it refuses the
    file (cannot open it, finds no audio stream, or decodes no audio at all) the other one is
    tried before the file is called undecodable, and the error then names both refusals.

    Parameters
    ----------
    path : file path
    max_duration_s : s, stop after this much audio (``None``: whole file)
    info_out : if given, the :class:`StreamInfo` is appended to it before the first block
    stats : if given, filled in with :class:`DecodeStats`

    Raises
    ------
    DecodeError : the file does not exist or is empty, or neither decoder decodes any audio
        from it (the message names each decoder's reason).
    """
    p = Path(path)
    _check_file(p)
    stats = stats or DecodeStats()
    sndfile_first = p.suffix.lower() in _SNDFILE_SUFFIXES
    order = [("libsndfile", _sndfile_blocks), ("PyAV", _pyav_blocks)]
    if not sndfile_first:
        order.reverse()
    refusals: list[str] = []
    for attempt, (name, decoder) in enumerate(order):
        box: list[StreamInfo] = []
        blocks = decoder(p, max_duration_s, stats, box, fallback=attempt > 0)
        try:
            first = next(blocks)
        except DecodeError as exc:
            refusals.append(f"{name}: {_reason(exc, p)}")
            stats.truncated, stats.skipped_packets = False, 0
            continue
        if attempt:
            logger.info("decoded by the fallback decoder path=%s refused: %s", p, refusals[0])
        if info_out is not None:
            info_out.append(box[0])
        yield first
        yield from blocks
        return
    raise DecodeError(f"{p}: not a decodable audio file ({'; '.join(refusals)})")


def _reason(exc: DecodeError, p: Path) -> str:
    """The message of a decoder's refusal without the path and the "not decodable" wrapper."""
    msg = str(exc).removeprefix(f"{p}: ")
    wrapper = "not a decodable audio file ("
    return msg[len(wrapper) : -1] if msg.startswith(wrapper) and msg.endswith(")") else msg


def _pyav_blocks(
    p: Path, max_duration_s: float | None, stats: DecodeStats, box: list, *, fallback: bool
) -> Iterator[Block]:
    """PyAV (FFmpeg): any container and codec FFmpeg knows."""
    container = _open(p)
    try:
        info = _info(container, p)
        box.append(info)
        yield from _decode(container, info, p, max_duration_s, stats)
    finally:
        container.close()


def _sndfile_blocks(
    p: Path, max_duration_s: float | None, stats: DecodeStats, box: list, *, fallback: bool
) -> Iterator[Block]:
    """libsndfile: WAV, AIFF, FLAC, Ogg Vorbis, MP3 (mpg123) and its other formats."""
    f = _open_sndfile(p, any_layout=fallback)
    with f:
        info = StreamInfo(f.samplerate, f.channels, _sndfile_codec(f), _sf_duration(f))
        box.append(info)
        yield from _decode_sndfile(f, info, p, max_duration_s, stats)


def _open_sndfile(path: Path, *, any_layout: bool = False):
    """A ``soundfile.SoundFile`` for ``path``; raises :class:`DecodeError` with libsndfile's
    reason when it cannot read the file. Unless ``any_layout`` (PyAV already refused the file),
    more than two channels are refused too: PyAV knows their layout (the LFE)."""
    if _sf is None:
        raise DecodeError(f"{path}: libsndfile is not available on this platform")
    try:
        f = _sf.SoundFile(str(path))
    except (RuntimeError, TypeError, ValueError, OSError) as exc:  # LibsndfileError: RuntimeError
        raise DecodeError(f"{path}: {exc}") from None
    if f.samplerate <= 0 or (f.channels not in (1, 2) and not any_layout):
        layout = f"{f.channels} channels at {f.samplerate} Hz"
        f.close()
        raise DecodeError(f"{path}: {layout}; left to PyAV")
    return f


_SF_CODECS = {"MPEG_LAYER_III": "mp3", "MPEG_LAYER_II": "mp2", "MPEG_LAYER_I": "mp1"}


def _sndfile_codec(f) -> str:
    return _SF_CODECS.get(f.subtype, f.subtype.lower())


def _sf_duration(f) -> float | None:
    frames = f.frames
    return frames / f.samplerate if 0 < frames < 2**62 else None


class _Emitter:
    """``emit(x, last) → Block`` for planar float32 x [shape=(ch, n)], with the decimator or
    resampler state carried across calls; ``emit(x, last, interleaved=True)`` takes interleaved
    frames x [shape=(n, ch)] of a mono or stereo file (channel weights 1)."""

    def __init__(self, sr: int, ch: int, lw: np.ndarray, mw: np.ndarray) -> None:
        self.sr, self.ch, self.lw = sr, ch, lw
        self.mw32 = mw.astype(np.float32)
        self.factor = sr // ANALYSIS_SR if sr % ANALYSIS_SR == 0 else 0
        self.low = _Decimator(self.factor, sr) if self.factor else _SwrResampler(sr)
        # interleaved stereo in whole-sample segments: L R L R … is one flat run of samples
        # whose 100 ms dot products are Σ_c Σ x_c² (the channel weights of a stereo file are 1, 1)
        self.flat_powers = ch == 2 and float(sr * SEGMENT_S).is_integer()
        self.pos = 0  # native samples emitted so far
        self.next_hf = 0  # native sample where the next high-band frame starts

    def _powers(self, x: np.ndarray, interleaved: bool) -> np.ndarray:
        if interleaved:
            return _segment_sums(x.reshape(1, -1), 2 * self.sr, weights=_TWO)
        return _segment_sums(x, self.sr, weights=self.lw)

    def __call__(self, x: np.ndarray, last: bool, *, interleaved: bool = False) -> Block:
        """x [shape=(ch, n), float32] (or [shape=(n, ch)] when ``interleaved``) → Block."""
        ch, factor, low = self.ch, self.factor, self.low
        if interleaved and ch == 1:
            x, interleaved = x.reshape(1, -1), False
        elif interleaved and not self.flat_powers:
            x, interleaved = np.ascontiguousarray(x.T), False
        n = x.shape[0] if interleaved else x.shape[1]
        powers = self._powers(x, interleaved)
        # NaN/inf samples (broken float files) show in the powers; only then pay for a full check
        if not np.isfinite(powers).all() or (powers.size == 0 and not np.isfinite(x).all()):
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
            powers = self._powers(x, interleaved)
        # the mix is written straight into the decimator's input (after its history)
        mono = low.input(n) if factor else scratch("mono", (n,))
        if interleaved:  # (L + R) / 2 as one BLAS matrix-vector product (the same floats)
            np.matmul(x, _HALF_HALF, out=mono)
        elif ch == 1:
            mono[:] = x[0]
        elif ch == 2:
            np.add(x[0], x[1], out=mono)
            mono *= np.float32(0.5)
        else:
            np.matmul(self.mw32, x, out=mono)
        mono_powers = _segment_sums(mono[None, :], self.sr)
        hf = self._hf(mono, n)
        if factor:
            y = low.process_input(n - n % factor)
        else:
            y = low.process(mono)
            if last:
                y = np.concatenate([y, low.flush()])
        return Block(powers, mono_powers, y, n, hf)

    def _hf(self, mono: np.ndarray, n: int) -> np.ndarray | None:
        """The native frames starting in this block (one per HF_EVERY_S; a frame that would
        cross the block's end starts at the next block's beginning), None when there is none."""
        _, _, step, offsets = _hf_tables(self.sr)
        first = max(self.next_hf - self.pos, 0)
        self.pos += n
        if first > n - HF_N:
            return None
        starts = range(first, n - HF_N + 1, step)
        self.next_hf = self.pos - n + starts[-1] + step
        if len(starts) == 1:  # (a copy: mono is a reused buffer)
            return mono[first : first + HF_N][None, :].copy()
        return mono[np.asarray(starts)[:, None] + offsets]


def _decode_sndfile(
    f, info: StreamInfo, path, max_duration_s: float | None, stats: DecodeStats
) -> Iterator[Block]:
    """libsndfile reads whole blocks, interleaved, straight into one reused buffer."""
    sr, ch = info.sample_rate, info.channels
    emit = _Emitter(sr, ch, np.ones(ch), np.full(ch, 1.0 / ch))
    block_len = BLOCK_S * sr
    limit = sys.maxsize if max_duration_s is None else int(max_duration_s * sr)
    buf = np.empty((block_len, ch), np.float32)
    total = 0
    while True:
        want = min(block_len, limit - total)
        try:
            x = f.read(want, dtype="float32", out=buf[:want]) if want > 0 else buf[:0]
        except (RuntimeError, ValueError) as exc:  # libsndfile gave up mid-stream
            logger.warning("decode stopped path=%s after %.1f s: %s", path, total / sr, exc)
            stats.skipped_packets += 1
            x = buf[:0]
        n = x.shape[0]
        total += n
        if n == block_len and total < limit:
            yield emit(x, False, interleaved=True)
            continue
        if total >= limit:
            try:
                stats.truncated = f.read(1, dtype="float32").shape[0] > 0
            except (RuntimeError, ValueError):
                stats.truncated = False
        if total == 0:
            raise DecodeError(
                f"{path}: no audio could be decoded (codec {info.codec}); "
                "file truncated or corrupt?"
            )
        if n or not emit.factor:
            yield emit(x, True, interleaved=True)
        return


def _decode(
    container, info: StreamInfo, path, max_duration_s: float | None, stats: DecodeStats
) -> Iterator[Block]:
    sr, ch = info.sample_rate, info.channels
    stream = container.streams.audio[0]
    lw, mw = _channel_weights(stream.layout, ch)
    emit = _Emitter(sr, ch, lw, mw)
    factor = emit.factor
    block_len = BLOCK_S * sr
    limit = sys.maxsize if max_duration_s is None else int(max_duration_s * sr)

    # frames are copied at once into a block buffer (holding on to decoded frames costs more:
    # the decoder then cannot recycle its buffers); one block is emitted when it is full.
    # Planar float frames (what the MP3, Vorbis, AAC and Opus decoders give) are copied plane by
    # plane through byte memoryviews: cheaper than numpy views per frame (~1 µs per frame).
    buf = np.empty((ch, block_len + 65536), np.float32)  # only filled samples are ever read
    rows = [memoryview(r).cast("B") for r in buf]
    r0, r1 = rows[0], rows[-1]
    stereo = ch == 2
    fill = 0
    total = 0
    errors = 0
    done = False
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except (av.error.FFmpegError, ValueError) as exc:
            errors += 1  # a corrupt packet: skip it, keep going (up to a limit)
            if errors > _MAX_FRAME_ERRORS:
                logger.warning("decode stopped path=%s after %d errors: %s", path, errors, exc)
                break
            continue
        for frame in frames:
            n = frame.samples
            if not n:
                continue
            if total + n >= limit:
                stats.truncated = total + n > limit
                n = limit - total
                done = True
            if fill + n > buf.shape[1]:
                buf = np.concatenate([buf, np.empty((ch, fill + n), np.float32)], axis=1)
                rows = [memoryview(r).cast("B") for r in buf]
                r0, r1 = rows[0], rows[-1]
            planes = frame.planes
            if len(planes) == ch and frame.format.name == "fltp":
                a = 4 * fill
                b = a + 4 * n
                if stereo:  # the common case, unrolled (this loop runs ~40 times per second)
                    r0[a:b] = memoryview(planes[0])[: b - a]
                    r1[a:b] = memoryview(planes[1])[: b - a]
                else:
                    for row, plane in zip(rows, planes, strict=True):
                        row[a:b] = memoryview(plane)[: b - a]
            else:
                if len(frame.layout.channels) != ch:
                    raise DecodeError(
                        f"{path}: channel count changes mid-stream ({ch} → "
                        f"{len(frame.layout.channels)}); unsupported"
                    )
                buf[:, fill : fill + n] = _to_planar_float(frame, ch)[:, :n]
            fill += n
            total += n
            if fill >= block_len:
                pos = 0
                while fill - pos >= block_len:
                    yield emit(buf[:, pos : pos + block_len], False)
                    pos += block_len
                buf[:, : fill - pos] = buf[:, pos:fill]
                fill -= pos
            if done:
                break
        if done:
            if not stats.truncated:  # cut exactly at a frame boundary: is there more audio?
                stats.truncated = any(p.size for p in container.demux(stream))
            break
    stats.skipped_packets = errors
    if total == 0:
        raise DecodeError(
            f"{path}: no audio could be decoded (codec {info.codec}); file truncated or corrupt?"
        )
    if fill or not factor:
        yield emit(buf[:, :fill], True)
