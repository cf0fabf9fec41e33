"""``sonicmap analyze [--json] FILE...``: analyse audio files without touching the database."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import typer

from sonicmap.cli._common import dumps, get_config

logger = logging.getLogger(__name__)

_TABLE_FIELDS = (
    ("bpm", "BPM", "{:.1f}"),
    ("key", "key", "{}"),
    ("mode", "mode", "{}"),
    ("loudness_lufs", "LUFS", "{:.1f}"),
    ("duration_s", "dur s", "{:.1f}"),
    ("energy", "energy", "{:.2f}"),
    ("danceability", "dance", "{:.2f}"),
    ("valence", "valence", "{:.2f}"),
)


def _embedding(features: dict[str, Any], genres: list[str]) -> list[float] | None:
    from sonicmap.embedding import embed_tracks

    try:
        vec = embed_tracks([features], [genres])
    except Exception as exc:  # noqa: BLE001 — an embedding failure must not hide the analysis
        logger.warning("embedding failed: %s", exc)
        return None
    return [round(float(v), 6) for v in vec[0]]


def analyse_one(path: Path, max_duration_s: float | None) -> dict[str, Any]:
    """Analyse one file → the JSON record (``path``, ``error``, ``features``, ``sources``,
    ``embedding``, ``analysis_version``); errors become the record's ``error``."""
    from sonicmap.analysis import ANALYSIS_VERSION, analyze_file
    from sonicmap.analysis.analyze import read_tags_safely
    from sonicmap.errors import SonicmapError

    rec: dict[str, Any] = {
        "path": str(path),
        "error": None,
        "features": None,
        "sources": None,
        "embedding": None,
        "analysis_version": ANALYSIS_VERSION,
    }
    try:
        tags = read_tags_safely(path)
        a = analyze_file(path, max_duration_s=max_duration_s, tags=tags)
    except SonicmapError as exc:
        rec["error"] = str(exc)
        return rec
    except OSError as exc:
        rec["error"] = f"{path}: {exc.strerror or exc}"
        return rec
    rec["features"] = a.features
    rec["sources"] = a.sources
    rec["embedding"] = _embedding(a.features, list(getattr(tags, "genres", None) or []))
    return rec


def _row(rec: dict[str, Any]) -> str:
    name = Path(rec["path"]).name
    if rec["error"]:
        return f"{name[:40]:40s}  error: {rec['error']}"
    f = rec["features"]
    cells = []
    for key, _, fmt in _TABLE_FIELDS:
        v = f.get(key)
        cells.append(fmt.format(v) if v is not None else "-")
    return f"{name[:40]:40s}  " + "  ".join(f"{c:>7s}" for c in cells)


def analyze_cmd(
    files: list[Path] = typer.Argument(
        ...,
        help="Audio files (MP3, FLAC, Ogg, Opus, M4A, WAV, AIFF, ...).",
        readable=False,  # an unreadable file is reported in its own record, not a usage error
    ),
    json_out: bool = typer.Option(
        False, "--json", help="One JSON object per line per file (JSON Lines)."
    ),
    max_seconds: float | None = typer.Option(
        None,
        "--max-seconds",
        help="Analyse at most this many seconds per file (default: the configured max_analysis_seconds).",
    ),
) -> None:
    """Analyse audio files: tempo, key, loudness, timbre and mood descriptors.

    With --json, prints one JSON object per file and line: path, error (null or what was wrong),
    features, sources (signal or tag:<name> per feature), embedding (64 floats or null) and
    analysis_version. A bad file (missing, unreadable, not audio) yields its error and the next
    file is analysed.

    Exit status: 0 when every file was analysed, 1 when at least one failed (the others' records
    are printed all the same), 2 for a usage error (no file given, unknown option).
    """
    cap = max_seconds if max_seconds is not None else get_config().settings.max_analysis_seconds
    if not json_out:
        header = f"{'file':40s}  " + "  ".join(f"{h:>7s}" for _, h, _ in _TABLE_FIELDS)
        typer.echo(header)
    failed = 0
    for path in files:
        rec = analyse_one(path, cap)
        if rec["error"]:
            failed += 1
            logger.warning("analysis failed path=%s: %s", path, rec["error"])
        if json_out:
            sys.stdout.write(dumps(rec) + "\n")
            sys.stdout.flush()
        else:
            typer.echo(_row(rec))
    typer.echo(f"analysed {len(files) - failed}, {failed} failed", err=True)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``analyze`` to ``app``."""
    app.command("analyze")(analyze_cmd)
