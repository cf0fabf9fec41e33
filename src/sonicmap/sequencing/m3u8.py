"""Extended M3U8 playlists (pure text; the caller writes the file)."""

from __future__ import annotations

import math
import ntpath
import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One playlist line: the track's absolute ``path``, ``duration_s`` (None = unknown) and the
    ``artist`` / ``title`` shown by players (None = the file name)."""

    path: str
    duration_s: float | None = None
    artist: str | None = None
    title: str | None = None


def _one_line(s: str) -> str:
    return " ".join(s.split())


def relative_path(path: str, folder: str) -> str:
    """``path`` relative to ``folder`` (both absolute, same path style), with forward slashes;
    the absolute path itself when no relative one exists (another Windows drive)."""
    mod = ntpath if (ntpath.splitdrive(path)[0] or "\\" in path) else posixpath
    try:
        rel: str = mod.relpath(path, folder)
    except ValueError:  # different drives
        return path.replace("\\", "/") if mod is ntpath else path
    return rel.replace("\\", "/") if mod is ntpath else rel


def render_m3u8(entries: Iterable[Entry], folder: str | os.PathLike[str]) -> str:
    """The text of an extended M3U8 playlist saved in ``folder``: ``#EXTM3U``, then per track an
    ``#EXTINF:<seconds>,<artist> - <title>`` line and its path relative to ``folder``."""
    base = os.fspath(folder)
    lines = ["#EXTM3U"]
    for e in entries:
        secs = (
            -1 if e.duration_s is None or not math.isfinite(e.duration_s) else round(e.duration_s)
        )
        name = posixpath.basename(e.path.replace("\\", "/"))
        label = _one_line(e.title) if e.title else name
        if e.artist:
            label = f"{_one_line(e.artist)} - {label}"
        lines.append(f"#EXTINF:{secs},{label}")
        lines.append(relative_path(e.path, base))
    return "\n".join(lines) + "\n"
