"""What the plugin routes share: query arguments, the compute limiter, their error and the row
of one song."""

from __future__ import annotations

from typing import Any

import anyio

TRACK_NOT_FOUND = "Target track not found in index or no similar tracks found."
MAX_N = 500
"""Largest ``n`` honoured (Navidrome asks for up to 500; AudioMuse-AI has no cap)."""
ELIMINATE_DUPLICATES_PER_ARTIST = 3
"""``eliminate_duplicates=true`` (the default): at most this many songs per artist."""


COMPUTE_THREADS = 2
"""Plugin answers computed at once per API process: more threads only fight over the GIL (32
concurrent requests on 40 threads cost 2-3× the CPU per answer); the rest wait their turn."""


def compute_limiter(state: Any) -> anyio.CapacityLimiter:
    """The process's limiter of :data:`COMPUTE_THREADS` (``state``: the app's state)."""
    lim: anyio.CapacityLimiter | None = getattr(state, "compat_limiter", None)
    if lim is None:  # made on the event loop, at the first request
        lim = state.compat_limiter = anyio.CapacityLimiter(COMPUTE_THREADS)
    return lim


def int_arg(raw: str | None, default: int) -> int:
    """``request.args.get(name, default, type=int)``: a missing or non-integer value → default."""
    try:
        return int(raw) if raw is not None and raw.strip() else default
    except ValueError:
        return default


def flag_arg(raw: str | None, default: bool) -> bool:
    """A boolean query parameter: ``1``, ``true``, ``yes``, ``y``, ``on`` (any case) → True."""
    return default if raw is None else raw.strip().lower() in ("1", "true", "yes", "y", "on")


class CompatError(Exception):
    """An answer other than 200: ``status`` and the ``error`` string of the JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def song_row(
    song_id: str,
    title: str | None,
    artist: str | None,
    album: str | None,
    album_artist: str | None,
    distance: float | None,
) -> dict[str, Any]:
    """``{item_id, title, author, album, album_artist[, distance]}``: strings, never null, as
    AudioMuse-AI fills them (``unknown`` for a missing album); ``distance`` a number."""
    row: dict[str, Any] = {
        "item_id": song_id,
        "title": title or "",
        "author": artist or "",
        "album": album or "unknown",
        "album_artist": album_artist or artist or "unknown",
    }
    if distance is not None:
        row["distance"] = round(float(distance), 6)
    return row
