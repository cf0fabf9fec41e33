"""Artist and album identity rules (documented in ``docs/scanning.md``).

Artist of a track
    1. the track artist tag (``artist``; else the first of ``artists``); with a MusicBrainz
       artist id (``musicbrainz_artistid``, first id when several) the key is ``mbid:<id>``,
       else ``name:<normalised name>``;
    2. without a track artist: the album artist, unless it is "Various Artists";
    3. neither: no artist (the track is stored and analysed, but belongs to no artist).
    A track on a "Various Artists" compilation therefore belongs to its own track artist.

Normalised name: Unicode NFKC, ``casefold()``, trimmed, inner whitespace collapsed to one space.
So "Daft Punk", "daft  punk " and "ＤＡＦＴ ＰＵＮＫ" are one artist. Its display name is the best
spelling seen (:func:`preferred_name`: no odd whitespace, not all lower case, then the
alphabetically first), so it does not depend on the order in which files were scanned.

Album of a track
    ``mbid:<MusicBrainz album id>`` when tagged, else
    ``name:<normalised album artist>\\x1f<normalised album title>`` where the album artist is the
    album artist tag (a "Various Artists" tag normalises to ``various artists``), else the track
    artist's key. A track without an album title has no album.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

#: MusicBrainz's special "Various Artists" artist id.
VARIOUS_ARTISTS_MBID = "89ad4ac3-39f7-470e-963a-56509c546377"
_VARIOUS_NAMES = frozenset(
    {"various artists", "various", "va", "v.a.", "v/a", "various artist", "multiple artists"}
)
_WS = re.compile(r"\s+")
_MBID_SPLIT = re.compile(r"[;/,\s]+")


def normalise_name(name: str | None) -> str:
    """NFKC, casefold, trim, collapse whitespace. ``None`` → ``""``."""
    if not name:
        return ""
    return _WS.sub(" ", unicodedata.normalize("NFKC", name).casefold()).strip()


def _name_rank(name: str) -> tuple[bool, bool, bool, str]:
    odd_space = name != name.strip() or "  " in name
    return (odd_space, name.islower(), name.isupper(), name)


def preferred_name(a: str, b: str) -> str:
    """The better display spelling of two names of one artist/album (order-independent):
    no leading/trailing/double spaces first, then not all lower case, then not all upper
    case, then the alphabetically first."""
    return min(a, b, key=_name_rank)


def is_various_artists(name: str | None, mbid: str | None = None) -> bool:
    """True for the compilation pseudo-artist ("Various Artists", "VA", or its MusicBrainz id)."""
    if mbid and first_mbid(mbid) == VARIOUS_ARTISTS_MBID:
        return True
    return normalise_name(name) in _VARIOUS_NAMES


def first_mbid(value: str | None) -> str | None:
    """The first id of a (possibly ``;``- or ``/``-separated) MusicBrainz id tag, lower-cased."""
    if not value:
        return None
    for part in _MBID_SPLIT.split(value.strip()):
        if part:
            return part.lower()
    return None


@dataclass(frozen=True, slots=True)
class ArtistIdentity:
    """``key`` is unique per artist (``mbid:...`` or ``name:...``); ``name`` is for display."""

    key: str
    name: str
    mbid: str | None


@dataclass(frozen=True, slots=True)
class AlbumIdentity:
    key: str
    title: str
    album_artist: str | None
    mbid: str | None


def _get(tags: Any, name: str) -> Any:
    if tags is None:
        return None
    if isinstance(tags, dict):
        return tags.get(name)
    return getattr(tags, name, None)


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def artist_identity(tags: Any) -> ArtistIdentity | None:
    """The artist a track belongs to (see the module docs); ``None`` when untagged.

    ``tags`` is a :class:`sonicmap.library.tags.Tags` or a mapping with the same field names.
    """
    name = _clean(_get(tags, "artist"))
    if name is None:
        names = _get(tags, "artists") or []
        name = next((n for n in (_clean(x) for x in names) if n), None)
    mbid = first_mbid(_get(tags, "musicbrainz_artistid"))
    if name is not None:
        if mbid and mbid != VARIOUS_ARTISTS_MBID:
            return ArtistIdentity(f"mbid:{mbid}", name, mbid)
        norm = normalise_name(name)
        if norm:
            return ArtistIdentity(f"name:{norm}", name, None)
    album_artist = _clean(_get(tags, "album_artist"))
    aa_mbid = first_mbid(_get(tags, "musicbrainz_albumartistid"))
    if album_artist is None or is_various_artists(album_artist, aa_mbid):
        return None
    if aa_mbid:
        return ArtistIdentity(f"mbid:{aa_mbid}", album_artist, aa_mbid)
    norm = normalise_name(album_artist)
    return ArtistIdentity(f"name:{norm}", album_artist, None) if norm else None


def album_identity(tags: Any, artist: ArtistIdentity | None) -> AlbumIdentity | None:
    """The album a track belongs to (see the module docs); ``None`` without an album title."""
    title = _clean(_get(tags, "album"))
    if title is None or not normalise_name(title):
        return None
    album_artist = _clean(_get(tags, "album_artist"))
    mbid = first_mbid(_get(tags, "musicbrainz_albumid"))
    if mbid:
        return AlbumIdentity(f"mbid:{mbid}", title, album_artist, mbid)
    if album_artist is not None and normalise_name(album_artist):
        owner = f"name:{normalise_name(album_artist)}"
        if is_various_artists(album_artist, _get(tags, "musicbrainz_albumartistid")):
            owner = "name:various artists"
    elif artist is not None:
        owner = artist.key
    else:
        owner = "name:"
    return AlbumIdentity(f"{owner}\x1f{normalise_name(title)}", title, album_artist, None)
