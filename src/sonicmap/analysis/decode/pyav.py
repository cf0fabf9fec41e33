"""The PyAV (FFmpeg) back-end of the decoder: any container and codec FFmpeg knows."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from sonicmap.analysis.decode.base import Block, Request, StreamInfo, check_file
from sonicmap.analysis.decode.emit import Emitter
from sonicmap.errors import DecodeError

logger = logging.getLogger(__name__)

_MAX_FRAME_ERRORS = 50


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


def open_container(path: str | Path) -> av.container.InputContainer:
    p = Path(path)
    check_file(p)
    try:
        # tags are not read here (sonicmap.library.tags does): a tag that is not UTF-8 (Latin-1
        # Vorbis comments in older rips) must not make the audio undecodable
        return av.open(str(p), mode="r", metadata_errors="replace")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise DecodeError(f"{p}: not a decodable audio file ({reason})") from None


def stream_info(container: av.container.InputContainer, path: str | Path) -> StreamInfo:
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


def pyav_blocks(req: Request, box: list[StreamInfo]) -> Iterator[Block]:
    """PyAV (FFmpeg): any container and codec FFmpeg knows; the stream's description is
    appended to ``box`` before the first block."""
    container = open_container(req.path)
    try:
        info = stream_info(container, req.path)
        box.append(info)
        yield from _decode(container, info, req)
    finally:
        container.close()


def _decode(
    container: av.container.InputContainer,
    info: StreamInfo,
    req: Request,
) -> Iterator[Block]:
    sr, ch = info.sample_rate, info.channels
    stream = container.streams.audio[0]
    lw, mw = _channel_weights(stream.layout, ch)
    emit = Emitter(sr, ch, lw, mw)
    path, stats = req.path, req.stats
    block_len = req.block_s * sr
    limit = req.limit(sr)

    # frames are copied at once into a block buffer (holding on to decoded frames costs more:
    # the decoder then cannot recycle its buffers); one block is emitted when it is full.
    # Planar float frames (what the MP3, Vorbis, AAC and Opus decoders give) are copied plane by
    # plane through byte memoryviews: cheaper than numpy views per frame (~1 µs per frame).
    buf = np.empty((ch, block_len + 65536), np.float32)  # only filled samples are ever read
    rows = [r.data.cast("B") for r in buf]  # (rows are contiguous)
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
                rows = [r.data.cast("B") for r in buf]
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
    if fill or not emit.factor:
        yield emit(buf[:, :fill], True)
