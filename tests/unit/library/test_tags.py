"""Tags: write then read back on every format; descriptor tags; bad values and bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TBPM, TKEY, TPE1, TXXX, UFID
from mutagen.mp4 import MP4, MP4FreeForm

from sonicmap.errors import TagError
from sonicmap.library.tags import read_tags, write_tags
from sonicmap.synth import write_audio

FORMATS = ["mp3", "flac", "ogg", "opus", "m4a", "wav", "aiff", "wma"]
MBID_ARTIST = "0383dadf-2a4e-4d10-a46a-e9e041da8eb3"
MBID_ARTIST2 = "b10bbbfc-cf9e-42e0-be17-e2c3e1d2600d"
MBID_ALBUM = "f5093c06-23e3-404f-aeaa-40f72885ee3a"
MBID_TRACK = "2b8a6a5b-7fe0-4c2e-9bd5-8e9f1f0f4a11"
MBID_AA = "89ad4ac3-39f7-470e-963a-56509c546377"


@pytest.fixture(scope="module")
def blanks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One untagged 1-second file per format."""
    d = tmp_path_factory.mktemp("blank")
    t = np.arange(44100, dtype=np.float32) / 44100
    y = 0.3 * np.sin(2 * np.pi * 440 * t)
    return {ext: write_audio(d / f"blank.{ext}", y, 44100) for ext in FORMATS}


@pytest.fixture
def copy(blanks: dict[str, Path], tmp_path: Path):
    def make(ext: str, name: str = "x") -> Path:
        p = tmp_path / f"{name}.{ext}"
        shutil.copyfile(blanks[ext], p)
        return p

    return make


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_every_field(ext: str, copy) -> None:
    p = copy(ext, "Tëst ünïcode 東京")
    write_tags(
        p,
        title="Café del Mar — 夜",
        artist=["Sigur Rós", "Björk"],
        artists=["Sigur Rós", "Björk"],
        album_artist="Sigur Rós",
        album="Ágætis byrjun",
        genres=["Post-Rock", "Ambient"],
        date="1999-06-12",
        track_no=3,
        track_total=12,
        disc_no=1,
        disc_total=2,
        bpm="128",
        key="F#m",
        musicbrainz_trackid=MBID_TRACK,
        musicbrainz_artistid=[MBID_ARTIST, MBID_ARTIST2],
        musicbrainz_albumartistid=MBID_AA,
        musicbrainz_albumid=MBID_ALBUM,
        **{
            "ab:lo:rhythm:bpm": "127.3",
            "ab:lo:tonal:key_key": "A",
            "ab:lo:tonal:key_scale": "major",
            "ab:hi:mood_happy:happy": "0.81",
            "ab:hi:danceability:danceable": "0.6",
            "ab:hi:danceability:not_danceable": "0.4",
            "ab:hi:mood_sad:not_sad": "0.25",
            "ab:hi:voice_instrumental:instrumental": "0.9",
            "ab:hi:genre_rosamerica:roc": "0.7",
        },
    )
    t = read_tags(p)
    assert t.title == "Café del Mar — 夜"
    assert t.artists == ["Sigur Rós", "Björk"]
    assert "Sigur Rós" in (t.artist or "")
    assert t.album_artist == "Sigur Rós"
    assert t.album == "Ágætis byrjun"
    assert t.genres == ["Post-Rock", "Ambient"]
    assert t.date is not None and t.date.startswith("1999")
    assert t.year == 1999
    assert (t.track_no, t.track_total, t.disc_no, t.disc_total) == (3, 12, 1, 2)
    assert t.duration_s == pytest.approx(1.0, abs=0.06)
    assert t.musicbrainz_trackid == MBID_TRACK
    assert t.musicbrainz_artistid == MBID_ARTIST
    assert t.musicbrainz_artistids == [MBID_ARTIST, MBID_ARTIST2]
    assert t.musicbrainz_albumartistid == MBID_AA
    assert t.musicbrainz_albumid == MBID_ALBUM
    d = t.descriptor_values()
    # the standard BPM and key tags win over AcousticBrainz
    assert d["bpm"] == 128.0
    assert (d["key"], d["key_index"], d["mode"]) == ("F#", 6, "minor")
    assert t.descriptors["key"].tag == "initialkey"
    assert t.descriptors["bpm"].tag == "bpm"
    assert d["mood_happy"] == pytest.approx(0.81)
    assert d["danceability"] == pytest.approx(0.6)
    assert t.descriptors["danceability"].source == "tag:ab:hi:danceability:danceable"
    # only the negative class: its complement, with the negative tag as source
    assert d["mood_sad"] == pytest.approx(0.75)
    assert t.descriptors["mood_sad"].tag == "ab:hi:mood_sad:not_sad"
    assert d["instrumentalness"] == pytest.approx(0.9)
    assert t.ab_classes["genre_rosamerica"]["roc"] == pytest.approx(0.7)
    assert "genre_rosamerica" not in d


@pytest.mark.parametrize("ext", FORMATS)
def test_acousticbrainz_only_and_removal(ext: str, copy) -> None:
    p = copy(ext)
    write_tags(
        p,
        title="x",
        **{
            "ab:lo:rhythm:bpm": "92.5",
            "ab:lo:tonal:key_key": "Bb",
            "ab:lo:tonal:key_scale": "minor",
            "ab:hi:mood_relaxed:not_relaxed": "0.1",
        },
    )
    t = read_tags(p)
    assert t.descriptors["bpm"].value == 92.5 and t.descriptors["bpm"].tag == "ab:lo:rhythm:bpm"
    assert (t.descriptors["key"].value, t.descriptors["mode"].value) == ("A#", "minor")
    assert t.descriptors["mode"].source == "tag:ab:lo:tonal:key_scale"
    assert t.descriptors["mood_relaxed"].value == pytest.approx(0.9)
    write_tags(p, title=None, **{"ab:lo:rhythm:bpm": None})
    t = read_tags(p)
    assert t.title is None
    assert "bpm" not in t.descriptors
    assert "key" in t.descriptors  # untouched fields stay


@pytest.mark.parametrize("ext", ["mp3", "flac", "m4a"])
def test_garbage_values_are_ignored_not_fatal(ext: str, copy) -> None:
    p = copy(ext)
    write_tags(
        p,
        bpm="fast",
        key="somewhere",
        date="unknown",
        **{"ab:hi:mood_happy:happy": "1.7", "ab:hi:mood_party:party": "0,87", "ab:hi:x": "0.5"},
    )
    t = read_tags(p)
    assert "bpm" not in t.descriptors and "key" not in t.descriptors
    assert "mood_happy" not in t.descriptors
    assert t.descriptors["mood_party"].value == pytest.approx(0.87)
    assert t.year is None
    if ext == "m4a":
        with pytest.raises(TagError, match="whole numbers"):
            write_tags(p, track_no="x")
    else:
        write_tags(p, track_no="x/y")
        assert read_tags(p).track_no is None


@pytest.mark.parametrize("ext", ["mp3", "ogg"])
def test_artist_and_genre_splitting_is_conservative(ext: str, copy) -> None:
    cases = [
        ("Simon & Garfunkel", ["Simon & Garfunkel"]),
        ("AC/DC", ["AC/DC"]),
        ("Earth, Wind & Fire", ["Earth, Wind & Fire"]),
        ("Daft Punk feat. Pharrell Williams", ["Daft Punk", "Pharrell Williams"]),
        ("Alpha; Beta", ["Alpha", "Beta"]),
    ]
    for text, expected in cases:
        p = copy(ext, "split")
        write_tags(p, artist=text, genre="Rock/Pop; Jazz")
        t = read_tags(p)
        assert t.artists == expected, text
        assert t.artist == text
        assert t.genres == ["Rock", "Pop", "Jazz"]


def test_reads_what_picard_writes_on_id3(copy) -> None:
    p = copy("mp3")
    tags = ID3()
    tags.add(TPE1(encoding=3, text=["Artist"]))
    tags.add(TXXX(encoding=3, desc="MusicBrainz Artist Id", text=[MBID_ARTIST]))
    tags.add(TXXX(encoding=3, desc="MusicBrainz Album Id", text=[MBID_ALBUM]))
    tags.add(UFID(owner="http://musicbrainz.org", data=MBID_TRACK.encode()))
    tags.add(TXXX(encoding=3, desc="AB:HI:MOOD_AGGRESSIVE:AGGRESSIVE", text=["0.33"]))
    tags.add(TBPM(encoding=3, text=["174"]))
    tags.add(TKEY(encoding=3, text=["8A"]))
    tags.save(p)
    t = read_tags(p)
    assert t.musicbrainz_artistid == MBID_ARTIST and t.musicbrainz_albumid == MBID_ALBUM
    assert t.musicbrainz_trackid == MBID_TRACK
    assert t.descriptors["mood_aggressive"].value == pytest.approx(0.33)
    assert t.descriptors["bpm"].value == 174.0
    assert (t.descriptors["key"].value, t.descriptors["mode"].value) == ("A", "minor")


def test_reads_mp4_freeform_and_tmpo(copy) -> None:
    p = copy("m4a")
    f = MP4(p)
    f["tmpo"] = [98]
    f["----:com.apple.iTunes:initialkey"] = [MP4FreeForm(b"1d")]
    f["----:com.apple.iTunes:MusicBrainz Album Artist Id"] = [MP4FreeForm(MBID_AA.encode())]
    f["----:com.apple.iTunes:ab:hi:mood_party:party"] = [MP4FreeForm(b"0.42")]
    f.save()
    t = read_tags(p)
    assert t.descriptors["bpm"].value == 98.0
    assert (t.descriptors["key"].value, t.descriptors["mode"].value) == ("C", "major")
    assert t.musicbrainz_albumartistid == MBID_AA
    assert t.descriptors["mood_party"].value == pytest.approx(0.42)


def test_vorbis_names_are_case_insensitive(copy) -> None:
    p = copy("flac")
    f = FLAC(p)
    f["Artist"] = ["One", "Two"]
    f["MusicBrainz_ArtistId"] = [MBID_ARTIST]
    f["Ab:Hi:Mood_Happy:Happy"] = ["0.5"]
    f["KEY"] = ["Gb"]
    f["TRACKNUMBER"] = ["4"]
    f["TOTALTRACKS"] = ["9"]
    f.save()
    t = read_tags(p)
    assert t.artists == ["One", "Two"]
    assert t.musicbrainz_artistid == MBID_ARTIST
    assert t.descriptors["mood_happy"].value == 0.5
    assert (t.descriptors["key"].value, t.descriptors["mode"].value) == ("F#", "major")
    assert (t.track_no, t.track_total) == (4, 9)


@pytest.mark.parametrize("ext", FORMATS)
def test_untagged_file_gives_empty_tags_with_duration(ext: str, blanks: dict[str, Path]) -> None:
    t = read_tags(blanks[ext])
    assert t.title is None and t.artists == [] and t.genres == [] and t.descriptors == {}
    assert t.duration_s == pytest.approx(1.0, abs=0.06)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.mp3", b""),
        ("text.mp3", b"this is not audio at all\n" * 20),
        ("random.flac", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))),
        ("random.m4a", bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8))),
    ],
)
def test_bad_files_raise_tag_error_naming_the_path(
    tmp_path: Path, name: str, content: bytes
) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(TagError, match="cannot read tags of .*" + name.split(".")[0]):
        read_tags(p)


def test_missing_file_raises_tag_error(tmp_path: Path) -> None:
    with pytest.raises(TagError, match="nope.ogg"):
        read_tags(tmp_path / "nope.ogg")
    with pytest.raises(TagError, match="nope.ogg"):
        write_tags(tmp_path / "nope.ogg", title="x")


def test_truncated_file_does_not_crash(copy) -> None:
    p = copy("flac")
    data = p.read_bytes()
    p.write_bytes(data[:200])
    try:
        t = read_tags(p)
    except TagError as exc:
        assert str(p.name) in str(exc)
    else:
        assert t.title is None


def test_isrc_from_id3_tsrc_vorbis_and_mp4(copy) -> None:
    from mutagen.id3 import TSRC

    p = copy("mp3")
    tags = ID3()
    tags.add(TSRC(encoding=3, text=["GBAYE0601498"]))
    tags.save(p)
    assert read_tags(p).isrc == "GBAYE0601498"
    f = copy("flac")
    flac = FLAC(f)
    flac["ISRC"] = ["USRC17607839"]
    flac.save()
    assert read_tags(f).isrc == "USRC17607839"
    m = copy("m4a")
    mp4 = MP4(m)
    mp4["----:com.apple.iTunes:ISRC"] = [MP4FreeForm(b"FRZ039800212")]
    mp4.save()
    assert read_tags(m).isrc == "FRZ039800212"
    assert read_tags(copy("ogg", "plain")).isrc is None
