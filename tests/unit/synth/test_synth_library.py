"""generate_library: layout, tags and ground truth of a small generated library."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sonicmap.errors import SonicmapError
from sonicmap.library.tags import read_tags
from sonicmap.synth import generate_library


def test_layout_tags_and_ground_truth(tmp_path: Path) -> None:
    tracks = generate_library(
        tmp_path,
        n_artists=3,
        tracks_per_artist=3,
        formats=("mp3", "flac", "ogg", "m4a"),
        duration_s=1.0,
        sr=22050,
        albums_per_artist=2,
        various_artists=True,
        descriptor_tags=True,
        musicbrainz_ids=True,
        seed=4,
    )
    assert len(tracks) == 3 * 3 + 3
    assert len({t.path for t in tracks}) == len(tracks)
    assert {t.format for t in tracks} == {"mp3", "flac", "ogg", "m4a"}
    for t in tracks:
        assert t.path.is_file()
        rel = t.path.relative_to(tmp_path)
        assert len(rel.parts) == 3 and rel.parts[-1].startswith(f"{t.track_no:02d} ")
        tags = read_tags(t.path)
        assert tags.title == t.title
        assert tags.artists == [t.artist]
        assert tags.album == t.album and tags.album_artist == t.album_artist
        assert tags.genres == [t.genre]
        assert tags.year == t.year and tags.track_no == t.track_no and tags.disc_no == 1
        assert tags.musicbrainz_artistid == t.musicbrainz_artistid
        assert tags.duration_s == pytest.approx(1.0, abs=0.1)  # MP3/AAC headers count padding
        d = tags.descriptor_values()
        assert (d["key_index"], d["mode"]) == (t.key, t.mode)
        assert d["bpm"] == pytest.approx(t.bpm, abs=0.5)  # MP4 stores whole BPM
        assert abs(t.bpm / t.style.bpm - 1) < 1e-9
    by_artist: dict[str, list] = {}
    for t in tracks:
        by_artist.setdefault(t.artist, []).append(t)
    for ts in by_artist.values():
        # one style per artist: same key/mode/timbre, tempo within +-2 %
        assert len({(t.key, t.mode, t.style.timbre, t.genre) for t in ts}) == 1
        bpms = [t.bpm for t in ts]
        assert max(bpms) / min(bpms) < 1.0406
        assert len({t.seed for t in ts}) == len(ts)
    va = [t for t in tracks if t.album_artist == "Various Artists"]
    assert len(va) == 3 and len({t.artist for t in va}) == 3
    truth = json.loads(json.dumps([t.to_dict() for t in tracks]))
    assert truth[0]["style"]["bpm"] == tracks[0].bpm and truth[0]["path"] == str(tracks[0].path)
    assert all(t.path.relative_to(tmp_path).parts[0] == "Various Artists" for t in va)
    assert len({t.album for t in tracks if t.album_artist != "Various Artists"}) == 6


def test_same_seed_same_library(tmp_path: Path) -> None:
    kw = dict(n_artists=2, tracks_per_artist=1, formats=("wav",), duration_s=0.5, sr=22050, seed=9)
    a = generate_library(tmp_path / "a", **kw)
    b = generate_library(tmp_path / "b", **kw)
    assert [t.path.relative_to(tmp_path / "a") for t in a] == [
        t.path.relative_to(tmp_path / "b") for t in b
    ]
    assert all(x.path.read_bytes() == y.path.read_bytes() for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"n_artists": 0}, "n_artists"),
        ({"formats": ("mp3", "xyz")}, "xyz"),
        ({"formats": ()}, "formats"),
    ],
)
def test_bad_arguments(tmp_path: Path, kw: dict, match: str) -> None:
    args = dict(n_artists=1, tracks_per_artist=1, duration_s=0.5) | kw
    with pytest.raises(SonicmapError, match=match):
        generate_library(tmp_path, **args)
