"""``GET /health`` (liveness: the process answers) and ``GET /ready`` (database + broker)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from sonicmap import __version__
from sonicmap.api.deps import ConfigDep, QueueDep, responses
from sonicmap.api.errors import ApiError, error_body, translate
from sonicmap.api.schemas import Check, Health, Ready

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness")
async def health() -> Health:
    """Answers 200 while the process serves requests; touches neither database nor broker."""
    return Health(version=__version__)


@router.get(
    "/ready",
    response_model=Ready,
    summary="Readiness: database migrated and reachable, broker reachable",
    responses=responses(503),
)
def ready(request: Request, cfg: ConfigDep, queue: QueueDep) -> Ready | JSONResponse:
    """200 when the database answers and is at this code's schema, and the broker (if any)
    answers; otherwise 503 with a message naming what is down."""
    from sonicmap.store import migrate

    store = request.app.state.store
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        migrate.check_schema(store.engine)
        request.app.state.schema_ok = True
        db = Check(ok=True, detail="reachable, schema up to date")
    except Exception as exc:
        err = translate(exc)
        db = Check(ok=False, detail=err.message if err else f"{type(exc).__name__}: {exc}")
    try:
        broker = Check(ok=True, detail=queue.ping())
    except ApiError as exc:
        broker = Check(ok=False, detail=exc.message)
    if db.ok and broker.ok:
        return Ready(
            mode="embedded" if cfg.settings.embedded else "service", database=db, broker=broker
        )
    down = [f"{name}: {c.detail}" for name, c in (("database", db), ("broker", broker)) if not c.ok]
    return JSONResponse(error_body("not_ready", "; ".join(down)), status_code=503)
