"""FastAPI dependencies: configuration, store, session, task queue, authentication, paging.

Dependencies that do no I/O are ``async def``: FastAPI runs them on the event loop instead of
handing each one to the thread pool (a measurable share of a small request's cost).

Use the ``Annotated`` aliases in routers (``SessionDep``, ``StoreDep``, ``ConfigDep``,
``QueueDep``, ``PageDep``); mutating routes add ``dependencies=[RequireKey]``.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from sonicmap.api.errors import ApiError
from sonicmap.api.queue import TaskQueue
from sonicmap.api.readcache import ReadCache
from sonicmap.config import AppConfig
from sonicmap.store.db import Store

MAX_LIMIT = 500
_schema_lock = threading.Lock()


async def get_config(request: Request) -> AppConfig:
    return request.app.state.config


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_queue(request: Request) -> TaskQueue:
    return request.app.state.queue


def ensure_schema(request: Request) -> None:
    """Refuse (503 ``schema_out_of_date``) until the database is at this code's schema head.

    Checked on the first request that needs the database, then remembered for the process. One
    check at a time: the requests that arrive meanwhile wait for it instead of each running its
    own (a herd of Alembic checks on a cold start under load).
    """
    state = request.app.state
    if getattr(state, "schema_ok", False):
        return
    from sonicmap.store import migrate

    with _schema_lock:
        if getattr(state, "schema_ok", False):
            return
        migrate.check_schema(state.store.engine)
        state.schema_ok = True


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A read session; anything it leaves open is rolled back at the end of the request.

    Async so that it costs no thread-pool hop: creating a session does no I/O (it connects on
    first use, inside the endpoint's thread); closing it returns the connection to the pool.
    The one-time schema check runs in the thread pool; closing (a rollback of the read
    transaction, microseconds on SQLite, one loopback round trip on PostgreSQL) runs on the loop.
    """
    if not getattr(request.app.state, "schema_ok", False):
        await run_in_threadpool(ensure_schema, request)
    session = request.app.state.store.sessions()
    try:
        yield session
    finally:
        session.close()


async def cache_generation(request: Request) -> tuple[ReadCache, int] | None:
    """The process's read cache and its current generation, or None when it can't be used.

    Checks the schema first (as :func:`get_session` does). The change check runs on the event
    loop when it does no network I/O (SQLite), else in the thread pool.
    """
    state = request.app.state
    rc: ReadCache | None = getattr(state, "read_cache", None)
    if rc is None or not rc.available:
        return None
    if not getattr(state, "schema_ok", False):
        await run_in_threadpool(ensure_schema, request)
    gen = rc.check() if rc.inline else await run_in_threadpool(rc.check)
    return None if gen is None else (rc, gen)


ConfigDep = Annotated[AppConfig, Depends(get_config)]
StoreDep = Annotated[Store, Depends(get_store)]
SessionDep = Annotated[Session, Depends(get_session)]
QueueDep = Annotated[TaskQueue, Depends(get_queue)]

# -- authentication ---------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <SONICMAP_API_KEY>`")
_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="`X-API-Key: <SONICMAP_API_KEY>`"
)

NO_KEY_MESSAGE = (
    "this endpoint needs an API key but the server has none configured; set SONICMAP_API_KEY "
    "(e.g. `SONICMAP_API_KEY=$(openssl rand -hex 32)` in .env) and restart the API"
)


def _check_key(
    cfg: AppConfig,
    bearer: HTTPAuthorizationCredentials | None,
    header: str | None,
) -> None:
    key = cfg.settings.api_key
    if key is None or not key.get_secret_value():
        raise ApiError(403, "api_key_not_configured", NO_KEY_MESSAGE)
    supplied = bearer.credentials if bearer is not None else header
    challenge = {"WWW-Authenticate": 'Bearer realm="sonicmap"'}
    if not supplied:
        raise ApiError(
            401,
            "missing_api_key",
            "this endpoint needs the API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
            headers=challenge,
        )
    if not hmac.compare_digest(
        supplied.encode("utf-8", "surrogateescape"), key.get_secret_value().encode("utf-8")
    ):
        raise ApiError(401, "invalid_api_key", "the API key is wrong", headers=challenge)


def check_key_headers(cfg: AppConfig, headers: Any) -> None:
    """:func:`_check_key` on raw request headers (``Authorization: Bearer`` or ``X-API-Key``),
    for the guard that runs before routing (see :mod:`sonicmap.api.guard`)."""
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    bearer = None
    if scheme.lower() == "bearer" and token.strip():
        bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
    _check_key(cfg, bearer, headers.get("x-api-key"))


async def require_api_key(
    cfg: ConfigDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> None:
    """Mutating endpoints: the configured key must be supplied (constant-time comparison)."""
    _check_key(cfg, bearer, header)


async def require_read_access(
    cfg: ConfigDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> None:
    """Read endpoints: open unless ``SONICMAP_API_PROTECT_READS`` is true."""
    if cfg.settings.api_protect_reads:
        _check_key(cfg, bearer, header)


RequireKey = Depends(require_api_key)
ReadAccess = Depends(require_read_access)

# -- paging -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page (1..{MAX_LIMIT}).")
    ] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]

ID_DESCRIPTION = "Integer id (>= 1)."


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries (error shape) for the given status codes."""
    from sonicmap.api.schemas import ErrorResponse

    text = {
        401: "Missing or wrong API key.",
        403: "No API key configured on the server, or path outside the library roots.",
        404: "Unknown id.",
        409: "Conflict with the current state.",
        422: "Invalid parameter; `field` names it.",
        503: "Database or broker unavailable (or no broker in embedded mode).",
    }
    return {c: {"model": ErrorResponse, "description": text.get(c, "Error.")} for c in codes}


READ_ERRORS = (401, 403, 422, 503)
WRITE_ERRORS = (401, 403, 422, 503)
