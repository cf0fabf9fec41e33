"""``sonicmap path`` and ``sonicmap mix``: listenable sequences from the sound map.

Both call :mod:`sonicmap.pipeline.paths` (the API and the music-server bridge call the same
functions); ``--json`` prints the result's ``to_dict()``; ``--m3u8 FILE`` also writes an extended
M3U8 playlist with paths relative to the playlist's folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from sonicmap.cli._common import emit_json, fail, get_store, handle_errors

COUNT_HELP = "How many tracks in all (at most {max})."


def _by_name_or_id(find: Callable[[Any, str], int], store: Any, ref: str) -> int:
    """``find(store, ref)``, or, when nothing is found under that name, ``ref`` as an id."""
    from sonicmap.errors import NotFoundError

    try:
        return find(store, ref)
    except NotFoundError:
        if ref.strip().isdigit():
            return int(ref)
        raise


def resolve_track(store: Any, ref: str) -> int:
    """A track given by the path it was scanned under or, failing that, by id (digits)."""
    from sonicmap.pipeline import embeddings as pe

    return _by_name_or_id(pe.find_track, store, ref)


def resolve_artist(store: Any, ref: str) -> int:
    """An artist given by name (case-insensitive) or, failing that, by id (digits)."""
    from sonicmap.pipeline import embeddings as pe

    return _by_name_or_id(pe.find_artist, store, ref)


def _report(result: Any, *, json_out: bool, m3u8: Path | None, what: str) -> None:
    from sonicmap.sequencing.m3u8 import Entry, render_m3u8

    if m3u8 is not None:
        target = m3u8.expanduser().absolute()
        text = render_m3u8(
            (Entry(t.path, t.duration_s, t.artist, t.title) for t in result.tracks), target.parent
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if json_out:
        emit_json(result.to_dict())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("#", "similarity", "track", "artist", "album")
    for i, t in enumerate(result.tracks, 1):
        table.add_row(
            str(i), f"{t.similarity:.3f}", t.title or t.path, t.artist or "", t.album or ""
        )
    console = Console()
    console.print(table)
    if m3u8 is not None:
        console.print(f"wrote {len(result.tracks)} {what} tracks to {m3u8}", style="dim")


def register(app: typer.Typer) -> None:
    """Add ``path`` and ``mix`` to ``app``."""
    from sonicmap.pipeline.paths import MAX_COUNT

    @app.command("path")
    @handle_errors
    def path(
        start: str = typer.Argument(..., help="First track: id or scanned path."),
        end: str = typer.Argument(..., help="Last track: id or scanned path."),
        count: int = typer.Option(
            25, "--count", "-n", min=2, max=MAX_COUNT, help=COUNT_HELP.format(max=MAX_COUNT)
        ),
        max_per_artist: int | None = typer.Option(
            None, "--max-per-artist", min=1, help="At most this many tracks per artist."
        ),
        max_per_album: int | None = typer.Option(
            None, "--max-per-album", min=1, help="At most this many tracks per album."
        ),
        m3u8: Path | None = typer.Option(None, "--m3u8", help="Also write an M3U8 playlist."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """A path of COUNT tracks from START to END in steps as even as the library allows.

        The path begins with START, ends with END, and never holds a track or a recording twice.
        With --json: {start, end, count, max_per_artist, max_per_album, tracks: [{id, path, title,
        artist_id, artist, album_id, album, duration_s, similarity (to START, 0..1),
        distance, step_similarity, seed}]}.
        """
        from sonicmap.pipeline.paths import sonic_path

        store = get_store()
        a, b = resolve_track(store, start), resolve_track(store, end)
        result = sonic_path(
            store, a, b, count, max_per_artist=max_per_artist, max_per_album=max_per_album
        )
        _report(result, json_out=json_out, m3u8=m3u8, what="path")

    @app.command("mix")
    @handle_errors
    def mix(
        track: list[str] | None = typer.Option(
            None, "--track", help="Seed track: id or scanned path (repeatable)."
        ),
        artist: list[str] | None = typer.Option(
            None, "--artist", help="Seed artist: name or id (repeatable)."
        ),
        cluster: list[int] | None = typer.Option(
            None, "--cluster", help="Seed cluster of the active GMM model (repeatable)."
        ),
        count: int = typer.Option(
            50, "--count", "-n", min=1, max=MAX_COUNT, help=COUNT_HELP.format(max=MAX_COUNT)
        ),
        exclude: list[str] | None = typer.Option(
            None, "--exclude", help="Track never to include: id or path (repeatable)."
        ),
        max_per_artist: int = typer.Option(
            3, "--max-per-artist", min=1, help="At most this many tracks per artist."
        ),
        max_per_album: int = typer.Option(
            2, "--max-per-album", min=1, help="At most this many tracks per album."
        ),
        m3u8: Path | None = typer.Option(None, "--m3u8", help="Also write an M3U8 playlist."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """A mix (radio) of COUNT tracks near the seeds, shared among them in turn.

        Never includes a seed track, an --exclude'd track or another copy of their recordings.
        With --json: {seeds: [{kind, id}], count, exclude, max_per_artist, max_per_album,
        tracks: [{id, path, title, artist_id, artist, album_id, album, duration_s, similarity
        (to the nearest seed, 0..1), distance, step_similarity, seed}]}.
        """
        from sonicmap.errors import NotFoundError
        from sonicmap.pipeline.paths import sonic_mix

        if not (track or artist or cluster):
            raise fail("give at least one seed: --track, --artist or --cluster")
        store = get_store()
        excluded: list[int] = []
        for ref in exclude or []:
            try:
                excluded.append(resolve_track(store, ref))
            except NotFoundError:  # a track that is gone need not stop the music
                continue
        result = sonic_mix(
            store,
            [resolve_track(store, t) for t in track or []],
            artists=[resolve_artist(store, a) for a in artist or []],
            clusters=list(cluster or []),
            count=count,
            exclude=excluded,
            max_per_artist=max_per_artist,
            max_per_album=max_per_album,
        )
        _report(result, json_out=json_out, m3u8=m3u8, what="mix")
