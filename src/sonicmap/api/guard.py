"""ASGI guard in front of the API: a request body is neither read nor parsed before its key is
checked, and never beyond ``SONICMAP_API_MAX_BODY_BYTES``.

* A mutating request (POST, PUT, PATCH, DELETE) under the API prefix that carries a body must
  hold the API key in its headers; without it the answer (401/403, as from the routes) goes out
  before a byte of the body is read.
* A declared ``Content-Length`` above the cap is refused with 413 at once; a body without one
  (chunked) is counted as it arrives and refused with 413 the moment it passes the cap (what was
  read is dropped; the application sees a disconnect and its answer is discarded).
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

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RequestGuard:
    """Wraps ``app``; ``check_key(headers)`` raises :class:`ApiError` when the key is missing or
    wrong; ``max_body_bytes`` caps every request body."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        check_key: Callable[[Headers], None],
        prefix: str,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.check_key = check_key
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        has_body = (length not in (None, "0")) or "transfer-encoding" in headers
        path = "/" + scope["path"].lstrip("/")  # "//api/v1/..." is routed like "/api/v1/..."
        if has_body and scope["method"] in MUTATING and path.startswith(self.prefix):
            try:
                self.check_key(headers)
            except ApiError as exc:
                await self._answer(scope, receive, send, exc)
                return
        if length is not None:
            if not length.isdigit():
                bad = ApiError(
                    400, "bad_request", f"Content-Length must be a number, got {length!r}"
                )
                await self._answer(scope, receive, send, bad)
                return
            if int(length) > self.max_body_bytes:
                await self._answer(scope, receive, send, self._too_large())
                return
        await self._counted(scope, receive, send)

    def _too_large(self) -> ApiError:
        return ApiError(
            413,
            "payload_too_large",
            f"request body exceeds {self.max_body_bytes} bytes (SONICMAP_API_MAX_BODY_BYTES)",
        )

    @staticmethod
    async def _answer(scope: Scope, receive: Receive, send: Send, exc: ApiError) -> None:
        resp = error_response(exc.status, exc.code, exc.message, headers=exc.headers)
        resp.headers["Connection"] = "close"  # the unread body must not be taken for a request
        await resp(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        refused = False
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    refused = True
                    if not started:
                        await self._answer(scope, receive, send, self._too_large())
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # our 413 went out; the application's answer is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, guarded_receive, guarded_send)
