"""Whole generated libraries with full tags and ground truth (the artists' styles from
:func:`~sonicmap.synth.archetypes.demo_styles`)."""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonicmap.errors import SonicmapError
from sonicmap.synth.archetypes import demo_styles
from sonicmap.synth.render import render
from sonicmap.synth.style import PITCH_NAMES, Style
from sonicmap.synth.writer import WRITABLE_EXTENSIONS, write_audio

log = logging.getLogger(__name__)

DEFAULT_FORMATS: tuple[str, ...] = ("mp3", "flac", "ogg", "opus", "m4a", "wav", "aiff")

_ADJ = (
    "Velvet",
    "Electric",
    "Silent",
    "Crimson",
    "Hollow",
    "Golden",
    "Neon",
    "Paper",
    "Iron",
    "Quiet",
    "Wild",
    "Lunar",
    "Broken",
    "Static",
    "Violet",
    "Frozen",
    "Distant",
    "Copper",
)
_NOUN = (
    "Circuits",
    "Harbour",
    "Foxes",
    "Engines",
    "Tides",
    "Pilots",
    "Gardens",
    "Signals",
    "Wolves",
    "Mirrors",
    "Rivers",
    "Comets",
    "Lanterns",
    "Echoes",
    "Orchids",
    "Satellites",
    "Ghosts",
    "Bells",
)
_SPECIAL_ARTISTS = ("Bjørn Ångström", "Zoë & the Naïves", "東京 Drift", "Mötley Sörensen")
_WORDS = (
    "Morning",
    "Glass",
    "River",
    "Night",
    "Signal",
    "Fire",
    "Dust",
    "Ocean",
    "Summer",
    "Static",
    "Echo",
    "Heart",
    "Shadow",
    "Light",
    "Winter",
    "Road",
    "Dream",
    "Stone",
    "Rain",
    "Motion",
)


@dataclass(frozen=True)
class GeneratedTrack:
    """Ground truth of one generated file.

    ``bpm``, ``key`` (pitch class 0-11), ``key_name`` and ``mode`` are what was rendered;
    ``style`` is the artist's style with this track's jittered tempo.
    """

    path: Path
    artist: str
    album: str
    album_artist: str
    title: str
    track_no: int
    disc_no: int
    genre: str
    year: int
    format: str
    style: Style
    seed: int
    bpm: float
    key: int
    key_name: str
    mode: str
    duration_s: float
    artist_index: int
    musicbrainz_artistid: str | None = None

    def to_dict(self) -> dict:
        """JSON-able ground truth (``path`` as a string, ``style`` as a dict)."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d["path"] = str(self.path)
        d["style"] = self.style.to_dict()
        return d


def _artist_names(n: int, rng: np.random.Generator) -> list[str]:
    names: list[str] = []
    special = list(_SPECIAL_ARTISTS)
    used: set[str] = set()
    for i in range(n):
        if i % 5 == 3 and special:
            name = special.pop(0)
        else:
            name = (
                f"The {_ADJ[int(rng.integers(len(_ADJ)))]} {_NOUN[int(rng.integers(len(_NOUN)))]}"
            )
            if rng.random() < 0.3:
                name = name[4:]
        base, k = name, 2
        while name.casefold() in used:
            name = f"{base} {k}"
            k += 1
        used.add(name.casefold())
        names.append(name)
    return names


def _phrase(rng: np.random.Generator, k: int) -> str:
    idx = rng.choice(len(_WORDS), size=k, replace=False)
    return " ".join(_WORDS[int(i)] for i in idx)


def safe_filename(name: str) -> str:
    """``name`` made safe as one path component (no separators, control or reserved characters)."""
    s = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", name).strip().strip(".")
    return s or "_"


def generate_library(
    root: str | os.PathLike[str],
    *,
    n_artists: int,
    tracks_per_artist: int,
    formats: Sequence[str] = DEFAULT_FORMATS,
    seed: int = 0,
    duration_s: float = 20.0,
    albums_per_artist: int = 1,
    various_artists: bool = False,
    sr: int = 44100,
    channels: int = 2,
    descriptor_tags: bool = False,
    musicbrainz_ids: bool = False,
    styles: Sequence[Style] | None = None,
) -> list[GeneratedTrack]:
    """Write a tagged library ``root/<Artist>/<Album>/<nn Title>.<ext>``.

    Each artist gets one style (:func:`demo_styles`, or ``styles[i]``); its tracks vary the melody
    seed and jitter the tempo by up to ±2 %. Formats cycle over ``formats`` across all tracks.
    Tags: title, artist, album, album artist, genre, date (year), track number/total, disc
    number/total; with ``descriptor_tags`` also the true ``bpm`` and ``initialkey``; with
    ``musicbrainz_ids`` deterministic MusicBrainz artist/album/track ids.
    ``various_artists`` adds a compilation ``root/Various Artists/<Album>/`` with one more
    track by each artist (album artist "Various Artists", track artist the real one).

    Parameters
    ----------
    duration_s : float
        Seconds per track (short values such as 2-5 s keep big test libraries fast).
    sr, channels : int
        Sample rate (Hz) and channel count of the rendered audio (Opus is always 48 kHz).

    Returns
    -------
    list[GeneratedTrack]
        One entry per written file, in writing order.
    """
    if n_artists < 1 or tracks_per_artist < 1 or albums_per_artist < 1:
        raise SonicmapError(
            f"n_artists={n_artists}, tracks_per_artist={tracks_per_artist}, "
            f"albums_per_artist={albums_per_artist}: expected each >= 1"
        )
    fmts = [f.lower().lstrip(".") for f in formats]
    for f in fmts:
        if f not in WRITABLE_EXTENSIONS:
            raise SonicmapError(f"format {f!r}: expected one of {', '.join(WRITABLE_EXTENSIONS)}")
    if not fmts:
        raise SonicmapError(
            "formats is empty: expected at least one of " + ", ".join(WRITABLE_EXTENSIONS)
        )
    root_p = Path(root)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 104729])
    artist_styles = list(styles) if styles is not None else demo_styles(n_artists, seed=seed)
    if len(artist_styles) < n_artists:
        raise SonicmapError(
            f"{len(artist_styles)} styles given for {n_artists} artists: expected one each"
        )
    names = _artist_names(n_artists, rng)
    out: list[GeneratedTrack] = []
    counter = 0

    def mbid() -> str:
        return str(uuid.UUID(bytes=rng.bytes(16), version=4))

    def make(
        ai: int,
        album: str,
        album_artist: str,
        year: int,
        track_no: int,
        total: int,
        album_id: str | None,
        folder: Path,
    ) -> None:
        nonlocal counter
        style = artist_styles[ai]
        tseed = int(rng.integers(2**31))
        bpm = round(float(style.bpm * rng.uniform(0.98, 1.02)), 2)
        tstyle = style.with_(bpm=bpm)
        fmt = fmts[counter % len(fmts)]
        counter += 1
        title = _phrase(rng, int(rng.integers(1, 4)))
        path = folder / f"{track_no:02d} {safe_filename(title)}.{fmt}"
        y = render(tstyle, duration_s=duration_s, sr=sr, seed=tseed, channels=channels)
        tags: dict = {
            "title": title,
            "artist": names[ai],
            "album": album,
            "album_artist": album_artist,
            "genres": [style.genre],
            "date": str(year),
            "track_no": track_no,
            "track_total": total,
            "disc_no": 1,
            "disc_total": 1,
        }
        if descriptor_tags:
            tags["bpm"] = f"{bpm:g}"
            tags["key"] = PITCH_NAMES[style.key] + ("m" if style.mode == "minor" else "")
        if musicbrainz_ids:
            tags["musicbrainz_artistid"] = artist_ids[ai]
            tags["musicbrainz_albumartistid"] = (
                artist_ids[ai] if album_artist == names[ai] else VA_ID
            )
            tags["musicbrainz_albumid"] = album_id
            tags["musicbrainz_trackid"] = mbid()
        write_audio(path, y, sr, tags=tags)
        out.append(
            GeneratedTrack(
                path=path,
                artist=names[ai],
                album=album,
                album_artist=album_artist,
                title=title,
                track_no=track_no,
                disc_no=1,
                genre=style.genre,
                year=year,
                format=fmt,
                style=tstyle,
                seed=tseed,
                bpm=bpm,
                key=style.key,
                key_name=PITCH_NAMES[style.key],
                mode=style.mode,
                duration_s=float(duration_s),
                artist_index=ai,
                musicbrainz_artistid=artist_ids[ai] if musicbrainz_ids else None,
            )
        )

    VA_ID = "89ad4ac3-39f7-470e-963a-56509c546377"  # MusicBrainz "Various Artists"
    artist_ids = [mbid() for _ in range(n_artists)]
    for ai in range(n_artists):
        base_year = 1970 + int(rng.integers(50))
        per_album = np.array_split(np.arange(tracks_per_artist), albums_per_artist)
        used_albums: set[str] = set()
        for bi, idx in enumerate(per_album):
            if len(idx) == 0:
                continue
            album = _phrase(rng, 2)
            while album in used_albums:
                album = _phrase(rng, 2)
            used_albums.add(album)
            folder = root_p / safe_filename(names[ai]) / safe_filename(album)
            album_id = mbid() if musicbrainz_ids else None
            for t in range(len(idx)):
                make(ai, album, names[ai], base_year + 2 * bi, t + 1, len(idx), album_id, folder)
    if various_artists:
        album = "Compilation " + _phrase(rng, 2)
        folder = root_p / "Various Artists" / safe_filename(album)
        album_id = mbid() if musicbrainz_ids else None
        for ai in range(n_artists):
            make(ai, album, "Various Artists", 2020, ai + 1, n_artists, album_id, folder)
    log.debug("generated %d files under %s", len(out), root_p)
    return out
