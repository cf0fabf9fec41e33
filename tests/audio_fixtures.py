"""Shared helpers for tests that need audio files (import from tests: ``from audio_fixtures import ...``
or ``from tests.audio_fixtures import ...`` depending on the rootdir/import mode).

All helpers are thin wrappers around :mod:`sonicmap.synth`; files are short so suites stay fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sonicmap.synth import GeneratedTrack, Style, generate_library, render, write_audio

FAST_FORMATS: tuple[str, ...] = ("mp3", "flac", "ogg", "opus", "m4a", "wav", "aiff")


def write_tone(
    path: Path,
    *,
    freq_hz: float = 440.0,
    duration_s: float = 2.0,
    sr: int = 44100,
    level_db: float = -20.0,
    channels: int = 1,
    tags: dict | None = None,
) -> Path:
    """Write a sine of ``freq_hz`` at ``level_db`` dBFS RMS (mono or stereo) to ``path``."""
    t = np.arange(int(duration_s * sr), dtype=np.float32) / sr
    y = np.sqrt(2.0) * 10 ** (level_db / 20) * np.sin(2 * np.pi * freq_hz * t).astype(np.float32)
    if channels == 2:
        y = np.stack([y, y])
    return write_audio(path, y, sr, tags=tags)


def write_track(
    path: Path,
    style: Style | None = None,
    *,
    duration_s: float = 5.0,
    sr: int = 44100,
    seed: int = 0,
    channels: int = 2,
    tags: dict | None = None,
) -> Path:
    """Render ``style`` (default :class:`Style()`) and write it to ``path`` (format by extension)."""
    y = render(style or Style(), duration_s=duration_s, sr=sr, seed=seed, channels=channels)
    return write_audio(path, y, sr, tags=tags)


def small_library(
    root: Path,
    *,
    n_artists: int = 4,
    tracks_per_artist: int = 3,
    formats: Sequence[str] = FAST_FORMATS,
    duration_s: float = 3.0,
    seed: int = 0,
    **kwargs,
) -> list[GeneratedTrack]:
    """A small tagged library (defaults: 4 artists x 3 tracks of 3 s in all formats, ~2 s to write).

    Extra keyword arguments go to :func:`sonicmap.synth.generate_library`
    (``albums_per_artist``, ``various_artists``, ``descriptor_tags``, ``musicbrainz_ids``,
    ``sr``, ``channels``, ``styles``).
    """
    return generate_library(
        root,
        n_artists=n_artists,
        tracks_per_artist=tracks_per_artist,
        formats=formats,
        duration_s=duration_s,
        seed=seed,
        **kwargs,
    )
