"""ASGI guard in front of the API: a request body is neither read nor parsed before its key is
checked, and never beyond ``SONICMAP_API_MAX_BODY_BYTES``.

* A declared ``Content-Length`` above the cap is refused with 413 at once; a body without one
  (chunked) is counted as it arrives and refused with 413 the moment it passes the cap.
* When the application first asks for the body, routing has happened (``scope["route"]``): if that
  route needs the API key (``needs_key(route)``: the mutating routes, and the reads when they are
  protected) and the headers do not hold it, the answer (401/403, as from the routes) goes out
  before a byte of the body is read.

Either way the application then sees a disconnect instead of the body, and its own answer is
dropped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers

from sonicmap.api.errors import ApiError, error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestGuard:
    """Wraps ``app``; ``needs_key(route)`` tells whether a routed request needs the key,
    ``check_key(headers)`` raises :class:`ApiError` when it is missing or wrong;
    ``max_body_bytes`` caps every request body."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        needs_key: Callable[[Any], bool],
        check_key: Callable[[Headers], None],
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.needs_key = needs_key
        self.check_key = check_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                bad = ApiError(
                    400, "bad_request", f"Content-Length must be a number, got {length!r}"
                )
                await _answer(scope, receive, send, bad)
                return
            if int(length) > self.max_body_bytes:
                await _answer(scope, receive, send, self._too_large())
                return
        received = 0
        first = True
        refused = False
        started = False

        async def refuse(exc: ApiError) -> Message:
            nonlocal refused
            refused = True
            if not started:
                await _answer(scope, receive, send, exc)
            return {"type": "http.disconnect"}

        async def guarded_receive() -> Message:
            nonlocal received, first
            if refused:
                return {"type": "http.disconnect"}
            if first:  # routed by now: check the key before the body is touched
                first = False
                route = scope.get("route")
                if route is not None and self.needs_key(route):
                    try:
                        self.check_key(headers)
                    except ApiError as exc:
                        return await refuse(exc)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    return await refuse(self._too_large())
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # our answer went out; the application's is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, guarded_receive, guarded_send)

    def _too_large(self) -> ApiError:
        return ApiError(
            413,
            "payload_too_large",
            f"request body exceeds {self.max_body_bytes} bytes (SONICMAP_API_MAX_BODY_BYTES)",
        )


async def _answer(scope: Scope, receive: Receive, send: Send, exc: ApiError) -> None:
    resp = error_response(exc.status, exc.code, exc.message, headers=exc.headers)
    resp.headers["Connection"] = "close"  # an unread body must not be taken for a request
    await resp(scope, receive, send)
