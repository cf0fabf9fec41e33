"""One music server's id space for the plugin routes: server ids in, server ids out.

Incoming song and artist ids are resolved **only** through the mappings the last
``sonicmap servers sync`` stored for that server (:mod:`sonicmap.pipeline.servers`); a bare
integer is never taken for one of sonicmap's own track ids (Ampache probes ``<id>`` before
``so-<id>``: a wrong hit on the first form would poison its answer). Outgoing rows keep only the
tracks and artists that server has, with the server's ids as strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sonicmap.errors import SonicmapError
from sonicmap.pipeline import servers
from sonicmap.store.db import Store


class NoServer(SonicmapError):
    """No music server can answer this request (none configured, or an ambiguous default)."""


def choose_server(
    store: Store, name: str | None, known: list[servers.ServerInfo] | None = None
) -> servers.ServerInfo:
    """The server named ``name`` (a token's server or ``SONICMAP_COMPAT_SERVER``), else the only
    configured one; ``known``: the configured servers, if already read. Raises
    :class:`NoServer` with what to do."""
    if known is None:
        known = servers.list_servers(store)
    if name:
        for s in known:
            if s.name == name:
                return s
        raise NoServer(f"music server {name!r} is not configured (sonicmap servers add {name} ...)")
    if not known:
        raise NoServer(
            "no music server is configured: add one with 'sonicmap servers add' and sync it "
            "with 'sonicmap servers sync'"
        )
    if len(known) > 1:
        names = ", ".join(s.name for s in known)
        raise NoServer(
            f"several music servers are configured ({names}): set SONICMAP_COMPAT_SERVER or give "
            "each plugin its own token in SONICMAP_COMPAT_TOKENS"
        )
    return known[0]


@dataclass(frozen=True)
class ServerIds:
    """Translation between one server's ids and sonicmap's, for one request; ``snapshot`` (when
    the process has one) answers the hot routes from memory."""

    store: Store
    server: servers.ServerInfo
    snapshot: Any = None
    answered: dict[str, str] = field(default_factory=dict)
    """``{"from": "memory"}`` once an answer came from the snapshot (the routes report it in the
    ``X-Sonicmap-Answered-From`` header)."""

    def memory(self) -> tuple[Any, Any] | None:
        """``(snapshot, its ServerMap of this server)``, or None without a snapshot."""
        snap = self.snapshot
        if snap is None:
            return None
        s = self.server
        return snap, snap.server_map(self.store, s.id, s.sync_generation, s.last_sync_at)

    def track(self, song_id: str | None) -> int | None:
        if not song_id:
            return None
        return servers.song_to_track(self.store, self.server, song_id)

    def songs(self, track_ids: Iterable[int]) -> dict[int, str]:
        return servers.tracks_to_songs(self.store, self.server, track_ids)

    def artist(self, server_artist_id: str) -> int | None:
        return servers.server_artist_to_artist(self.store, self.server, server_artist_id)

    def server_artists(self, artist_ids: Iterable[int]) -> dict[int, str]:
        return servers.artists_to_server_artists(self.store, self.server, artist_ids)

    def not_synced_hint(self) -> str:
        """A hint for a 404 when the server has no matched song at all (never synced)."""
        counts = servers.mapping_counts(self.store, self.server)
        if counts["matched"]:
            return ""
        return (
            f" (music server {self.server.name!r} has no synced songs yet: run "
            f"'sonicmap servers sync {self.server.name}')"
        )
