"""The matching ladder: which sonicmap track is a music server's song (pure; plain data in/out).

A server song is matched to a track by the first rung that gives **exactly one** track:

1. ``path``: the file path the server reports, relative to one of sonicmap's library roots
   (compared after Unicode NFC and case folding, ``\\`` read as ``/``). The server may prefix it
   with its own folder (``/music/...``); a prefix is trusted when it is the configured
   ``path_prefix``, when a match of two or more path components showed it, or when
   :data:`TRUST_AFTER` file-name matches share it, so that a lone file name never matches a
   file of another folder.
2. ``mbid``: the MusicBrainz recording id.
3. ``isrc``: the ISRC.
4. ``tags``: normalised artist + title + album, durations within ±2 s (two such tracks: the
   one with the same track and disc number).
5. ``title_duration``: normalised artist + title, durations within ±2 s (same tie-break).

At rungs 2-3 several tracks with the same id (one recording on two albums) are narrowed by album
and duration; at rungs 4-5 a key that still leaves two or more tracks is skipped, not guessed:
a song is left unmatched rather than matched wrongly. Normalisation: NFKC, case folding,
punctuation dropped, whitespace collapsed (so "Don't Stop" = "dont stop").
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Methods, best first (the order of the ladder).
METHODS = ("path", "mbid", "isrc", "tags", "title_duration")
#: Largest difference of durations (seconds) for the tag rungs.
DURATION_TOLERANCE_S = 2.0
#: One-component path matches sharing a server prefix that make it trusted.
TRUST_AFTER = 5

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_WS = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class RemoteSong:
    """A song as a server lists it (every field may be missing but ``id``)."""

    id: str
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    artist_id: str | None = None
    duration_s: float | None = None
    path: str | None = None
    mbid: str | None = None
    isrc: str | None = None
    track_no: int | None = None
    disc_no: int | None = None


@dataclass(frozen=True, slots=True)
class LocalTrack:
    """A sonicmap track: ``rel_path`` is its path relative to its (innermost) library root
    (``/``-separated), or None when it lies in no known root; ``abs_path`` breaks ties between
    two roots holding the same relative path."""

    id: int
    rel_path: str | None
    title: str | None = None
    abs_path: str | None = None
    artist: str | None = None
    album: str | None = None
    duration_s: float | None = None
    mbid: str | None = None
    isrc: str | None = None
    track_no: int | None = None
    disc_no: int | None = None


def norm_text(s: str | None) -> str:
    """NFKC, casefold, punctuation dropped, whitespace collapsed; None → ``""``."""
    if not s:
        return ""
    s = unicodedata.normalize("NFKC", s).casefold()
    return _WS.sub(" ", _PUNCT.sub("", s)).strip()


def norm_path(p: str) -> tuple[str, ...]:
    """Path components, NFC + casefolded, ``\\`` as separator too, no empty or ``.`` parts."""
    p = unicodedata.normalize("NFC", p.replace("\\", "/")).casefold()
    return tuple(c for c in p.split("/") if c and c != ".")


def _norm_id(s: str | None) -> str:
    return (s or "").strip().casefold().replace("-", "") if s else ""


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= DURATION_TOLERANCE_S


class Matcher:
    """Built once from the local tracks; :meth:`match_all` resolves server songs."""

    def __init__(self, tracks: Iterable[LocalTrack], *, path_prefix: str | None = None) -> None:
        self.tracks: dict[int, LocalTrack] = {}
        self._by_name: dict[str, list[tuple[tuple[str, ...], int]]] = defaultdict(list)
        self._rel_len: dict[int, int] = {}
        self._by_mbid: dict[str, list[int]] = defaultdict(list)
        self._by_isrc: dict[str, list[int]] = defaultdict(list)
        self._by_tags: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        self._by_title: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._prefix = norm_path(path_prefix) if path_prefix else None
        for t in tracks:
            self.tracks[t.id] = t
            if t.rel_path:
                parts = norm_path(t.rel_path)
                if parts:
                    self._by_name[parts[-1]].append((parts, t.id))
                    self._rel_len[t.id] = len(parts)
            if t.mbid:
                self._by_mbid[_norm_id(t.mbid)].append(t.id)
            if t.isrc:
                self._by_isrc[_norm_id(t.isrc)].append(t.id)
            artist, title = norm_text(t.artist), norm_text(t.title)
            if artist and title:
                self._by_tags[(artist, title, norm_text(t.album))].append(t.id)
                self._by_title[(artist, title)].append(t.id)

    # -- path ---------------------------------------------------------------------------------
    def _path_hits(self, path: str) -> list[tuple[tuple[str, ...], int]]:
        """(server prefix, track id) of every local track whose relative path ends the song's."""
        parts = norm_path(path)
        if not parts:
            return []
        if self._prefix is not None:
            if parts[: len(self._prefix)] != self._prefix:
                return []
            parts = parts[len(self._prefix) :]
            return (
                [
                    (self._prefix, tid)
                    for rel, tid in self._by_name.get(parts[-1], [])
                    if rel == parts
                ]
                if parts
                else []
            )
        hits = []
        for rel, tid in self._by_name.get(parts[-1], []):
            n = len(rel)
            if n <= len(parts) and parts[len(parts) - n :] == rel:
                hits.append((parts[: len(parts) - n], tid))
        return hits

    def trusted_prefixes(
        self, songs: Iterable[RemoteSong], trusted: set[tuple[str, ...]] | None = None
    ) -> set[tuple[str, ...]]:
        """Server prefixes shown by path matches of two or more components, or shared by
        :data:`TRUST_AFTER` one-component matches (plus the empty and the configured one);
        ``trusted``: those found so far (pages before)."""
        out: set[tuple[str, ...]] = {()} | (trusted or set())
        if self._prefix is not None:
            out.add(self._prefix)
        single: Counter[tuple[str, ...]] = Counter()
        for s in songs:
            if s.path:
                for prefix, tid in self._path_hits(s.path):
                    if self._rel_len.get(tid, 0) >= 2:
                        out.add(prefix)
                    else:
                        single[prefix] += 1
        out.update(p for p, n in single.items() if n >= TRUST_AFTER)
        return out

    def match_path(self, song: RemoteSong, trusted: set[tuple[str, ...]]) -> int | None:
        if not song.path:
            return None
        hits = [tid for prefix, tid in self._path_hits(song.path) if prefix in trusted]
        if len(hits) > 1:  # one relative path under two roots: the longest common suffix wins
            parts = norm_path(song.path)

            def common(tid: int) -> int:
                local = norm_path(self.tracks[tid].abs_path or "")
                n = 0
                while n < min(len(local), len(parts)) and local[-1 - n] == parts[-1 - n]:
                    n += 1
                return n

            best = max(common(t) for t in hits)
            hits = [t for t in hits if common(t) == best]
        return hits[0] if len(hits) == 1 else None

    # -- tags ---------------------------------------------------------------------------------
    def _narrow(self, cands: Sequence[int], song: RemoteSong) -> int | None:
        if len(cands) == 1:
            return cands[0]
        album = norm_text(song.album)
        same = [t for t in cands if album and norm_text(self.tracks[t].album) == album]
        if len(same) == 1:
            return same[0]
        close = [t for t in (same or cands) if _close(self.tracks[t].duration_s, song.duration_s)]
        return close[0] if len(close) == 1 else None

    def _by_duration(self, cands: Sequence[int], song: RemoteSong) -> int | None:
        close = [t for t in cands if _close(self.tracks[t].duration_s, song.duration_s)]
        if len(close) > 1 and song.track_no is not None:  # two "Intro"s: the track number
            close = [
                t
                for t in close
                if self.tracks[t].track_no == song.track_no
                and (song.disc_no is None or self.tracks[t].disc_no in (None, song.disc_no))
            ]
        return close[0] if len(close) == 1 else None

    def match_tags(self, song: RemoteSong) -> tuple[int, str] | None:
        """The track and method of the first tag rung that gives exactly one track."""
        if song.mbid and (c := self._by_mbid.get(_norm_id(song.mbid))):
            if (t := self._narrow(c, song)) is not None:
                return t, "mbid"
        if song.isrc and (c := self._by_isrc.get(_norm_id(song.isrc))):
            if (t := self._narrow(c, song)) is not None:
                return t, "isrc"
        artist, title = norm_text(song.artist), norm_text(song.title)
        if not (artist and title):
            return None
        c = self._by_tags.get((artist, title, norm_text(song.album)))
        if c and (t := self._by_duration(c, song)) is not None:
            return t, "tags"
        c = self._by_title.get((artist, title))
        if c and (t := self._by_duration(c, song)) is not None:
            return t, "title_duration"
        return None

    def match_all(
        self,
        songs: Sequence[RemoteSong],
        *,
        use_paths: bool = True,
        trusted: set[tuple[str, ...]] | None = None,
    ) -> dict[str, tuple[int, str] | None]:
        """``{song id: (track id, method) or None}`` for every song.

        ``trusted``: prefixes found over the whole catalogue (:meth:`trusted_prefixes`); by
        default those of ``songs`` themselves."""
        if use_paths and trusted is None:
            trusted = self.trusted_prefixes(songs)
        out: dict[str, tuple[int, str] | None] = {}
        for s in songs:
            tid = self.match_path(s, trusted or set()) if use_paths else None
            out[s.id] = (tid, "path") if tid is not None else self.match_tags(s)
        return out


def method_counts(results: Iterable[tuple[int, str] | None]) -> dict[str, int]:
    """``{method: count}`` over every rung (zeros included)."""
    c = Counter(r[1] for r in results if r is not None)
    return {m: int(c.get(m, 0)) for m in METHODS}
