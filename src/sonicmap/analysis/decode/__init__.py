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

import logging
from collections.abc import Iterator
from pathlib import Path

from sonicmap.analysis.decode.base import (
    ANALYSIS_HOP,
    ANALYSIS_SR,
    BLOCK_S,
    HF_EDGES_HZ,
    HF_EVERY_S,
    HF_N,
    SEGMENT_S,
    Block,
    DecodeStats,
    Request,
    StreamInfo,
    check_file,
)
from sonicmap.analysis.decode.dsp import hf_band_shares, lowpass_fir, scratch
from sonicmap.analysis.decode.pyav import open_container, pyav_blocks, stream_info
from sonicmap.analysis.decode.sndfile import sndfile_blocks
from sonicmap.errors import DecodeError

__all__ = [
    "ANALYSIS_HOP",
    "ANALYSIS_SR",
    "BLOCK_S",
    "HF_EDGES_HZ",
    "HF_EVERY_S",
    "HF_N",
    "SEGMENT_S",
    "Block",
    "DecodeStats",
    "StreamInfo",
    "hf_band_shares",
    "iter_blocks",
    "lowpass_fir",
    "probe",
    "scratch",
]

logger = logging.getLogger(__name__)

_SNDFILE_SUFFIXES = frozenset({".mp3", ".wav", ".wave", ".aif", ".aiff", ".aifc"})
"""Files tried with libsndfile first (by name; libsndfile then checks the content)."""


def probe(path: str | Path) -> StreamInfo:
    """Open ``path`` and describe its first audio stream; raises :class:`DecodeError`."""
    with open_container(path) as container:
        return stream_info(container, path)


def iter_blocks(
    path: str | Path,
    *,
    max_duration_s: float | None = None,
    info_out: list[StreamInfo] | None = None,
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
    check_file(p)
    stats = stats or DecodeStats()
    sndfile_first = p.suffix.lower() in _SNDFILE_SUFFIXES
    order = [("libsndfile", sndfile_blocks), ("PyAV", pyav_blocks)]
    if not sndfile_first:
        order.reverse()
    refusals: list[str] = []
    for attempt, (name, decoder) in enumerate(order):
        box: list[StreamInfo] = []
        req = Request(p, max_duration_s, BLOCK_S, stats, fallback=attempt > 0)
        blocks = decoder(req, box)
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
