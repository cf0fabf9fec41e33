"""The FastAPI application: ``create_app(cfg)`` builds it; ``sonicmap serve`` runs it (uvicorn).

Everything lives under ``/api/v1``; the OpenAPI document is at ``/api/v1/openapi.json`` and the
interactive docs at ``/docs``. The API reads the store and enqueues work on the task queue; it
computes nothing heavy itself.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from sonicmap import __version__
from sonicmap.api.deps import check_key_headers
from sonicmap.api.errors import install_error_handlers
from sonicmap.api.guard import RequestGuard
from sonicmap.api.queue import TaskQueue, make_queue
from sonicmap.api.readcache import ReadCache
from sonicmap.config import AppConfig, load_config
from sonicmap.store.db import Store, open_store

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

DESCRIPTION = """\
Map a music library by sound: scans, artists and tracks with their MIR descriptors, similar
artists/tracks, GMM artist clusters and their lifecycle, background tasks.

**Authentication.** Mutating endpoints (POST, DELETE) need the API key configured with
`SONICMAP_API_KEY`, sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Without a
configured key they answer 403. Reads are open unless `SONICMAP_API_PROTECT_READS=true`.
A request body is read only once the key is checked, and at most `SONICMAP_API_MAX_BODY_BYTES`
of it (default 1 MiB; more answers 413).

**Errors** all have the shape `{"error": {"code": ..., "message": ..., "field": ...}}`.
"""


def _engine_kwargs(url: str) -> dict[str, Any]:
    """Pool sized to the thread pool (40 threads run sync endpoints), short timeouts.

    A request holds at most one connection at a time (routers close their session before a
    pipeline call opens its own), so the pool never deadlocks; a down database answers 503 in
    seconds instead of hanging the request.
    """
    kwargs: dict[str, Any] = {"pool_size": 10, "max_overflow": 30, "pool_timeout": 10}
    if url.startswith("postgres"):
        kwargs["connect_args"] = {"connect_timeout": 3}
    return kwargs


def create_app(
    cfg: AppConfig | None = None,
    *,
    store: Store | None = None,
    queue: TaskQueue | None = None,
    read_cache: bool = True,
    hot_plugin_routes: bool = True,
) -> FastAPI:
    """Build the API.

    Parameters
    ----------
    cfg : AppConfig, optional
        Settings + GMM configuration; default: loaded from the environment.
    store : Store, optional
        An open store; default: opened from ``cfg.settings.effective_database_url`` (the schema
        is checked on the first request, so the app starts even while the database is down).
    queue : TaskQueue, optional
        Where mutating endpoints enqueue work; default: Celery when a broker is configured,
        otherwise a queue that answers 503 (embedded mode).
    read_cache : bool
        Serve the hot reads (similar artists, cluster detail) from the process's
        :class:`~sonicmap.api.readcache.ReadCache` (default); False sends every request to the
        database.
    hot_plugin_routes : bool
        Answer the plugins' ``similar_tracks`` and ``find_path`` from memory in front of the
        framework when possible (:mod:`sonicmap.api.compat.hot`, default); False sends them
        through the routes (the same answers).
    """
    cfg = cfg if cfg is not None else load_config()
    owns_store = store is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owns_store:
            # A server process. Import the pipeline now (scikit-learn, scipy: ~1 s holding the
            # GIL), not in the first request that needs it: that stalled the event loop and every
            # request in flight. Then move everything alive after start-up (~200k objects) out of
            # the garbage collector's sight: a full collection scans only what came later, ~10 ms
            # instead of ~110 ms (more under load), a pause every request in flight waited for.
            import sonicmap.pipeline.clustering  # noqa: F401
            import sonicmap.pipeline.embeddings  # noqa: F401

            gc.collect()
            gc.freeze()
        yield
        app.state.read_cache.close()
        if owns_store:
            app.state.store.dispose()

    app = FastAPI(
        title="sonicmap",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served by sonicmap.web from the package (no CDN)
        redoc_url=None,
        lifespan=lifespan,
    )
    if store is None:
        url = cfg.settings.effective_database_url
        store = open_store(url, check=False, **_engine_kwargs(url))
    app.state.config = cfg
    app.state.store = store
    app.state.queue = queue if queue is not None else make_queue(cfg, store)
    app.state.schema_ok = False
    app.state.read_cache = ReadCache(store, enabled=read_cache)
    install_error_handlers(app)

    from sonicmap.api.routers import artists, gmm, health, scans, sequences, servers, tasks, tracks
    from sonicmap.api.routers import map as map_router

    api = APIRouter(prefix=API_PREFIX)
    # Routes are matched in order and each miss costs a few microseconds: the hot reads (similar
    # artists, cluster detail) come right after the tiny health router.
    for module in (health, artists, gmm, scans, tracks, sequences, tasks, map_router, servers):
        api.include_router(module.router)
    app.include_router(api)
    from sonicmap.web import install as install_web

    install_web(app, openapi_url=f"{API_PREFIX}/openapi.json")  # the page at /, /docs
    _install_compat(app, cfg)
    app.add_middleware(
        RequestGuard,
        max_body_bytes=cfg.settings.api_max_body_bytes,
        needs_key=_key_required(cfg),
        check_key=lambda headers: check_key_headers(cfg, headers),
    )
    if hot_plugin_routes:  # outermost: these answers skip routing and the guard (no body)
        from sonicmap.api.compat.hot import HotRoutes

        app.add_middleware(HotRoutes, state=app.state)
    return app


def _key_required(cfg: AppConfig) -> Callable[[Any], bool]:
    """``needs_key(route)``: whether a route depends on the API key
    (:func:`~sonicmap.api.deps.require_api_key`, or the read check when reads are protected)."""
    from sonicmap.api.deps import require_api_key, require_read_access

    key_checks = {require_api_key}
    if cfg.settings.api_protect_reads:
        key_checks.add(require_read_access)

    def calls(dependant: Any) -> Iterator[Any]:
        for dep in dependant.dependencies:
            yield dep.call
            yield from calls(dep)

    def needs_key(route: Any) -> bool:
        dependant = getattr(route, "dependant", None)
        return dependant is not None and any(c in key_checks for c in calls(dependant))

    return needs_key


def _install_compat(app: FastAPI, cfg: AppConfig) -> None:
    """The music-server plugins' root-level ``/api/...`` routes (after ``/api/v1``, so they never
    shadow it), ``GET /`` for Jellyfin's health probe when no page is served there, and ``//api``
    tolerated. Invalid ``SONICMAP_COMPAT_*`` settings stop the start with a ConfigError."""
    from sonicmap.api.compat import routes as compat
    from sonicmap.api.compat.access import CompatAccess
    from sonicmap.api.compat.snapshot import SnapshotHolder

    app.state.compat_access = CompatAccess.from_settings(cfg.settings)
    app.state.compat_snapshot = SnapshotHolder(app.state.store)  # built on the first request
    if not any(getattr(r, "path", None) == "/" for r in app.routes):

        @app.get("/", include_in_schema=False)
        async def root() -> dict[str, str]:
            return {"name": "sonicmap", "version": __version__, "docs": "/docs"}

    app.include_router(compat.router)
    app.add_middleware(compat.MergeSlashes)
