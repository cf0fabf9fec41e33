"""Precedence of tag-supplied descriptors over measured ones, and provenance in ``sources``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tests.unit.analysis.conftest import click_track

from sonicmap.analysis import analyze_file
from sonicmap.analysis.merge import merge_tag_descriptors


@dataclass
class TV:
    value: object
    tag: str


def _base(**over):
    f = {
        "bpm": 128.0,
        "bpm_confidence": 0.8,
        "key": "A",
        "key_index": 9,
        "mode": "minor",
        "key_strength": 0.8,
        "mood_happy": 0.3,
        "danceability": 0.4,
    }
    f.update(over)
    return f, {k: "signal" for k in f}


def test_confident_bpm_wins_over_a_different_tag():
    f, s = _base()
    merge_tag_descriptors(f, s, {"bpm": TV(100.0, "bpm")})
    assert f["bpm"] == 128.0 and s["bpm"] == "signal"


def test_tag_settles_the_octave_of_a_confident_bpm():
    f, s = _base()
    merge_tag_descriptors(f, s, {"bpm": TV(64.0, "bpm")})
    assert f["bpm"] == 64.0 and s["bpm"] == "tag:bpm"


def test_unconfident_bpm_and_key_take_the_tag():
    f, s = _base(bpm_confidence=0.1, key_strength=0.2)
    merge_tag_descriptors(
        f,
        s,
        {
            "bpm": TV(97.0, "ab:lo:rhythm:bpm"),
            "key": TV("F#", "initialkey"),
            "key_index": TV(6, "initialkey"),
            "mode": TV("major", "initialkey"),
        },
    )
    assert f["bpm"] == 97.0 and s["bpm"] == "tag:ab:lo:rhythm:bpm"
    assert (f["key"], f["key_index"], f["mode"]) == ("F#", 6, "major")
    assert s["key"] == s["mode"] == "tag:initialkey"


def test_confident_key_keeps_the_signal():
    f, s = _base()
    merge_tag_descriptors(
        f, s, {"key": TV("C", "TKEY"), "key_index": TV(0, "TKEY"), "mode": TV("major", "TKEY")}
    )
    assert f["key"] == "A" and s["key"] == "signal"


def test_acousticbrainz_probabilities_replace_scores_and_add_new_ones():
    f, s = _base()
    merge_tag_descriptors(
        f,
        s,
        {
            "mood_happy": TV(0.91, "ab:hi:mood_happy:happy"),
            "mood_sad": TV(0.2, "ab:hi:mood_sad:sad"),
        },
    )
    assert f["mood_happy"] == 0.91 and s["mood_happy"] == "tag:ab:hi:mood_happy:happy"
    assert f["mood_sad"] == 0.2 and s["mood_sad"] == "tag:ab:hi:mood_sad:sad"
    assert s["danceability"] == "signal"


def test_analyze_file_reads_tags_from_the_file(tmp_path):
    from sonicmap.synth import write_audio

    y = click_track(120, 6, 44100)
    p = write_audio(
        tmp_path / "t.flac",
        np.stack([y, y]),
        44100,
        tags={"ab:hi:mood_party:party": "0.77", "bpm": "60"},
    )
    a = analyze_file(p)  # tags=None → read from the file
    assert (
        a.features["mood_party"] == 0.77 and a.sources["mood_party"] == "tag:ab:hi:mood_party:party"
    )
    assert a.features["bpm"] == 60.0 and a.sources["bpm"].startswith("tag:")
