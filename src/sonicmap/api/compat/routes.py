"""Root-level ``/api/...`` routes that answer the music servers' AudioMuse-AI plugins.

Navidrome (``AudioMuse-AI-NV-plugin``), Jellyfin (``audiomuse-ai-plugin``), Ampache 8
(``AmpacheAudioMuse``) and Lyrion (JameZUK's plugin, CDrummond's mixer) call these paths, hard
coded, at the root of the URL they are given. Each answer is in the calling server's own song
and artist ids (see :mod:`sonicmap.api.compat.access` for which server a request speaks for).

Query parameters are read the way AudioMuse-AI reads them (a non-integer ``n`` falls back to its
default instead of failing); every failure is JSON ``{"error": "..."}`` with a 4xx/5xx status —
never HTML, never sonicmap's own ``/api/v1`` error object — since the plugins only look for a
string ``error``. Any other ``/api/...`` path outside ``/api/v1`` answers 404 the same way
(:func:`sonicmap.api.compat.replies.plugin_http_error`, called by the API's error handler).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from sonicmap.api.compat import answers
from sonicmap.api.compat.access import CompatAccess, CompatAccessError
from sonicmap.api.compat.common import CompatError, compute_limiter, flag_arg, int_arg
from sonicmap.api.compat.ids import NoServer, ServerIds, choose_server
from sonicmap.api.compat.replies import error as _error
from sonicmap.api.compat.snapshot import SnapshotHolder
from sonicmap.api.errors import translate
from sonicmap.library.identity import normalise_name
from sonicmap.store import schema as db

log = logging.getLogger(__name__)

# Not in sonicmap's OpenAPI document: these answer the plugins' contract (AudioMuse-AI shapes and
# errors), documented in docs/integration.md, not sonicmap's own API conventions.
router = APIRouter(include_in_schema=False)

MAX_BODY = 64 * 1024
"""Largest ``POST /api/alchemy`` body read (a few hundred seeds)."""


def _int(request: Request, name: str, default: int) -> int:
    return int_arg(request.query_params.get(name), default)


def _flag(request: Request, name: str, default: bool) -> bool:
    return flag_arg(request.query_params.get(name), default)


def access_of(request: Request) -> CompatAccess:
    state = request.app.state
    acc: CompatAccess | None = getattr(state, "compat_access", None)
    if acc is None:
        acc = CompatAccess.from_settings(state.config.settings)
        state.compat_access = acc
    return acc


async def _answer(request: Request, work: Callable[[ServerIds], Any]) -> JSONResponse:
    """Admit the request, pick its server, run ``work`` in the thread pool, translate failures
    into the plugins' error shape."""
    try:
        caller = access_of(request).admit(
            request.headers.get("authorization"),
            request.client.host if request.client else None,
        )
    except CompatAccessError as exc:
        return _error(exc.status, exc.message, exc.headers)
    state = request.app.state
    name = caller.server or access_of(request).default_server

    def run() -> Any:
        from sonicmap.api.deps import ensure_schema

        ensure_schema(request)
        holder: SnapshotHolder = state.compat_snapshot
        server = choose_server(state.store, name, holder.servers())
        ids = ServerIds(state.store, server, holder.current())
        return work(ids), ids.answered.get("from", "database")

    try:
        body, source = await anyio.to_thread.run_sync(run, limiter=compute_limiter(state))
        return JSONResponse(body, headers={"X-Sonicmap-Answered-From": source})
    except CompatError as exc:
        return _error(exc.status, exc.message)
    except NoServer as exc:
        return _error(503, str(exc))
    except Exception as exc:  # database down, schema out of date, a bug
        err = translate(exc)
        if err is not None:
            if err.status < 500:
                return _error(err.status, err.message)
            return _error(
                err.status, f"The similarity search service is currently unavailable: {err.message}"
            )
        log.exception("plugin request %s failed", request.url.path)
        return _error(500, "An unexpected error occurred.")


@router.get("/api/health", summary="Liveness for plugins (open)")
async def health() -> dict[str, str]:
    """``{"status": "ok"}``, without authentication (Lyrion's ping)."""
    return {"status": "ok"}


@router.get("/api/similar_tracks", summary="Similar songs (AudioMuse-AI)")
async def similar_tracks(request: Request) -> JSONResponse:
    """A bare array ``[{item_id, title, author, album, album_artist, distance}]``, best first,
    seed excluded. ``item_id`` (or ``title`` + ``artist``), ``n`` (default 10),
    ``eliminate_duplicates`` (default true: at most 3 songs per artist); ``radius_similarity``
    and ``mood_similarity`` are accepted (the order is always by distance)."""
    q = request.query_params
    item_id = q.get("item_id")
    title, artist = q.get("title"), q.get("artist")
    n = _int(request, "n", 10)
    dedupe = _flag(request, "eliminate_duplicates", True)
    if not item_id and not (title and artist):
        return _error(
            400,
            "Request must include either 'item_id' or both 'title' and 'artist', "
            "or 'mood' and 'centroid_index'.",
        )

    def work(ids: ServerIds) -> Any:
        song = item_id
        if not song:
            found = answers.search_tracks(ids, f"{artist} {title}", 0, 50)
            exact = [
                r
                for r in found
                if normalise_name(r["title"]) == normalise_name(title)
                and normalise_name(r["author"]) == normalise_name(artist)
            ]
            if not exact:
                raise CompatError(404, f"Track '{title}' by '{artist}' not found in the database.")
            song = exact[0]["item_id"]
        return answers.similar_tracks(ids, song, n, eliminate_duplicates=dedupe)

    return await _answer(request, work)


@router.get("/api/find_path", summary="Sonic path between two songs (AudioMuse-AI)")
async def find_path(request: Request) -> JSONResponse:
    """``{"path": [...], "total_distance": float}``: ``max_steps`` songs in all (default 25, both
    ends included), starting with ``start_song_id`` and ending with ``end_song_id``; each row has
    its ``distance`` to the start song. ``path_fix_size``, ``mood_pct`` and ``count`` are
    accepted."""
    q = request.query_params
    start, end = q.get("start_song_id"), q.get("end_song_id")
    steps = _int(request, "max_steps", 25)
    return await _answer(request, lambda ids: answers.find_path(ids, start, end, steps))


@router.get("/api/similar_artists", summary="Similar artists (AudioMuse-AI)")
async def similar_artists(request: Request) -> JSONResponse:
    """A bare array ``[{artist, artist_id, divergence, track_count}]``, best first. ``artist`` is
    a name or the server's artist id (``artist_id`` is used when ``artist`` is absent); with
    ``include_component_matches=true`` each row adds ``component_matches`` with representative
    songs of both artists."""
    q = request.query_params
    ref = q.get("artist") or q.get("artist_id")
    n = _int(request, "n", 10)
    comp = _flag(request, "include_component_matches", False)
    return await _answer(
        request, lambda ids: answers.similar_artists(ids, ref, n, component_matches=comp)
    )


@router.post(
    "/api/alchemy",
    summary="Song alchemy: add and subtract seeds (AudioMuse-AI)",
)
async def alchemy(request: Request) -> JSONResponse:
    """Body ``{"items": [{"id", "op": "ADD"|"SUBTRACT", "type": "song"}], "n": 100}`` →
    ``{"results": [...], "filtered_out": [...]}``."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        return _error(413, f"Request body larger than {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _error(413, f"Request body larger than {MAX_BODY} bytes")
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return _error(400, "Invalid request")
    if not isinstance(data, dict):
        return _error(400, "Invalid request")
    return await _answer(
        request, lambda ids: answers.alchemy(ids, data.get("items"), data.get("n"))
    )


@router.get("/api/search_tracks", summary="Search songs (AudioMuse-AI)")
async def search_tracks(request: Request) -> JSONResponse:
    """A bare array ``[{item_id, title, author, album, album_artist}]`` of the songs whose title,
    artist or album hold every word of ``search_query`` (or ``artist`` + ``title``); ``start`` /
    ``end`` page it (default the first 20, at most 500)."""
    q = request.query_params
    text = q.get("search_query")
    if text is None:
        text = " ".join(p for p in (q.get("artist"), q.get("title")) if p)
    start = _int(request, "start", 0)
    end = _int(request, "end", start + answers.SEARCH_DEFAULT)
    return await _answer(request, lambda ids: answers.search_tracks(ids, text or "", start, end))


@router.get(
    "/api/active_tasks",
    summary="The task in progress, {} when idle (AudioMuse-AI)",
)
async def active_tasks(request: Request) -> JSONResponse:
    """``{}`` when no scan or worker task runs; else the oldest running one as
    ``{task_id, parent_task_id, task_type, sub_type_identifier, status, progress, details,
    running_time_seconds}``."""
    return await _answer(request, lambda ids: _active(ids))


def _active(ids: ServerIds) -> dict[str, Any]:
    now = datetime.now(UTC)
    with ids.store.session() as ses:
        scan = ses.scalars(
            select(db.ScanSession)
            .where(db.ScanSession.status == "running")
            .order_by(db.ScanSession.id)
        ).first()
        if scan is not None:
            started = scan.started_at
            done = scan.added + scan.changed + scan.unchanged + scan.failed + scan.moved
            return {
                "task_id": scan.task_id or f"scan-{scan.id}",
                "parent_task_id": None,
                "task_type": "scan",
                "sub_type_identifier": None,
                "status": "PROGRESS",
                "progress": None,
                "details": {"status_message": f"scanning: {done} files done"},
                "running_time_seconds": _seconds(now, started),
            }
        job = ses.scalars(
            select(db.JobRun).where(db.JobRun.status == "running").order_by(db.JobRun.id)
        ).first()
        if job is not None:
            return {
                "task_id": job.task_id or f"job-{job.id}",
                "parent_task_id": None,
                "task_type": job.task,
                "sub_type_identifier": None,
                "status": "PROGRESS",
                "progress": None,
                "details": {"status_message": f"{job.task} running"},
                "running_time_seconds": _seconds(now, job.started_at),
            }
    return {}


def _seconds(now: datetime, started: datetime | None) -> float:
    if started is None:
        return 0.0
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return round(max(0.0, (now - started).total_seconds()), 1)


class MergeSlashes:
    """ASGI middleware: ``//api/x`` → ``/api/x`` (a plugin URL configured with a trailing slash)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope.get("type") == "http" and "//" in path:
            scope = dict(scope, path=re.sub("/{2,}", "/", path))
        await self.app(scope, receive, send)
