"""What the decoder hands over: the constants of the block contract, the stream description, the
decode statistics and :class:`Block` (see :mod:`sonicmap.analysis.decode`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonicmap.errors import DecodeError

ANALYSIS_SR = 11025
"""Analysis sample rate (Hz) of the mono signal every rhythm/tonal/spectral descriptor uses."""

BLOCK_S = 2
"""Block length (s); a multiple of the 100 ms loudness segment."""

ANALYSIS_HOP = 256
"""Hop (samples at ANALYSIS_SR) of the short analysis STFT; ``analyze`` frames with it."""

SEGMENT_S = 0.1
"""BS.1770 gating step (s): 400 ms blocks with 75 % overlap are sums of four 100 ms segments."""


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


@dataclass(frozen=True)
class Request:
    """One decoding of a file, as :func:`~sonicmap.analysis.decode.iter_blocks` hands it to a
    back-end.

    path : the file; max_duration_s : s, stop after this much audio (``None``: all of it);
    block_s : s per block; stats : filled in while decoding; fallback : the other back-end
    refused the file first (libsndfile then takes any channel count).
    """

    path: Path
    max_duration_s: float | None
    block_s: int
    stats: DecodeStats
    fallback: bool = False

    def limit(self, sr: int) -> int:
        """Native samples to decode at most, at ``sr`` Hz."""
        return sys.maxsize if self.max_duration_s is None else int(self.max_duration_s * sr)


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


def check_file(p: Path) -> None:
    if not p.is_file():
        raise DecodeError(f"{p}: no such file (expected a readable audio file)")
    if p.stat().st_size == 0:
        raise DecodeError(f"{p}: file is empty (0 bytes); expected an audio file")
    try:
        with open(p, "rb"):
            pass
    except OSError as exc:  # no read permission for this user, or an I/O error
        raise DecodeError(f"{p}: cannot read the file ({exc.strerror or exc})") from None
