"""The shared helpers in tests/audio_fixtures.py work as other tests use them."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from audio_fixtures import small_library, write_tone, write_track
from sonicmap.library.tags import read_tags


def test_small_library_has_every_format_and_tags(tmp_path: Path) -> None:
    tracks = small_library(tmp_path, n_artists=2, tracks_per_artist=4, duration_s=0.5)
    assert {t.format for t in tracks} == {"mp3", "flac", "ogg", "opus", "m4a", "wav", "aiff"}
    assert all(read_tags(t.path).artist == t.artist for t in tracks)


def test_write_tone_and_track(tmp_path: Path) -> None:
    tone = write_tone(tmp_path / "a.flac", freq_hz=1000, duration_s=0.5, tags={"title": "tone"})
    track = write_track(tmp_path / "b.ogg", duration_s=0.5, channels=1)
    assert read_tags(tone).title == "tone"
    with av.open(str(track)) as c:
        assert c.streams.audio[0].rate == 44100
    assert read_tags(track).duration_s == pytest.approx(0.5, abs=0.05)
