"""Shared CLI plumbing: configuration at start-up, JSON output, one-line errors."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer

from sonicmap.config import AppConfig, load_config
from sonicmap.errors import SonicmapError

F = TypeVar("F", bound=Callable[..., Any])

_state: dict[str, Any] = {}


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if level != "DEBUG":  # alembic's per-plugin and per-migration INFO lines are noise to users
        logging.getLogger("alembic").setLevel(logging.WARNING)


def get_config() -> AppConfig:
    """The configuration loaded (and validated) at start-up by the app callback."""
    cfg = _state.get("config")
    if cfg is None:
        cfg = load_config()
        _state["config"] = cfg
    return cfg


def set_config(cfg: AppConfig | None) -> None:
    _state["config"] = cfg


def get_store() -> Any:
    """Open the configured database once per process (schema checked, new SQLite initialised)."""
    store = _state.get("store")
    if store is None:
        from sonicmap.store.db import open_store

        store = open_store(get_config().settings.effective_database_url)
        _state["store"] = store
    return store


def _default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj: Any, *, indent: int | None = None) -> str:
    return json.dumps(obj, default=_default, ensure_ascii=False, indent=indent, allow_nan=False)


def emit_json(obj: Any) -> None:
    """Print exactly one JSON document on stdout."""
    sys.stdout.write(dumps(obj, indent=2) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: <message>`` on stderr and return the Exit to raise."""
    first = " ".join(str(message).split())
    sys.stderr.write(f"error: {first}\n")
    return typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Turn SonicmapError (and a few well-known ones) into a one-line error and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except SonicmapError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except OSError as exc:
            raise fail(f"{exc.strerror or exc}: {exc.filename or ''}".strip().rstrip(":")) from None

    return wrapper  # type: ignore[return-value]
