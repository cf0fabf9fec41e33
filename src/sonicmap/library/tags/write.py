"""Write tags with mutagen (:func:`write_tags`): the standard fields in each format's own
frames or atoms (ID3, Vorbis comments, MP4 atoms, ASF attributes), with the MusicBrainz ids
under Picard's names, and any other name as a custom tag (TXXX, Vorbis comment, MP4 freeform
atom), so that :func:`~sonicmap.library.tags.read.read_tags` reads back what was written."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import mutagen
from mutagen.aiff import AIFF
from mutagen.asf import ASF
from mutagen.flac import FLAC
from mutagen.id3 import (
    TALB,
    TBPM,
    TCON,
    TDRC,
    TIT2,
    TKEY,
    TPE1,
    TPE2,
    TPOS,
    TRCK,
    TXXX,
    UFID,
    Frame,
)
from mutagen.mp4 import MP4, MP4FreeForm
from mutagen.wave import WAVE

from sonicmap.errors import TagError
from sonicmap.library.tags.read import UFID_OWNER, parse_number

_ALIASES = {
    "tracknumber": "track_no",
    "discnumber": "disc_no",
    "albumartist": "album_artist",
    "genre": "genres",
    "initialkey": "key",
    "tracktotal": "track_total",
    "disctotal": "disc_total",
}
_STANDARD = {
    "title",
    "artist",
    "artists",
    "album_artist",
    "album",
    "genres",
    "date",
    "track_no",
    "track_total",
    "disc_no",
    "disc_total",
    "bpm",
    "key",
    "musicbrainz_trackid",
    "musicbrainz_artistid",
    "musicbrainz_albumartistid",
    "musicbrainz_albumid",
}
# our field -> Vorbis name (also the TXXX / freeform name for the MusicBrainz ids)
_VORBIS = {
    "title": "TITLE",
    "artist": "ARTIST",
    "artists": "ARTISTS",
    "album_artist": "ALBUMARTIST",
    "album": "ALBUM",
    "genres": "GENRE",
    "date": "DATE",
    "track_no": "TRACKNUMBER",
    "track_total": "TRACKTOTAL",
    "disc_no": "DISCNUMBER",
    "disc_total": "DISCTOTAL",
    "bpm": "BPM",
    "key": "INITIALKEY",
    "musicbrainz_trackid": "MUSICBRAINZ_TRACKID",
    "musicbrainz_artistid": "MUSICBRAINZ_ARTISTID",
    "musicbrainz_albumartistid": "MUSICBRAINZ_ALBUMARTISTID",
    "musicbrainz_albumid": "MUSICBRAINZ_ALBUMID",
}
_PICARD_TXXX = {
    "artists": "ARTISTS",
    "musicbrainz_artistid": "MusicBrainz Artist Id",
    "musicbrainz_albumartistid": "MusicBrainz Album Artist Id",
    "musicbrainz_albumid": "MusicBrainz Album Id",
    "musicbrainz_trackid": "MusicBrainz Track Id",
}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        value = [value]
    out = []
    for v in value:
        out.append(v.decode("utf-8") if isinstance(v, bytes) else str(v))
    return [s for s in out if s != ""]


def _normalise_fields(
    fields: Mapping[str, Any],
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Split ``fields`` into (standard fields, custom tag names), values as string lists."""
    std: dict[str, list[str]] = {}
    custom: dict[str, list[str]] = {}
    for name, value in fields.items():
        key = _ALIASES.get(name, name)
        vals = _as_list(value)
        if key in _STANDARD:
            std[key] = vals
        else:
            custom[name] = vals
    return std, custom


def _pair(std: Mapping[str, list[str]], n: str, total: str) -> str | None:
    if not std.get(n):
        return None
    t = std.get(total)
    return f"{std[n][0]}/{t[0]}" if t else std[n][0]


def _write_vorbis(f: Any, std: dict[str, list[str]], custom: dict[str, list[str]]) -> None:
    if f.tags is None:
        f.add_tags()
    for key, vals in std.items():
        name = _VORBIS[key]
        if name in f.tags:
            del f.tags[name]
        if vals:
            f.tags[name] = vals
    for key, vals in custom.items():
        if key in f.tags:
            del f.tags[key]
        if vals:
            f.tags[key] = vals


def _frame(cls: type[Frame], **kwargs: Any) -> Frame:
    """An ID3 frame of class ``cls``: every frame is built here, the one typed boundary over
    mutagen's untyped frame constructors (keyword arguments as ``Frame.__init__`` takes them)."""
    return cls(**kwargs)


def _write_id3(f: Any, std: dict[str, list[str]], custom: dict[str, list[str]]) -> None:
    if f.tags is None:
        f.add_tags()
    t = f.tags
    simple = {"title": TIT2, "artist": TPE1, "album_artist": TPE2, "album": TALB, "genres": TCON}
    simple |= {"date": TDRC, "bpm": TBPM, "key": TKEY}
    for key, cls in simple.items():
        if key in std:
            t.delall(cls.__name__)
            if std[key]:
                t.add(_frame(cls, encoding=3, text=std[key]))
    for frame, n, total in (("TRCK", "track_no", "track_total"), ("TPOS", "disc_no", "disc_total")):
        if n in std or total in std:
            t.delall(frame)
            v = _pair(std, n, total)
            if v:
                t.add(_frame(TRCK if frame == "TRCK" else TPOS, encoding=3, text=[v]))
    for key, desc in _PICARD_TXXX.items():
        if key in std:
            t.delall(f"TXXX:{desc}")
            if std[key]:
                t.add(_frame(TXXX, encoding=3, desc=desc, text=std[key]))
    if "musicbrainz_trackid" in std:
        t.delall(f"UFID:{UFID_OWNER}")
        if std["musicbrainz_trackid"]:
            t.add(
                _frame(
                    UFID,
                    owner=UFID_OWNER,
                    data=std["musicbrainz_trackid"][0].encode("ascii", "replace"),
                )
            )
    for key, vals in custom.items():
        for existing in [
            k for k in t.keys() if k.startswith("TXXX:") and k[5:].lower() == key.lower()
        ]:
            del t[existing]
        if vals:
            t.add(_frame(TXXX, encoding=3, desc=key, text=vals))


def _write_mp4(f: Any, std: dict[str, list[str]], custom: dict[str, list[str]]) -> None:
    if f.tags is None:
        f.add_tags()
    t = f.tags
    atoms = {"title": "\xa9nam", "artist": "\xa9ART", "album_artist": "aART", "album": "\xa9alb"}
    atoms |= {"genres": "\xa9gen", "date": "\xa9day"}
    for key, atom in atoms.items():
        if key in std:
            t.pop(atom, None)
            if std[key]:
                t[atom] = std[key]
    for atom, n, total in (("trkn", "track_no", "track_total"), ("disk", "disc_no", "disc_total")):
        if n in std or total in std:
            t.pop(atom, None)
            if std.get(n):
                pair = (std[n][0], std[total][0] if std.get(total) else "0")
                if not all(v.isdigit() for v in pair):
                    raise TagError(f"{n}/{total}={pair!r}: MP4 needs whole numbers")
                t[atom] = [(int(pair[0]), int(pair[1]))]
    if "bpm" in std:
        t.pop("tmpo", None)
        if std["bpm"]:
            v = parse_number(std["bpm"][0])
            if v is not None:
                t["tmpo"] = [int(round(v))]

    def freeform(name: str, vals: list[str]) -> None:
        for existing in [
            k for k in t.keys() if k.lower() == f"----:com.apple.itunes:{name.lower()}"
        ]:
            del t[existing]
        if vals:
            # mutagen's MP4FreeForm constructor is untyped (a bytes subclass taking the data)
            t[f"----:com.apple.iTunes:{name}"] = [
                MP4FreeForm(v.encode("utf-8"))  # type: ignore[no-untyped-call]
                for v in vals
            ]

    for key, name in (*_PICARD_TXXX.items(), ("key", "initialkey")):
        if key in std:
            freeform(name, std[key])
    for key, vals in custom.items():
        freeform(key, vals)


_ASF_WRITE = {
    "title": "Title",
    "artist": "Author",
    "artists": "WM/ARTISTS",
    "album_artist": "WM/AlbumArtist",
    "album": "WM/AlbumTitle",
    "genres": "WM/Genre",
    "date": "WM/Year",
    "bpm": "WM/BeatsPerMinute",
    "key": "WM/InitialKey",
    "musicbrainz_trackid": "MusicBrainz/Track Id",
    "musicbrainz_artistid": "MusicBrainz/Artist Id",
    "musicbrainz_albumartistid": "MusicBrainz/Album Artist Id",
    "musicbrainz_albumid": "MusicBrainz/Album Id",
}


def _write_asf(f: Any, std: dict[str, list[str]], custom: dict[str, list[str]]) -> None:
    t = f.tags

    def put(name: str, vals: list[str]) -> None:
        for existing in [k for k in t.keys() if k.lower() == name.lower()]:
            del t[existing]
        if vals:
            t[name] = vals

    for key, name in _ASF_WRITE.items():
        if key in std:
            put(name, std[key])
    for name, n, total in (
        ("WM/TrackNumber", "track_no", "track_total"),
        ("WM/PartOfSet", "disc_no", "disc_total"),
    ):
        if n in std or total in std:
            v = _pair(std, n, total)
            put(name, [v] if v else [])
    for key, vals in custom.items():
        put(key, vals)


def write_tags(path: str | os.PathLike[str], **fields: Any) -> None:
    """Write tags to an existing audio file, replacing the fields given.

    Parameters
    ----------
    path : path-like
        MP3, WAV, AIFF (ID3), FLAC, Ogg Vorbis/Opus (Vorbis comments), MP4/M4A or WMA (ASF)
        file.
    **fields
        ``title``, ``artist`` (str or list), ``artists`` (list), ``album_artist``, ``album``,
        ``genres`` / ``genre`` (str or list), ``date``, ``track_no`` / ``tracknumber``,
        ``track_total``, ``disc_no`` / ``discnumber``, ``disc_total``, ``bpm``, ``key`` /
        ``initialkey`` (written as TKEY / INITIALKEY / freeform ``initialkey``),
        ``musicbrainz_trackid``, ``musicbrainz_artistid``, ``musicbrainz_albumartistid``,
        ``musicbrainz_albumid``; any other name (e.g. ``**{"ab:hi:mood_happy:happy": 0.8}``) is
        written as a custom tag (TXXX, Vorbis comment, MP4 freeform atom). A value ``None`` or
        ``[]`` removes the tag. Values are written as strings.

    Raises
    ------
    TagError
        When the file cannot be opened or saved, or its format cannot hold these tags.
    """
    p = str(path)
    std, custom = _normalise_fields(fields)
    try:
        f = mutagen.File(p)
    except Exception as exc:
        raise TagError(f"cannot write tags to {p}: {exc or type(exc).__name__}") from exc
    if f is None:
        raise TagError(f"cannot write tags to {p}: not an audio file format mutagen recognises")
    try:
        if isinstance(f, MP4):
            _write_mp4(f, std, custom)
        elif isinstance(f, ASF):
            _write_asf(f, std, custom)
        elif isinstance(f, WAVE | AIFF) or f.__class__.__name__ in ("MP3", "EasyMP3", "TrueAudio"):
            _write_id3(f, std, custom)
        elif (
            isinstance(f, FLAC)
            or hasattr(f.tags, "vendor")
            or f.__class__.__name__.startswith("Ogg")
        ):
            _write_vorbis(f, std, custom)
        else:
            raise TagError(f"cannot write tags to {p}: format {type(f).__name__} is not supported")
        f.save()
    except TagError:
        raise
    except Exception as exc:
        raise TagError(f"cannot write tags to {p}: {exc or type(exc).__name__}") from exc
