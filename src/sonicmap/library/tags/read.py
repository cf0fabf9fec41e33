"""Read tags with mutagen: MP3/WAV/AIFF (ID3), FLAC/Ogg/Opus (Vorbis comments),
MP4/M4A (iTunes atoms incl. ``----:com.apple.iTunes:`` freeform), WMA (ASF attributes).

Every format is first flattened into ``raw``: lower-case Vorbis-style names (``title``,
``artist``, ``albumartist``, ``musicbrainz_artistid``, ``ab:hi:mood_happy:happy`` ...) mapped to
lists of strings. ID3 ``TXXX`` descriptions and MP4 freeform names are the tag names (Picard's
``MusicBrainz Artist Id`` etc. are mapped to the Vorbis names); Vorbis names are matched
case-insensitively.

Rules
-----
* **Artists**: ``artists`` is the ``ARTISTS`` tag when present, else the artist values. Only
  explicit multi-values are split: several values/frames, NUL-separated ID3 text, and ``"; "``
  (the separator ID3v2.3 writers and Picard use). ``"&"``, ``","``, ``"/"`` and ``" and "`` are
  never split ("Simon & Garfunkel", "AC/DC"). A single artist written ``"A feat. B"`` (also
  ``ft.``, ``featuring``) gives ``artists == ["A", "B"]``; ``artist`` (the display name) keeps the
  text as written.
* **Genres**: all values, split on ``";"`` and ``"/"``, trimmed, duplicates removed (order kept).
* **Track/disc numbers**: ``"3/12"`` gives ``track_no=3, track_total=12``.
* **Descriptors** (feature name -> :class:`TagValue`):

  - ``bpm``: the standard BPM tag (``TBPM``, ``bpm``, MP4 ``tmpo``, ``WM/BeatsPerMinute``) wins
    over AcousticBrainz ``ab:lo:rhythm:bpm`` (a BPM tag is usually set on purpose, by a DJ tool
    or by hand). Valid range 20-400 BPM; ``0`` (unset in many taggers) is ignored.
  - ``key``/``key_index``/``mode``: the standard key tag (``TKEY``, ``initialkey``, ``key``,
    ``WM/InitialKey``) in any notation of :func:`sonicmap.library.keys.parse_key` wins over
    ``ab:lo:tonal:key_key`` + ``ab:lo:tonal:key_scale``.
  - AcousticBrainz high-level values (see :data:`AB_HIGHLEVEL`) are the probability of the
    **positive** class. When only the negative class is present (e.g. ``not_happy``), its
    complement ``1 - p`` is used (a binary classifier's two probabilities sum to 1) and the
    source names the negative tag; when the positive one is present, the negative one is ignored.
    Every ``ab:hi:<classifier>:<class>`` probability is also kept in ``Tags.ab_classes``.

* **Numbers**: ``"123"``, ``"123.0"``, ``" 0.87 "`` parse; a lone decimal comma (``"0,87"``) is read
  as a decimal point; anything else (``"1,234.5"``, ``"fast"``, NaN, out-of-range values) is ignored
  with a debug log. Reading never fails because of a tag value; only an unreadable file raises
  :class:`~sonicmap.errors.TagError`.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mutagen
from mutagen.asf import ASF
from mutagen.id3 import ID3
from mutagen.mp4 import MP4

from sonicmap.errors import TagError
from sonicmap.library.keys import key_name, parse_key

log = logging.getLogger(__name__)

UFID_OWNER = "http://musicbrainz.org"

# Picard's names of TXXX / MP4 freeform / ASF tags -> our Vorbis-style names
_PICARD_NAMES = {
    "musicbrainz artist id": "musicbrainz_artistid",
    "musicbrainz album artist id": "musicbrainz_albumartistid",
    "musicbrainz album id": "musicbrainz_albumid",
    "musicbrainz track id": "musicbrainz_trackid",
    "musicbrainz recording id": "musicbrainz_trackid",
    "musicbrainz release track id": "musicbrainz_releasetrackid",
    "musicbrainz release group id": "musicbrainz_releasegroupid",
    "album artist": "albumartist",
    "album_artist": "albumartist",
    "totaltracks": "tracktotal",
    "totaldiscs": "disctotal",
    "initial key": "initialkey",
    "year": "year",
}
_ID3_FRAMES = {
    "TIT2": "title",
    "TPE1": "artist",
    "TPE2": "albumartist",
    "TALB": "album",
    "TCON": "genre",
    "TDRC": "date",
    "TYER": "date",
    "TDOR": "originaldate",
    "TRCK": "tracknumber",
    "TPOS": "discnumber",
    "TBPM": "bpm",
    "TKEY": "initialkey",
    "TSRC": "isrc",
}
_MP4_ATOMS = {
    "\xa9nam": "title",
    "\xa9ART": "artist",
    "aART": "albumartist",
    "\xa9alb": "album",
    "\xa9gen": "genre",
    "\xa9day": "date",
    "tmpo": "bpm",
}
_ASF_NAMES = {
    "title": "title",
    "author": "artist",
    "wm/albumartist": "albumartist",
    "wm/albumtitle": "album",
    "wm/genre": "genre",
    "wm/year": "date",
    "wm/tracknumber": "tracknumber",
    "wm/partofset": "discnumber",
    "wm/beatsperminute": "bpm",
    "wm/initialkey": "initialkey",
    "wm/artists": "artists",
    "musicbrainz/artist id": "musicbrainz_artistid",
    "musicbrainz/album artist id": "musicbrainz_albumartistid",
    "musicbrainz/album id": "musicbrainz_albumid",
    "musicbrainz/track id": "musicbrainz_trackid",
    "musicbrainz/release track id": "musicbrainz_releasetrackid",
}

# AcousticBrainz high-level classifier -> (positive class, negative class, our feature name)
AB_HIGHLEVEL: dict[str, tuple[str, str, str]] = {
    "danceability": ("danceable", "not_danceable", "danceability"),
    "mood_happy": ("happy", "not_happy", "mood_happy"),
    "mood_aggressive": ("aggressive", "not_aggressive", "mood_aggressive"),
    "mood_party": ("party", "not_party", "mood_party"),
    "mood_relaxed": ("relaxed", "not_relaxed", "mood_relaxed"),
    "mood_sad": ("sad", "not_sad", "mood_sad"),
    "mood_acoustic": ("acoustic", "not_acoustic", "acousticness"),
    "mood_electronic": ("electronic", "not_electronic", "mood_electronic"),
    "voice_instrumental": ("instrumental", "voice", "instrumentalness"),
}
"""AcousticBrainz binary classifiers read into descriptors (see the module docs)."""

BPM_TAGS = ("bpm",)
KEY_TAGS = ("initialkey", "key")
AB_BPM = "ab:lo:rhythm:bpm"
AB_KEY = "ab:lo:tonal:key_key"
AB_SCALE = "ab:lo:tonal:key_scale"
_FEAT_SPLIT = re.compile(r"\s+(?:feat\.?|ft\.|featuring)\s+", re.IGNORECASE)
_YEAR = re.compile(r"(\d{4})")


@dataclass(frozen=True)
class TagValue:
    """A descriptor read from a tag: its value and the tag it came from (``tag`` as written in
    the file's flattened ``raw`` names, e.g. ``"ab:hi:mood_happy:happy"`` or ``"bpm"``)."""

    value: Any
    tag: str

    @property
    def source(self) -> str:
        """The provenance string used in ``Analysis.sources``: ``"tag:<name>"``."""
        return f"tag:{self.tag}"


@dataclass
class Tags:
    """What :func:`read_tags` found in one file; absent fields are ``None`` / empty."""

    title: str | None = None
    artist: str | None = None
    artists: list[str] = field(default_factory=list)
    album_artist: str | None = None
    album: str | None = None
    genres: list[str] = field(default_factory=list)
    date: str | None = None
    year: int | None = None
    track_no: int | None = None
    track_total: int | None = None
    disc_no: int | None = None
    disc_total: int | None = None
    duration_s: float | None = None
    musicbrainz_trackid: str | None = None
    musicbrainz_artistid: str | None = None
    musicbrainz_artistids: list[str] = field(default_factory=list)
    musicbrainz_albumartistid: str | None = None
    musicbrainz_albumid: str | None = None
    isrc: str | None = None
    descriptors: dict[str, TagValue] = field(default_factory=dict)
    ab_classes: dict[str, dict[str, float]] = field(default_factory=dict)
    raw: dict[str, list[str]] = field(default_factory=dict)
    format: str | None = None

    def descriptor_values(self) -> dict[str, Any]:
        """``{feature name: value}`` of :attr:`descriptors`."""
        return {k: v.value for k, v in self.descriptors.items()}

    def descriptor_sources(self) -> dict[str, str]:
        """``{feature name: "tag:<name>"}`` of :attr:`descriptors`."""
        return {k: v.source for k, v in self.descriptors.items()}


# ------------------------------------------------------------------------------------ reading
def _canon(name: str) -> str:
    low = name.strip().lower()
    return _PICARD_NAMES.get(low, low)


def _add(raw: dict[str, list[str]], name: str, values: Iterable[Any]) -> None:
    for v in values:
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        s = str(v).strip().strip("\x00")
        if s:
            for part in s.split("\x00"):
                if part.strip():
                    raw.setdefault(name, []).append(part.strip())


def _raw_id3(tags: Any, raw: dict[str, list[str]]) -> None:
    for frame in tags.values():
        fid = frame.FrameID
        if fid == "TXXX":
            _add(raw, _canon(frame.desc), frame.text)
        elif fid == "UFID":
            if frame.owner == UFID_OWNER:
                _add(raw, "musicbrainz_trackid", [frame.data])
        elif fid == "TCON":
            _add(raw, "genre", frame.genres)
        elif fid in _ID3_FRAMES:
            _add(raw, _ID3_FRAMES[fid], [str(t) for t in frame.text])


def _raw_mp4(tags: Any, raw: dict[str, list[str]]) -> None:
    for key, values in tags.items():
        if key.startswith("----:"):
            name = key.split(":", 2)[2] if key.count(":") >= 2 else key
            _add(raw, _canon(name), [bytes(v) for v in values])
        elif key == "trkn" or key == "disk":
            name = "tracknumber" if key == "trkn" else "discnumber"
            for n, total in values:
                _add(raw, name, [f"{n}/{total}" if total else str(n)])
        elif key == "gnre":
            from mutagen.id3 import TCON as _TCON

            _add(raw, "genre", [_TCON.GENRES[v - 1] for v in values if 0 < v <= len(_TCON.GENRES)])
        elif key in _MP4_ATOMS:
            _add(raw, _MP4_ATOMS[key], values)


def _raw_asf(tags: Any, raw: dict[str, list[str]]) -> None:
    for key, values in tags.items():
        name = _ASF_NAMES.get(key.lower(), key.lower())
        _add(raw, name, [getattr(v, "value", v) for v in values])


def _raw_vorbis(tags: Any, raw: dict[str, list[str]]) -> None:
    for key, value in tags:
        _add(raw, _canon(key), [value])


def _flatten(f: Any) -> dict[str, list[str]]:
    raw: dict[str, list[str]] = {}
    tags = f.tags
    if tags is None:
        return raw
    if isinstance(tags, ID3) or hasattr(tags, "getall"):
        _raw_id3(tags, raw)
    elif isinstance(f, MP4):
        _raw_mp4(tags, raw)
    elif isinstance(f, ASF):
        _raw_asf(tags, raw)
    else:  # Vorbis comments (FLAC, Ogg Vorbis/Opus/FLAC/Speex)
        _raw_vorbis(tags, raw)
    return raw


def parse_number(text: Any) -> float | None:
    """Parse a numeric tag value; ``None`` if it is not a finite number (see the module docs)."""
    if isinstance(text, int | float):
        v = float(text)
        return v if math.isfinite(v) else None
    s = str(text).strip()
    if s.count(",") == 1 and "." not in s:
        s = s.replace(",", ".")
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _parse_int_pair(text: str | None) -> tuple[int | None, int | None]:
    if not text:
        return None, None
    parts = str(text).split("/", 1)

    def num(s: str) -> int | None:
        s = s.strip()
        m = re.match(r"^\d+", s)
        return int(m.group(0)) if m else None

    return num(parts[0]), (num(parts[1]) if len(parts) > 1 else None)


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for it in items:
        it = it.strip()
        if it and it.casefold() not in seen:
            seen.add(it.casefold())
            out.append(it)
    return out


def _split_artists(values: list[str]) -> list[str]:
    parts: list[str] = []
    for v in values:
        parts.extend(v.split(";"))
    parts = _dedupe(parts)
    if len(parts) == 1:
        feat = _FEAT_SPLIT.split(parts[0])
        if len(feat) > 1:
            parts = _dedupe(feat)
    return parts


def _first(raw: Mapping[str, list[str]], *names: str) -> str | None:
    for n in names:
        if raw.get(n):
            return raw[n][0]
    return None


def _descriptors(
    raw: Mapping[str, list[str]], path: str
) -> tuple[dict[str, TagValue], dict[str, dict[str, float]]]:
    desc: dict[str, TagValue] = {}

    def bad(name: str, value: Any, expected: str) -> None:
        log.debug("ignoring tag %s=%r in %s: expected %s", name, value, path, expected)

    # bpm: standard tag first, then AcousticBrainz
    for name in (*BPM_TAGS, AB_BPM):
        if "bpm" in desc or not raw.get(name):
            continue
        v = parse_number(raw[name][0])
        if v is not None and 20.0 <= v <= 400.0:
            desc["bpm"] = TagValue(v, name)
        elif v != 0.0:
            bad(name, raw[name][0], "a tempo of 20-400 BPM")
    # key: standard tag first, then AcousticBrainz key + scale
    parsed: tuple[tuple[int, str], str] | None = None
    for name in KEY_TAGS:
        if raw.get(name):
            k = parse_key(raw[name][0])
            if k is not None:
                parsed = (k, name)
                break
            bad(name, raw[name][0], "a key like 'Am', 'F#', '8A' or '1m'")
    if parsed is None and raw.get(AB_KEY):
        scale = (_first(raw, AB_SCALE) or "major").strip().lower()
        k = parse_key(f"{raw[AB_KEY][0]} {scale}")
        if k is not None:
            parsed = (k, AB_KEY)
        else:
            bad(AB_KEY, raw[AB_KEY][0], "a note name and a key_scale of major/minor")
    if parsed is not None:
        (pc, mode), name = parsed
        desc["key"] = TagValue(key_name(pc), name)
        desc["key_index"] = TagValue(pc, name)
        desc["mode"] = TagValue(mode, AB_SCALE if name == AB_KEY and raw.get(AB_SCALE) else name)
    # AcousticBrainz high level
    classes: dict[str, dict[str, float]] = {}
    for name, values in raw.items():
        if not name.startswith("ab:hi:") or not values:
            continue
        parts = name.split(":")
        if len(parts) != 4:
            continue
        v = parse_number(values[0])
        if v is None or not 0.0 <= v <= 1.0:
            bad(name, values[0], "a probability 0-1")
            continue
        classes.setdefault(parts[2], {})[parts[3]] = v
    for clf, (pos, neg, feat) in AB_HIGHLEVEL.items():
        probs = classes.get(clf, {})
        if pos in probs:
            desc[feat] = TagValue(probs[pos], f"ab:hi:{clf}:{pos}")
        elif neg in probs:
            desc[feat] = TagValue(1.0 - probs[neg], f"ab:hi:{clf}:{neg}")
    return desc, classes


def read_tags(path: str | os.PathLike[str]) -> Tags:
    """Read the tags and duration of one audio file.

    Parameters
    ----------
    path : path-like
        Any file mutagen recognises (MP3, FLAC, Ogg Vorbis/Opus, MP4/M4A, WAV, AIFF, WMA ...).

    Returns
    -------
    Tags
        Absent tags are ``None`` / empty; ``duration_s`` in seconds from the stream header.

    Raises
    ------
    TagError
        When the file is missing, unreadable, or not an audio file mutagen knows.
    """
    p = str(path)
    try:
        f = mutagen.File(p)
    except Exception as exc:  # mutagen raises many types for corrupt files
        raise TagError(f"cannot read tags of {p}: {exc or type(exc).__name__}") from exc
    if f is None:
        raise TagError(f"cannot read tags of {p}: not an audio file format mutagen recognises")
    raw = _flatten(f)
    tags = Tags(raw=raw, format=type(f).__name__)
    info = getattr(f, "info", None)
    length = getattr(info, "length", None)
    if length is not None and math.isfinite(length) and length > 0:
        tags.duration_s = float(length)
    tags.title = _first(raw, "title")
    artist_values = raw.get("artist", [])
    if artist_values:
        tags.artist = "; ".join(artist_values)
    tags.artists = _dedupe(raw["artists"]) if raw.get("artists") else _split_artists(artist_values)
    if tags.artist is None and tags.artists:
        tags.artist = "; ".join(tags.artists)
    tags.album_artist = _first(raw, "albumartist")
    tags.album = _first(raw, "album")
    genres: list[str] = []
    for g in raw.get("genre", []):
        genres.extend(re.split(r"[;/]", g))
    tags.genres = _dedupe(genres)
    tags.date = _first(raw, "date", "year", "originaldate")
    if tags.date:
        m = _YEAR.search(tags.date)
        if m and 1000 <= int(m.group(1)) <= 2999:
            tags.year = int(m.group(1))
    tags.track_no, tags.track_total = _parse_int_pair(_first(raw, "tracknumber"))
    if tags.track_total is None:
        tags.track_total = _parse_int_pair(_first(raw, "tracktotal"))[0]
    tags.disc_no, tags.disc_total = _parse_int_pair(_first(raw, "discnumber"))
    if tags.disc_total is None:
        tags.disc_total = _parse_int_pair(_first(raw, "disctotal"))[0]
    tags.musicbrainz_trackid = _first(raw, "musicbrainz_trackid")
    tags.musicbrainz_artistids = _dedupe(
        x for v in raw.get("musicbrainz_artistid", []) for x in v.split(";")
    )
    tags.musicbrainz_artistid = (
        tags.musicbrainz_artistids[0] if tags.musicbrainz_artistids else None
    )
    tags.musicbrainz_albumartistid = _first(raw, "musicbrainz_albumartistid")
    tags.musicbrainz_albumid = _first(raw, "musicbrainz_albumid")
    tags.isrc = _first(raw, "isrc")
    tags.descriptors, tags.ab_classes = _descriptors(raw, p)
    return tags
