"""``sonicmap similar``: tracks or artists that sound alike (exact cosine over the embeddings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sonicmap.cli._common import emit_json, fail, get_store, handle_errors


def _table(rows: list[dict[str, Any]], *, artists: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("#", "score", "artist" if artists else "track", *([] if artists else ["artist"]))
    for i, r in enumerate(rows, 1):
        if artists:
            table.add_row(str(i), f"{r['score']:.3f}", r["name"])
        else:
            table.add_row(str(i), f"{r['score']:.3f}", r["title"] or r["path"], r["artist"] or "")
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``similar`` to ``app``."""

    @app.command("similar")
    @handle_errors
    def similar(
        artist: str | None = typer.Option(None, "--artist", help="Artist name (case-insensitive)."),
        track: Path | None = typer.Option(None, "--track", help="Path of a scanned track."),
        limit: int = typer.Option(10, "--limit", "-n", min=1, max=1000, help="How many results."),
        max_per_artist: int | None = typer.Option(
            None, "--max-per-artist", min=1, help="Tracks: at most this many per artist."
        ),
        max_per_album: int | None = typer.Option(
            None, "--max-per-album", min=1, help="Tracks: at most this many per album."
        ),
        membership_weight: float = typer.Option(
            0.0,
            "--membership-weight",
            min=0.0,
            max=1.0,
            help="Artists: share of GMM cluster-membership overlap in the score (0 = cosine only).",
        ),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON list."),
    ) -> None:
        """Nearest artists (--artist NAME) or tracks (--track PATH), best first.

        With --json: a list of {id, name or path, artist, score, similarity} objects (both in
        [0, 1], 1 = identical; similarity is the fixed scale of docs/embedding.md).
        """
        from sonicmap.pipeline import embeddings as pe

        if (artist is None) == (track is None):
            raise fail("give exactly one of --artist NAME or --track PATH")
        store = get_store()
        if artist is not None:
            aid = pe.find_artist(store, artist)
            rows = pe.similar_artists(store, aid, limit, membership_weight=membership_weight)
            out = [
                {
                    "id": r["id"],
                    "name": r["name"],
                    "artist": r["name"],
                    "n_tracks": r["n_tracks"],
                    "score": round(r["score"], 6),
                    "similarity": round(r["similarity"], 6),
                }
                for r in rows
            ]
        else:
            assert track is not None  # exactly one of --artist, --track (checked above)
            tid = pe.find_track(store, track)
            rows = pe.similar_tracks(
                store, tid, limit, max_per_artist=max_per_artist, max_per_album=max_per_album
            )
            out = [
                {
                    "id": r["id"],
                    "path": r["path"],
                    "title": r["title"],
                    "artist": r["artist"],
                    "album": r["album"],
                    "score": round(r["score"], 6),
                    "similarity": round(r["similarity"], 6),
                }
                for r in rows
            ]
        if json_out:
            emit_json(out)
        else:
            _table(rows, artists=artist is not None)
