"""Outbound clients for music servers (adapters: HTTP only, no matching or storage logic).

:func:`make_client` turns a stored :class:`~sonicmap.pipeline.servers.ServerInfo` into a client,
resolving the secret from where its reference points (an environment variable or a file) at
that moment; the secret lives only in the client object and is never printed or logged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from sonicmap.errors import ServerError
from sonicmap.library.matching import RemoteSong

#: Seconds a request may take before the server counts as not answering.
DEFAULT_TIMEOUT_S = 30.0


class ServerClient(Protocol):
    """What the sync and the playlist push need from a server client."""

    name: str
    kind: str
    username: str | None
    requests: int
    server_seconds: float

    def ping(self) -> dict[str, Any]: ...

    def iter_catalogue(
        self, cursor: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[list[RemoteSong], dict[str, Any]]]: ...

    def playlists(self) -> list[dict[str, Any]]: ...

    def playlist_songs(self, playlist_id: str) -> list[str]: ...

    def create_playlist(self, name: str, song_ids: Sequence[str]) -> str: ...

    def replace_playlist(self, playlist_id: str, song_ids: Sequence[str]) -> None: ...

    def rename_playlist(self, playlist_id: str, name: str) -> None: ...

    def delete_playlist(self, playlist_id: str) -> None: ...


def resolve_secret(
    server: str, secret: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> str:
    """The secret a reference points to (``ServerError`` naming the server and the reference,
    never a value, when it cannot be read)."""
    ref = secret or {}
    src, where = ref.get("source"), ref.get("ref")
    if src == "stored":
        return str(ref.get("value") or "")
    if src == "none":  # a server that asks for no password (Lyrion without protection)
        return ""
    if src == "env":
        value = (os.environ if env is None else env).get(str(where))
        if not value:
            raise ServerError(server, f"the environment variable {where} (its secret) is not set")
        return value
    if src == "file":
        try:
            value = Path(str(where)).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ServerError(
                server, f"cannot read its secret file {where} ({exc.strerror or exc})"
            ) from None
        if not value:
            raise ServerError(server, f"its secret file {where} is empty")
        return value
    raise ServerError(server, "has no secret configured")


def make_client(
    server: Any,
    *,
    timeout: float | None = None,
    page_size: int | None = None,
    env: Mapping[str, str] | None = None,
) -> ServerClient:
    """A client for a stored server (:class:`~sonicmap.pipeline.servers.ServerInfo`)."""
    kwargs: dict[str, Any] = {
        "name": server.name,
        "url": server.url,
        "username": server.username,
        "secret": resolve_secret(server.name, server.secret, env),
        "secret_type": (server.secret or {}).get("type", "password"),
        "timeout": float(timeout or DEFAULT_TIMEOUT_S),
    }
    if page_size:
        kwargs["page_size"] = int(page_size)
    if server.kind == "subsonic":
        from sonicmap.remote.subsonic import SubsonicClient

        return SubsonicClient(**kwargs)
    if server.kind == "jellyfin":
        from sonicmap.remote.jellyfin import JellyfinClient

        return JellyfinClient(**kwargs)
    if server.kind == "lyrion":
        from sonicmap.remote.lyrion import LyrionClient

        return LyrionClient(**kwargs)
    raise ServerError(server, f"unknown server kind {server.kind!r}")
