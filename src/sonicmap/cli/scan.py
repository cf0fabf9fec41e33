"""``sonicmap scan``, ``sonicmap tracks`` and ``sonicmap demo``.

Progress goes to stderr: a rich progress bar (files done / total, rate, ETA) on a terminal,
plain log lines otherwise. The summary goes to stdout (one JSON document with ``--json``).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import typer

from sonicmap.cli._common import emit_json, get_config, get_store, handle_errors

log = logging.getLogger(__name__)

#: Plain-mode progress: a log line at most this often (seconds).
LOG_EVERY_S = 5.0


class _PlainProgress:
    """Progress as log lines on stderr (no terminal): walk count, then done/total, rate, ETA."""

    def __init__(self) -> None:
        self.t0: float | None = None  # set by the first event (work before the scan isn't counted)
        self.last = 0.0
        self.analyse_t0: float | None = None

    def __call__(self, ev: Any) -> None:
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        if ev.phase == "walk":
            if ev.total is not None:
                log.info("walked %d audio files in %.1fs", ev.done, now - self.t0)
            elif now - self.last >= LOG_EVERY_S:
                self.last = now
                log.info("walking: %d audio files so far", ev.done)
        elif ev.phase == "analyse":
            if self.analyse_t0 is None:
                self.analyse_t0 = now
                log.info("%d new or changed files to process", ev.total or 0)
                return
            if ev.done == 0 or (now - self.last < LOG_EVERY_S and ev.done != ev.total):
                return
            self.last = now
            elapsed = max(now - self.analyse_t0, 1e-6)
            rate = ev.done / elapsed
            eta = (ev.total - ev.done) / rate if rate > 0 and ev.total else 0.0
            log.info(
                "processed %d/%d files (%.2f files/s, ETA %.0fs)", ev.done, ev.total or 0, rate, eta
            )


class _RichProgress:
    """A rich progress bar on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:.1f} files/s" if speed else "", style="progress.data.speed")

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.walk_task: Any = None
        self.task: Any = None

    def __enter__(self) -> _RichProgress:
        self.progress.start()
        self.walk_task = self.progress.add_task("walking", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, ev: Any) -> None:
        p = self.progress
        if ev.phase == "walk":
            p.update(self.walk_task, completed=ev.done, total=ev.total)
            if ev.total is not None:
                p.update(self.walk_task, description=f"walked ({ev.done} audio files)")
        elif ev.phase == "analyse":
            if self.task is None:
                self.task = p.add_task("analysing", total=ev.total or 0)
            p.update(self.task, completed=ev.done)


def _progress(json_out: bool) -> Any:
    if sys.stderr.isatty():
        return _RichProgress()
    return None


def _hook(cfg: Any) -> Any:
    """Embedded mode: policy + in-process training; service mode: enqueue on the broker."""
    from sonicmap.worker.hooks import after_scan_hook

    return after_scan_hook(cfg)


def _print_summary(d: dict[str, Any]) -> None:
    typer.echo(
        f"scan {d['scan_id']} {d['status']} in {d['duration_s']:.1f}s: "
        f"{d['added']} added, {d['changed']} changed, {d['moved']} moved, "
        f"{d['removed']} removed, {d['unchanged']} unchanged, {d['failed']} failed "
        f"({d['analysed']} analysed)"
    )
    for f in d["failures"][:50]:
        typer.echo(f"  failed: {f['path']}: {f['error']}")
    if len(d["failures"]) > 50:
        typer.echo(
            f"  ... and {len(d['failures']) - 50} more (see `sonicmap tracks --status failed`)"
        )
    for w in d["warnings"]:
        typer.echo(f"  warning: {w}")
    aq = (d.get("post") or {}).get("after_scan")
    if isinstance(aq, dict) and aq.get("status"):
        typer.echo(f"  auto-queue: {aq.get('status')} {aq.get('reason') or ''}".rstrip())
    servers = aq.get("servers") if isinstance(aq, dict) else None
    for r in (servers or {}).get("servers", []):
        if r.get("status") == "failed":
            typer.echo(f"  server sync: {r.get('error')}")
        else:
            typer.echo(
                f"  server sync {r['server']}: {r['matched_total']} of {r['server_songs']} "
                f"songs matched, {r['changed_ids']} changed ids"
            )


@handle_errors
def scan_cmd(
    paths: list[Path] = typer.Argument(
        None, help="Folders or files to scan (inside the library roots). Default: every root."
    ),
    jobs: int | None = typer.Option(
        None,
        "--jobs",
        "-j",
        min=1,
        max=256,
        help="Analysis processes (default: SONICMAP_JOBS or cores).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document (the summary)."),
) -> None:
    """Scan the library: analyse new and changed files, forget removed ones, report."""
    from sonicmap.pipeline.scan import scan_library

    cfg = get_config()
    store = get_store()
    hook = _hook(cfg)
    bar = _progress(json_out)
    kwargs: dict[str, Any] = {"paths": paths or None, "jobs": jobs, "after_scan": hook}
    if bar is not None:
        with bar:
            result = scan_library(store, cfg, progress=bar, **kwargs)
    else:
        result = scan_library(store, cfg, progress=_PlainProgress(), **kwargs)
    data = result.to_dict()
    if json_out:
        emit_json(data)
    else:
        _print_summary(data)


@handle_errors
def tracks_cmd(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document (a list)."),
    status: str | None = typer.Option(
        None, "--status", help="Only tracks with this status: analysed, failed or pending."
    ),
    limit: int = typer.Option(100, "--limit", min=0, help="At most N tracks (0 = all)."),
) -> None:
    """List stored tracks with their status (and the last error of failed ones)."""
    from sonicmap.pipeline.scan import list_tracks

    if status is not None and status not in ("analysed", "failed", "pending"):
        raise typer.BadParameter(
            f"got {status!r}; expected analysed, failed or pending", param_hint="--status"
        )
    rows = list_tracks(get_store(), status=status, limit=limit or None)
    if json_out:
        emit_json(rows)
        return
    if not rows:
        typer.echo("no tracks stored (run `sonicmap scan` or `sonicmap demo`)")
        return
    for r in rows:
        extra = f"  [{r['last_error']}]" if r["last_error"] else ""
        who = " — ".join(x for x in (r["artist"], r["title"]) if x)
        typer.echo(f"{r['id']:>6}  {r['status']:<8}  {who}  {r['path']}{extra}")


@handle_errors
def demo_cmd(
    artists: int = typer.Option(
        12, "--artists", min=10, max=60, help="Synthetic artists to generate (a GMM needs >= 10)."
    ),
    tracks: int = typer.Option(4, "--tracks", min=1, max=20, help="Tracks per artist."),
    duration: float = typer.Option(
        15.0, "--duration", min=3.0, max=120.0, help="Seconds per track."
    ),
    jobs: int | None = typer.Option(
        None, "--jobs", "-j", min=1, max=256, help="Analysis processes."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Generate a small synthetic library, scan it, cluster it, show clusters and similar artists."""
    from sonicmap.pipeline.demo import run_demo

    cfg = get_config()
    store = get_store()
    bar = _progress(json_out)
    kwargs: dict[str, Any] = {
        "n_artists": artists,
        "tracks_per_artist": tracks,
        "duration_s": duration,
        "jobs": jobs,
    }
    if bar is not None:
        with bar:
            out = run_demo(store, cfg, progress=bar, **kwargs)
    else:
        out = run_demo(store, cfg, progress=_PlainProgress(), **kwargs)
    if json_out:
        emit_json(out)
        return
    from sonicmap.pipeline.demo import format_demo

    typer.echo(format_demo(out))


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_cmd)
    app.command("tracks")(tracks_cmd)
    app.command("demo")(demo_cmd)
