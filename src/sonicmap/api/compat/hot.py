"""The plugins' two hot routes answered from memory, in front of the framework.

Jellyfin calls ``GET /api/similar_tracks`` up to 20 times in a row inside one Instant Mix, and
``GET /api/find_path`` is the other call every plugin makes. Through FastAPI an answer cost about
twice its own work: routing past every ``/api/v1`` route, the request guard, dependency solving,
a thread hop, the response class. :class:`HotRoutes` is an ASGI middleware, outermost, that
answers these two requests itself **only when it can give the 200 answer from the process's
snapshot** (:mod:`.snapshot`), byte for byte what the routes (:mod:`.routes`) send: the same body,
the same headers. Everything else goes to the application unchanged — any error (a missing
parameter, a refused token, an unknown song), a seed not in the snapshot, no snapshot yet, a
server mapping not loaded yet, the schema not checked yet, a request with a body, a failure —
so the errors, the access rules and the database fallback stay the routes' own.

``similar_tracks`` (well under a millisecond of numpy) is answered on the event loop;
``find_path`` (a few milliseconds of planning) on the routes' compute threads.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread

from sonicmap.api.compat import memory
from sonicmap.api.compat.access import CompatAccess, CompatAccessError
from sonicmap.api.compat.common import compute_limiter, flag_arg, int_arg
from sonicmap.api.compat.ids import NoServer, choose_server

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

SIMILAR = "/api/similar_tracks"
PATH = "/api/find_path"

_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
"""What Starlette's ``JSONResponse`` renders (the same bytes), built once."""
_HEADERS = [(b"x-sonicmap-answered-from", b"memory")]


class HotRoutes:
    """ASGI middleware: ``state`` is the application's state (its store, snapshot holder,
    access rules and ``schema_ok``)."""

    def __init__(self, app: Any, *, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            if "//" in path:
                path = re.sub("/{2,}", "/", path)
            if path in (SIMILAR, PATH):
                try:
                    body = await self._answer(path, scope)
                except Exception:  # the route answers (and reports) it
                    log.debug("hot route %s left to the application", path, exc_info=True)
                    body = None
                if body is not None:
                    headers = [
                        *_HEADERS,
                        (b"content-length", str(len(body)).encode("latin-1")),
                        (b"content-type", b"application/json"),
                    ]
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    async def _answer(self, path: str, scope: Scope) -> bytes | None:
        """The body of the 200 answer from memory, or None: the application answers."""
        state = self.state
        access: CompatAccess | None = getattr(state, "compat_access", None)
        if access is None or not getattr(state, "schema_ok", False):
            return None
        authorization = None
        for key, value in scope["headers"]:
            if key == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif key == b"transfer-encoding" or (key == b"content-length" and value != b"0"):
                return None  # a body: the request guard's rules apply
        client = scope.get("client")
        try:
            caller = access.admit(authorization, client[0] if client else None)
        except CompatAccessError:
            return None
        ready = state.compat_snapshot.ready()
        if ready is None:
            return None
        snap, known = ready
        try:
            server = choose_server(state.store, caller.server or access.default_server, known)
        except NoServer:
            return None
        smap = snap.loaded_map(server.id, server.sync_generation, server.last_sync_at)
        if smap is None:
            return None
        q = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        answer: Any
        if path == SIMILAR:
            song = q.get("item_id")
            if not song:
                return None
            n = int_arg(q.get("n"), 10)
            dedupe = flag_arg(q.get("eliminate_duplicates"), True)
            answer = memory.similar_tracks(snap, smap, song, n, dedupe)
        else:
            start, end = q.get("start_song_id"), q.get("end_song_id")
            if not start or not end or start == end:
                return None
            steps = int_arg(q.get("max_steps"), 25)
            answer = await anyio.to_thread.run_sync(
                memory.find_path, snap, smap, start, end, steps, limiter=compute_limiter(state)
            )
        return None if answer is None else _encode(answer).encode("utf-8")
