"""The libsndfile back-end of the decoder (``soundfile``): WAV, AIFF, FLAC, Ogg Vorbis, MP3 (mpg123)
and its other formats, read whole blocks at a time."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Protocol

import numpy as np

from sonicmap.analysis.decode.base import Block, Request, StreamInfo
from sonicmap.analysis.decode.emit import Emitter
from sonicmap.errors import DecodeError

logger = logging.getLogger(__name__)


def _load_soundfile() -> ModuleType | None:
    """The ``soundfile`` module (its wheels bundle libsndfile); None without it."""
    try:
        return importlib.import_module("soundfile")
    except (ImportError, OSError):  # pragma: no cover - a platform without the bundled library
        return None


_sf: ModuleType | None = _load_soundfile()
"""``soundfile``, or None: then every file goes through PyAV."""


class SoundFile(Protocol):
    """What the decoder uses of a ``soundfile.SoundFile`` (``soundfile`` ships no types)."""

    samplerate: int
    channels: int
    frames: int
    subtype: str

    def read(self, frames: int, dtype: str, out: np.ndarray | None = None) -> np.ndarray: ...

    def close(self) -> None: ...

    def __enter__(self) -> SoundFile: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def sndfile_blocks(req: Request, box: list[StreamInfo]) -> Iterator[Block]:
    """libsndfile: WAV, AIFF, FLAC, Ogg Vorbis, MP3 (mpg123) and its other formats (any channel
    count when ``req.fallback``); the stream's description is appended to ``box`` first."""
    f = open_sndfile(req.path, any_layout=req.fallback)
    with f:
        info = StreamInfo(f.samplerate, f.channels, _sndfile_codec(f), _sf_duration(f))
        box.append(info)
        yield from _decode_sndfile(f, info, req)


def open_sndfile(path: str | Path, *, any_layout: bool = False) -> SoundFile:
    """A ``soundfile.SoundFile`` for ``path``; raises :class:`DecodeError` with libsndfile's
    reason when it cannot read the file. Unless ``any_layout`` (PyAV already refused the file),
    more than two channels are refused too: PyAV knows their layout (the LFE)."""
    if _sf is None:
        raise DecodeError(f"{path}: libsndfile is not available on this platform")
    try:
        f: SoundFile = _sf.SoundFile(str(path))
    except (RuntimeError, TypeError, ValueError, OSError) as exc:  # LibsndfileError: RuntimeError
        raise DecodeError(f"{path}: {exc}") from None
    if f.samplerate <= 0 or (f.channels not in (1, 2) and not any_layout):
        layout = f"{f.channels} channels at {f.samplerate} Hz"
        f.close()
        raise DecodeError(f"{path}: {layout}; left to PyAV")
    return f


_SF_CODECS = {"MPEG_LAYER_III": "mp3", "MPEG_LAYER_II": "mp2", "MPEG_LAYER_I": "mp1"}


def _sndfile_codec(f: SoundFile) -> str:
    return _SF_CODECS.get(f.subtype, f.subtype.lower())


def _sf_duration(f: SoundFile) -> float | None:
    frames = f.frames
    return frames / f.samplerate if 0 < frames < 2**62 else None


def _decode_sndfile(
    f: SoundFile,
    info: StreamInfo,
    req: Request,
) -> Iterator[Block]:
    """libsndfile reads whole blocks, interleaved, straight into one reused buffer."""
    sr, ch = info.sample_rate, info.channels
    emit = Emitter(sr, ch, np.ones(ch), np.full(ch, 1.0 / ch))
    path, stats = req.path, req.stats
    block_len = req.block_s * sr
    limit = req.limit(sr)
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
