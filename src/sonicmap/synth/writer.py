"""Encode a float32 signal to an audio file with PyAV, then tag it with mutagen."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from sonicmap.errors import SonicmapError

log = logging.getLogger(__name__)

# extension -> (container format, [encoder names, first available wins], sample format, fixed rate)
_FORMATS: dict[str, tuple[str, tuple[str, ...], str, int | None]] = {
    "wav": ("wav", ("pcm_s16le",), "s16", None),
    "flac": ("flac", ("flac",), "s16", None),
    "mp3": ("mp3", ("libmp3lame",), "fltp", None),
    "ogg": ("ogg", ("libvorbis", "vorbis"), "fltp", None),
    "oga": ("ogg", ("libvorbis", "vorbis"), "fltp", None),
    "opus": ("opus", ("libopus", "opus"), "flt", 48000),
    "m4a": ("ipod", ("aac",), "fltp", None),
    "aiff": ("aiff", ("pcm_s16be",), "s16", None),
    "aif": ("aiff", ("pcm_s16be",), "s16", None),
    "wma": ("asf", ("wmav2",), "fltp", None),
}
WRITABLE_EXTENSIONS: tuple[str, ...] = tuple(_FORMATS)

_DEFAULT_BITRATE = {
    "mp3": 128_000,
    "ogg": 112_000,
    "oga": 112_000,
    "opus": 64_000,
    "m4a": 128_000,
    "wma": 128_000,
}


def _encoder(ext: str) -> str:
    names = _FORMATS[ext][1]
    available = av.codecs_available
    for name in names:
        if name in available:
            try:
                av.Codec(name, "w")
            except Exception:  # decoder only in this build
                continue
            return name
    raise SonicmapError(
        f"cannot write .{ext}: none of the encoders {', '.join(names)} is in this PyAV/FFmpeg build"
    )


def available_formats() -> list[str]:
    """Extensions :func:`write_audio` can write with the installed PyAV (e.g. ``["wav", ...]``)."""
    out = []
    for ext in _FORMATS:
        try:
            _encoder(ext)
        except SonicmapError:
            continue
        out.append(ext)
    return out


def _extension(p: Path) -> str:
    """The format of ``p``: its extension, lower case (SonicmapError if it cannot be written)."""
    ext = p.suffix.lower().lstrip(".")
    if ext not in _FORMATS:
        raise SonicmapError(
            f"cannot write {p.name!r}: unknown extension .{ext} (expected one of {', '.join(_FORMATS)})"
        )
    return ext


def write_audio(
    path: str | os.PathLike[str],
    y: np.ndarray,
    sr: int,
    *,
    tags: Mapping[str, Any] | None = None,
    bitrate: int | None = None,
) -> Path:
    """Encode ``y`` to ``path``; the format comes from the extension.

    Parameters
    ----------
    path : path-like
        Output file; extension one of wav, flac, mp3, ogg/oga (Vorbis), opus (resampled to
        48 kHz), m4a (AAC), aiff/aif, wma (WMA v2 in ASF). Parent folders are created.
    y : np.ndarray [shape=(n,) or (channels, n), float]
        Samples in [-1, 1]; mono or stereo (values outside are clipped). Mono is written as
        stereo to Ogg Vorbis when only FFmpeg's native (stereo-only) Vorbis encoder exists.
    sr : int
        Sample rate of ``y`` in Hz.
    tags : mapping, optional
        Fields for :func:`sonicmap.library.tags.write_tags` (title, artist, album, ...).
    bitrate : int, optional
        Bit rate in bit/s of lossy formats (default 128 kb/s MP3/AAC/WMA, 112 kb/s Vorbis,
        64 kb/s Opus).

    Returns
    -------
    Path of the written file.
    """
    p = Path(path)
    ext = _extension(p)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2 or y.shape[0] not in (1, 2):
        raise SonicmapError(f"y has shape {y.shape}: expected (n,) or (1|2, n)")
    if y.shape[1] == 0:
        raise SonicmapError("y is empty: expected at least one sample")
    if not np.all(np.isfinite(y)):
        raise SonicmapError("y contains NaN or infinite samples")
    _encode(p, ext, [y], int(sr), y.shape[0], bitrate)
    if tags:
        from sonicmap.library.tags import write_tags

        write_tags(p, **dict(tags))
    return p


def write_audio_stream(
    path: str | os.PathLike[str],
    chunks: Iterable[np.ndarray],
    sr: int,
    *,
    channels: int,
    bitrate: int | None = None,
) -> Path:
    """Encode an iterable of chunks without holding the whole signal (long benchmark tracks).

    chunks : each np.ndarray [shape=(channels, n), float32], samples in [-1, 1] (clipped).
    Same formats, rates and bit rates as :func:`write_audio`; no tags. Mono Vorbis is up-mixed to
    stereo when only FFmpeg's native encoder exists.
    """
    p = Path(path)
    ext = _extension(p)
    if channels not in (1, 2):
        raise SonicmapError(f"channels={channels}: expected 1 or 2")
    shaped = (np.asarray(c, dtype=np.float32).reshape(channels, -1) for c in chunks)
    _encode(p, ext, shaped, int(sr), channels, bitrate)
    return p


def _encode(
    p: Path, ext: str, chunks: Iterable[np.ndarray], sr: int, channels: int, bitrate: int | None
) -> None:
    """Encode chunks [shape=(channels, n), float32] to ``p``, clipped to [-1, 1]; mono is
    up-mixed to stereo for FFmpeg's native Vorbis encoder (it only does stereo).

    Every frame carries its presentation time (``pts`` in samples): without it the encoder's
    packets have no timestamps and the Ogg muxer writes granule positions that count 64 samples
    per packet instead of 1024, so readers that trust them (libsndfile, hence librosa/soundfile)
    stop after a fraction of the file while FFmpeg, which decodes every packet, reads it all.
    """
    container_fmt, _, sample_fmt, fixed_rate = _FORMATS[ext]
    codec = _encoder(ext)
    up = channels == 1 and codec == "vorbis"
    if up:
        channels = 2
    layout = "stereo" if channels == 2 else "mono"
    rate = fixed_rate or sr
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        with av.open(str(p), "w", format=container_fmt) as out:
            stream = out.add_stream(codec, rate=rate, layout=layout)
            stream.format = sample_fmt
            if codec == "vorbis" or codec == "opus":
                stream.codec_context.options = {"strict": "experimental"}
            if ext in _DEFAULT_BITRATE:
                stream.bit_rate = int(bitrate or _DEFAULT_BITRATE[ext])
            resampler = av.AudioResampler(format=sample_fmt, layout=layout, rate=rate)
            block = 8192
            pts = 0
            for y in chunks:
                y = np.clip(y, -1.0, 1.0)
                if up:
                    y = np.repeat(y, 2, axis=0)
                for start in range(0, y.shape[1], block):
                    chunk = np.ascontiguousarray(y[:, start : start + block])
                    frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
                    frame.sample_rate = sr
                    frame.pts = pts
                    frame.time_base = Fraction(1, sr)
                    pts += chunk.shape[1]
                    for rf in resampler.resample(frame):
                        out.mux(stream.encode(rf))
            for rf in resampler.resample(None):
                out.mux(stream.encode(rf))
            out.mux(stream.encode(None))
    except av.FFmpegError as exc:
        raise SonicmapError(f"encoding {p} with {codec} failed: {exc}") from exc
