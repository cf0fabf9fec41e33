"""The music-server plugins' error replies (``{"error": "..."}``) and which paths get them.

A leaf module: the API's error handlers (:mod:`sonicmap.api.errors`) and the plugin routes both
use it, without importing each other.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def is_plugin_path(path: str) -> bool:
    """``/api/...`` outside sonicmap's own ``/api/v1``: errors there use the plugins' shape."""
    return path.startswith("/api/") and not (path == "/api/v1" or path.startswith("/api/v1/"))


def plugin_http_error(request: Request, status: int) -> JSONResponse:
    """The plugins' JSON error for an unknown ``/api/...`` path (404) or method (405)."""
    if status == 405:
        return error(405, f"method {request.method} is not allowed on {request.url.path}")
    if status == 404:
        return error(404, f"sonicmap does not implement {request.url.path}")
    return error(status, "request failed")
