"""``analyze_file``: one streaming pass over a file → named descriptors, scores and their sources.

The decoder (:mod:`decode`) yields 2 s blocks; an :class:`~sonicmap.analysis.accumulator.Accumulator`
does the per-block work and keeps only small per-frame series and running sums (memory is bounded
by the block, whatever the track length); :func:`~sonicmap.analysis.summary.track_features` turns
them into the track's descriptors at the end (tempo, key, loudness, DFA, …), and
:func:`~sonicmap.analysis.scores.compute_scores` adds the scores.
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

from sonicmap.analysis.accumulator import FPS, Accumulator
from sonicmap.analysis.decode import DecodeStats, StreamInfo, iter_blocks
from sonicmap.analysis.scores import compute_scores
from sonicmap.analysis.summary import track_features
from sonicmap.errors import AnalysisError, DecodeError, TagError

logger = logging.getLogger(__name__)

ANALYSIS_VERSION = 6
"""Bumped on any change of the algorithms or of the feature set."""

MIN_DURATION_S = 0.5


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
    acc: Accumulator | None = None
    n_native = 0
    stats = DecodeStats()
    for block in iter_blocks(p, max_duration_s=max_duration_s, info_out=infos, stats=stats):
        if acc is None:
            cap = max_duration_s if max_duration_s is not None else 1800.0
            acc = Accumulator(max_frames=int(cap * FPS) + 2)
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
    features = track_features(acc, info.sample_rate)
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
