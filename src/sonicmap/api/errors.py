"""One JSON error shape for every failure the API reports, and the handlers that produce it.

Every error response body is ``{"error": {"code": ..., "message": ..., "field"?: ...}}``:

========  ==========================  ===============================================================
status    code(s)                     when
========  ==========================  ===============================================================
401       ``missing_api_key``,        a protected endpoint was called without a key / with a wrong key
          ``invalid_api_key``
403       ``api_key_not_configured``  a protected endpoint was called but the server has no
                                      ``SONICMAP_API_KEY``
403       ``path_not_allowed``        ``POST /scans`` with a path outside every library root
404       ``not_found``               unknown id (or unknown route)
405       ``method_not_allowed``      wrong HTTP method on a known route
409       ``conflict``                e.g. deleting the active model; no library roots configured
422       ``invalid_parameter``       a bad query / path / body value; ``field`` names it
503       ``database_unavailable``,   the database or the broker cannot be reached, the schema is
          ``broker_unavailable``,     not migrated, or no broker is configured (embedded mode)
          ``schema_out_of_date``,
          ``not_ready``
500       ``internal_error``          a bug: logged with its traceback, never sent to the client
========  ==========================  ===============================================================
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from sonicmap.errors import (
    ConflictError,
    NotEmbeddedError,
    NotEnoughDataError,
    NotFoundError,
    PathNotAllowedError,
    SchemaVersionError,
    SonicmapError,
    StoreError,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with an HTTP status, a machine-readable code and a human message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


class BrokerUnavailable(ApiError):
    """The Celery broker cannot be reached or is not configured."""

    def __init__(self, message: str) -> None:
        super().__init__(503, "broker_unavailable", message)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        err["field"] = field
    return {"error": err}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
    503: "service_unavailable",
}


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("query", "path", "body", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or None


def _validation_message(err: dict[str, Any], field: str | None) -> str:
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    where = f"{field}: " if field else ""
    if "input" in err and err.get("type") != "missing":
        got = err["input"]
        if isinstance(got, str | int | float | bool) or got is None:
            return f"{where}{msg}, got {got!r}"
    return f"{where}{msg}"


#: Exceptions meaning "the database cannot be reached / refused the request".
DB_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, PoolTimeout)
#: Exceptions meaning "the broker / result backend cannot be reached".
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    KombuOperationalError,
    RedisConnectionError,
    RedisTimeout,
)


def is_broker_error(exc: BaseException) -> bool:
    return isinstance(exc, BROKER_ERRORS)


def translate(exc: BaseException) -> ApiError | None:
    """Map a library exception to the API error it stands for (``None``: not a known one)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, NotFoundError):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, NotEmbeddedError):
        return ApiError(409, "no_embedding", str(exc))
    if isinstance(exc, ConflictError):
        return ApiError(409, "conflict", str(exc))
    if isinstance(exc, NotEnoughDataError):
        return ApiError(409, "not_enough_data", str(exc))
    if isinstance(exc, PathNotAllowedError):
        return ApiError(403, "path_not_allowed", str(exc), field="path")
    if isinstance(exc, SchemaVersionError):
        return ApiError(503, "schema_out_of_date", str(exc))
    if isinstance(exc, StoreError):
        return ApiError(503, "database_unavailable", str(exc))
    if isinstance(exc, DB_ERRORS):
        return ApiError(
            503,
            "database_unavailable",
            "the database cannot be reached or refused the request "
            f"({type(exc).__name__}); check SONICMAP_DATABASE_URL and that the database is running",
        )
    if is_broker_error(exc):
        return ApiError(
            503,
            "broker_unavailable",
            "the task broker cannot be reached; check SONICMAP_BROKER_URL and that Redis is running",
        )
    if isinstance(exc, SonicmapError):
        return ApiError(422, "invalid_request", str(exc))
    return None


def _translatable_types() -> list[type[BaseException]]:
    return [SonicmapError, *DB_ERRORS, *BROKER_ERRORS]


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers so that every error leaves the API in the one JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _field_of(first.get("loc", ()))
        message = _validation_message(first, field)
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem(s))"
        return error_response(422, "invalid_parameter", message, field=field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        from sonicmap.api.compat.replies import is_plugin_path, plugin_http_error

        if is_plugin_path(request.url.path):  # the music-server plugins' {"error": "..."} shape
            return plugin_http_error(request, exc.status_code)
        code = _STATUS_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 400 and "parsing the body" in detail:
            # A malformed JSON body is a bad parameter like any other: 422 naming it.
            return error_response(
                422, "invalid_parameter", "body: expected a JSON object", field="body"
            )
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such endpoint; see /docs for the API"
        return error_response(exc.status_code, code, detail, headers=getattr(exc, "headers", None))

    async def _known(request: Request, exc: Exception) -> JSONResponse:
        api_err = translate(exc)
        if api_err is None:  # pragma: no cover - only registered for translatable types
            return error_response(500, "internal_error", "internal error; see the server log")
        if api_err.status >= 500:
            log.warning(
                "request failed method=%s path=%s status=%d error=%s",
                request.method,
                request.url.path,
                api_err.status,
                exc,
            )
        return error_response(api_err.status, api_err.code, api_err.message, field=api_err.field)

    for exc_type in _translatable_types():
        app.add_exception_handler(exc_type, _known)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        api_err = translate(exc)
        if api_err is not None:
            if api_err.status >= 500:
                log.warning(
                    "request failed method=%s path=%s status=%d error=%s",
                    request.method,
                    request.url.path,
                    api_err.status,
                    exc,
                )
            return error_response(
                api_err.status, api_err.code, api_err.message, field=api_err.field
            )
        log.exception("unhandled error method=%s path=%s", request.method, request.url.path)
        return error_response(
            500, "internal_error", "internal error; the server log has the details"
        )
