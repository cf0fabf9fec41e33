"""Finding an artist by name or a track by path (the CLI's arguments)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from sonicmap.errors import NotFoundError, SonicmapError
from sonicmap.library.identity import normalise_name
from sonicmap.store.schema import (
    Artist,
    Track,
)

if TYPE_CHECKING:
    from sonicmap.store.db import Store


log = logging.getLogger(__name__)


def find_artist(store: Store, name: str) -> int:
    """Id of the artist called ``name`` (case- and Unicode-form-insensitive).

    Raises :class:`NotFoundError` (with up to five close names) or :class:`SonicmapError` when
    several artists share the name.
    """
    want = normalise_name(name)
    with store.read_session() as ses:
        rows = ses.execute(
            select(Artist.id, Artist.name).where(func.lower(Artist.name) == name.lower())
        ).all()
        exact = [r for r in rows if normalise_name(r.name) == want]
        if not exact:  # lower() in SQL is ASCII-only on SQLite: compare folded names in Python
            rows = ses.execute(select(Artist.id, Artist.name)).all()
            exact = [r for r in rows if normalise_name(r.name) == want]
            if not exact:
                near = sorted(r.name for r in rows if want and want in normalise_name(r.name))[:5]
                hint = f"; did you mean: {', '.join(near)}" if near else ""
                raise NotFoundError(f"no artist named {name!r}{hint}")
    if len(exact) > 1:
        raise SonicmapError(
            f"{len(exact)} artists are named {name!r} (ids {', '.join(str(r.id) for r in exact)})"
        )
    return int(exact[0].id)


def find_track(store: Store, path: str | Path) -> int:
    """Id of the track stored under ``path`` (as given, or resolved to an absolute path)."""
    raw = str(path)
    candidates = [raw]
    try:
        p = Path(raw).expanduser()
        candidates += [str(p.absolute()), str(p.resolve())]
    except (OSError, RuntimeError):
        pass
    with store.read_session() as ses:
        for c in dict.fromkeys(candidates):
            tid = ses.scalar(select(Track.id).where(Track.path == c))
            if tid is not None:
                return int(tid)
    raise NotFoundError(f"no track stored at {raw!r}; scan its folder first (sonicmap scan)")
