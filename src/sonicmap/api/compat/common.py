"""What the plugin answers share: their error and the row of one song."""

from __future__ import annotations

from typing import Any

TRACK_NOT_FOUND = "Target track not found in index or no similar tracks found."


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
