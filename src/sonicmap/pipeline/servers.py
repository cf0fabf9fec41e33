"""Music servers: their records, the song/artist id mappings a sync stores, and lookups.

The lookups are what the rest of sonicmap (the plugin-compatible endpoints, playlist pushes)
uses to speak a server's ids: ``server song id → track id`` and back, ``server artist id →
artist id`` and back. A server is named by its record (:class:`ServerInfo`), its id (``int``) or
its name (``str``). Lookups read only what the last sync stored; an id the server no longer has
(dropped by a sync) or that matched no track gives ``None`` / is left out of the dict.

The sync itself (:func:`sonicmap.pipeline.server_sync.sync_server`) and the playlist push live
beside this module; the HTTP clients are adapters (:mod:`sonicmap.remote`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sonicmap.errors import ConflictError, NotFoundError, SonicmapError
from sonicmap.store.schema import Server, ServerArtist, ServerSong

if TYPE_CHECKING:
    from sonicmap.store.db import Store


#: Server kinds sonicmap can talk to.
KINDS = ("subsonic", "jellyfin", "lyrion")
#: How a server song was matched to a track, best first (the matching ladder).
METHODS = ("path", "mbid", "isrc", "tags", "title_duration")
#: Secret types and where the secret comes from.
SECRET_TYPES = ("password", "api_key")
SECRET_SOURCES = ("env", "file", "stored", "none")  # none: a Lyrion server without a password
#: Per-server options and their defaults.
DEFAULT_OPTIONS: dict[str, Any] = {
    # sync this server after each library scan
    "sync_after_scan": True,
    # refresh the cluster playlists pushed to this server after a model is activated
    "refresh_playlists_on_activate": False,
    # match by the file paths the server reports (off: tags only)
    "use_paths": True,
    # the server's path of the library root(s), when it differs from sonicmap's
    "path_prefix": None,
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CHUNK = 2000


@dataclass(frozen=True)
class ServerInfo:
    """A configured server. ``secret`` is the reference (never the value, see :meth:`to_dict`)."""

    id: int
    name: str
    kind: str
    url: str
    username: str | None
    secret: Mapping[str, Any] = field(repr=False)  # may hold a stored value: never shown
    options: Mapping[str, Any] = field(default_factory=dict)
    sync_generation: int = 0
    last_sync_at: datetime | None = None
    last_sync: Mapping[str, Any] | None = None
    created_at: datetime | None = None

    def secret_description(self) -> str:
        """Where the secret comes from, never the secret: ``env:VAR``, ``file:PATH``, ``stored``."""
        src = self.secret.get("source")
        if src == "stored":
            return "stored"
        if src in ("env", "file"):
            return f"{src}:{self.secret.get('ref')}"
        return "none"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view for ``servers list --json`` and the API (no secret value)."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "url": self.url,
            "user": self.username,
            "secret": {
                "type": self.secret.get("type"),
                "source": self.secret.get("source"),
                "ref": self.secret.get("ref") if self.secret.get("source") != "stored" else None,
            },
            "options": {**DEFAULT_OPTIONS, **dict(self.options)},
            "last_sync_at": self.last_sync_at.isoformat() if self.last_sync_at else None,
            "last_sync": dict(self.last_sync) if self.last_sync else None,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }

    def option(self, name: str) -> Any:
        return self.options.get(name, DEFAULT_OPTIONS.get(name))


def _info(row: Server) -> ServerInfo:
    return ServerInfo(
        id=row.id,
        name=row.name,
        kind=row.kind,
        url=row.url,
        username=row.username,
        secret=dict(row.secret or {}),
        options=dict(row.options or {}),
        sync_generation=int(row.sync_generation or 0),
        last_sync_at=row.last_sync_at,
        last_sync=row.last_sync,
        created_at=row.created_at,
    )


def validate_secret(secret: Mapping[str, Any]) -> dict[str, Any]:
    """Check a secret reference ``{"type", "source", "ref" | "value"}``; return a clean copy."""
    typ, src = secret.get("type"), secret.get("source")
    if typ not in SECRET_TYPES:
        raise SonicmapError(f"secret type {typ!r} is not one of {', '.join(SECRET_TYPES)}")
    if src not in SECRET_SOURCES:
        raise SonicmapError(f"secret source {src!r} is not one of {', '.join(SECRET_SOURCES)}")
    if src == "stored":
        value = secret.get("value")
        if not isinstance(value, str) or not value:
            raise SonicmapError("a stored secret needs a non-empty value")
        if not value.isprintable():
            raise SonicmapError("a secret may not contain control or unprintable characters")
        return {"type": typ, "source": src, "value": value}
    if src == "none":
        return {"type": typ, "source": src}
    ref = secret.get("ref")
    if not isinstance(ref, str) or not ref.strip():
        raise SonicmapError(f"a secret from {src} needs a non-empty reference")
    return {"type": typ, "source": src, "ref": ref}


def validate_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Known option names only, with values of the expected kind."""
    out: dict[str, Any] = {}
    for k, v in options.items():
        if k not in DEFAULT_OPTIONS:
            raise SonicmapError(
                f"unknown server option {k!r}; expected one of {', '.join(DEFAULT_OPTIONS)}"
            )
        if k == "path_prefix":
            if v is not None and not isinstance(v, str):
                raise SonicmapError(f"option path_prefix must be a string, got {v!r}")
        elif not isinstance(v, bool):
            raise SonicmapError(f"option {k} must be true or false, got {v!r}")
        out[k] = v
    return out


#: What a server URL may look like: http(s), a host name or IP (IPv6 in brackets), an optional
#: port and path; ASCII only (an international host name in its xn-- form), no user info.
URL_PATTERN = r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[!-~]*)?$"
_URL = re.compile(URL_PATTERN)


def validate_url(url: str) -> str:
    """The URL without a trailing ``/``; :class:`SonicmapError` if it is not one sonicmap uses."""
    clean = url.strip().rstrip("/")
    if not _URL.match(clean) or any(c in clean for c in "?#"):
        shown = "(a URL with user info; give the user with --user)" if "@" in url else repr(url)
        raise SonicmapError(
            f"server URL {shown} must be http(s)://host[:port][/path] (ASCII, no query)"
        )
    return clean


# ------------------------------------------------------------------------------ records


def add_server(
    store: Store,
    *,
    name: str,
    kind: str,
    url: str,
    username: str | None,
    secret: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
) -> ServerInfo:
    """Store a new server. Raises :class:`ConflictError` if ``name`` is taken."""
    if not _NAME.match(name or ""):
        raise SonicmapError(
            f"server name {name!r} must be 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    if kind not in KINDS:
        raise SonicmapError(f"server kind {kind!r} is not one of {', '.join(KINDS)}")
    if kind == "subsonic" and not username and secret.get("type") != "api_key":
        raise SonicmapError("a Subsonic server needs --user (or an OpenSubsonic API key)")
    row = Server(
        name=name,
        kind=kind,
        url=validate_url(url),
        username=username or None,
        secret=validate_secret(secret),
        options=validate_options(options or {}),
        sync_generation=0,
    )
    try:
        with store.session() as ses:
            ses.add(row)
            ses.flush()
            return _info(row)
    except IntegrityError:
        raise ConflictError(f"a server named {name!r} already exists") from None


def _row(ses: Session, server: ServerInfo | int | str) -> Server:
    if isinstance(server, ServerInfo):
        server = server.id
    if isinstance(server, int):
        row = ses.get(Server, server)
    else:
        row = ses.scalar(select(Server).where(Server.name == server))
    if row is None:
        raise NotFoundError(f"no server {server!r}; see `sonicmap servers list`")
    return row


def get_server(store: Store, server: ServerInfo | int | str) -> ServerInfo:
    """The server with this id or name (:class:`NotFoundError` if none)."""
    with store.read_session() as ses:
        return _info(_row(ses, server))


def list_servers(store: Store) -> list[ServerInfo]:
    """Every configured server, by name."""
    with store.read_session() as ses:
        return [_info(r) for r in ses.scalars(select(Server).order_by(Server.name))]


def remove_server(store: Store, server: ServerInfo | int | str) -> ServerInfo:
    """Forget a server and everything stored about it (mappings, pushed-playlist records).

    The playlists on the server itself are left alone."""
    with store.session() as ses:
        row = _row(ses, server)
        info = _info(row)
        ses.delete(row)
    return info


def set_options(
    store: Store, server: ServerInfo | int | str, *, url: str | None = None, **options: Any
) -> ServerInfo:
    """Change some per-server options (see :data:`DEFAULT_OPTIONS`) and/or its URL."""
    clean = validate_options(options)
    with store.session() as ses:
        row = _row(ses, server)
        row.options = {**(row.options or {}), **clean}
        if url is not None:
            row.url = validate_url(url)
        ses.flush()
        return _info(row)


def servers_with_option(store: Store, name: str) -> list[ServerInfo]:
    """Servers whose option ``name`` is true (e.g. ``sync_after_scan``)."""
    return [s for s in list_servers(store) if s.option(name)]


# ------------------------------------------------------------------------------ lookups


def _server_id(ses: Session, server: ServerInfo | int | str) -> int:
    if isinstance(server, ServerInfo):
        return server.id
    return _row(ses, server).id


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _pairs(
    store: Store, server: ServerInfo | int | str, key: Any, value: Any, ids: list[Any], *extra: Any
) -> list[Any]:
    """Rows ``(key, value, *extra)`` of the server's mapping table with ``key`` in ``ids`` and a
    non-null ``value`` (``key`` and ``value`` are columns of one of the mapping tables)."""
    table = key.class_
    out: list[Any] = []
    with store.read_session() as ses:
        sid = _server_id(ses, server)
        for chunk in _chunks(ids):
            out.extend(
                ses.execute(
                    select(key, value, *extra).where(
                        table.server_id == sid, key.in_(chunk), value.is_not(None)
                    )
                )
            )
    return out


def songs_to_tracks(
    store: Store, server: ServerInfo | int | str, song_ids: Iterable[str]
) -> dict[str, int]:
    """``{server song id: track id}`` for the given ids that matched a track."""
    ids = list(dict.fromkeys(str(s) for s in song_ids))
    rows = _pairs(store, server, ServerSong.server_song_id, ServerSong.track_id, ids)
    return {s: int(t) for s, t in rows}


def song_to_track(store: Store, server: ServerInfo | int | str, song_id: str) -> int | None:
    """The track a server song id matched, or None (unknown id, or no match)."""
    return songs_to_tracks(store, server, [song_id]).get(str(song_id))


_METHOD_RANK = {m: i for i, m in enumerate(METHODS)}


def tracks_to_songs(
    store: Store, server: ServerInfo | int | str, track_ids: Iterable[int]
) -> dict[int, str]:
    """``{track id: server song id}`` for the given tracks the server has.

    A track the server holds twice (two copies of one file) gives the song matched by the best
    method, then the smallest id (the same answer on every call)."""
    ids = list(dict.fromkeys(int(t) for t in track_ids))
    rows = _pairs(
        store, server, ServerSong.track_id, ServerSong.server_song_id, ids, ServerSong.method
    )
    best: dict[int, tuple[int, str]] = {}
    for t, s, m in rows:
        rank = (_METHOD_RANK.get(m or "", len(METHODS)), s)
        if t not in best or rank < best[t]:
            best[t] = rank
    return {int(t): k[1] for t, k in best.items()}


def track_to_song(store: Store, server: ServerInfo | int | str, track_id: int) -> str | None:
    """The server's song id of a track, or None (the server does not have it)."""
    return tracks_to_songs(store, server, [track_id]).get(int(track_id))


def server_artists_to_artists(
    store: Store, server: ServerInfo | int | str, server_artist_ids: Iterable[str]
) -> dict[str, int]:
    """``{server artist id: sonicmap artist id}`` for the given ids that correspond to one."""
    ids = list(dict.fromkeys(str(s) for s in server_artist_ids))
    rows = _pairs(store, server, ServerArtist.server_artist_id, ServerArtist.artist_id, ids)
    return {s: int(a) for s, a in rows}


def server_artist_to_artist(
    store: Store, server: ServerInfo | int | str, server_artist_id: str
) -> int | None:
    """The sonicmap artist of a server artist id, or None."""
    return server_artists_to_artists(store, server, [server_artist_id]).get(str(server_artist_id))


def artists_to_server_artists(
    store: Store, server: ServerInfo | int | str, artist_ids: Iterable[int]
) -> dict[int, str]:
    """``{artist id: server artist id}``; an artist the server lists under several ids gives
    the smallest id."""
    ids = list(dict.fromkeys(int(a) for a in artist_ids))
    rows = _pairs(store, server, ServerArtist.artist_id, ServerArtist.server_artist_id, ids)
    out: dict[int, str] = {}
    for a, s in sorted(rows, key=lambda r: r[1]):
        out.setdefault(int(a), s)
    return out


def artist_to_server_artist(
    store: Store, server: ServerInfo | int | str, artist_id: int
) -> str | None:
    """The server's artist id of a sonicmap artist, or None."""
    return artists_to_server_artists(store, server, [artist_id]).get(int(artist_id))


def mapping_counts(store: Store, server: ServerInfo | int | str) -> dict[str, Any]:
    """How many server songs are stored, matched, and by which method."""
    from sqlalchemy import func

    with store.read_session() as ses:
        sid = _server_id(ses, server)
        rows = ses.execute(
            select(ServerSong.method, func.count())
            .where(ServerSong.server_id == sid)
            .group_by(ServerSong.method)
        ).all()
    by = {m: int(n) for m, n in rows if m}
    return {
        "songs": sum(int(n) for _, n in rows),
        "matched": sum(by.values()),
        "by_method": {m: by.get(m, 0) for m in METHODS},
    }
