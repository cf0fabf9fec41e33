"""Jellyfin client: recursive audio items with path and provider ids, playlists. HTTP only.

Authentication: an API key (``Authorization: MediaBrowser Token="..."``), or a user name and
password exchanged once for an access token (``POST /Users/AuthenticateByName``), kept in memory
only. Playlists belong to a user: with an API key, ``--user`` names that user (looked up in
``GET /Users``).

Endpoints used (Jellyfin's documented REST API, 10.8+): ``GET /System/Info``,
``POST /Users/AuthenticateByName``, ``GET /Users``, ``GET /Items`` (``Recursive``,
``IncludeItemTypes=Audio``, ``Fields=Path,ProviderIds``, ``StartIndex``/``Limit``),
``POST /Playlists``, ``GET /Playlists/{id}/Items``, ``POST /Playlists/{id}/Items``,
``DELETE /Playlists/{id}/Items``, ``DELETE /Items/{id}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sonicmap import __version__
from sonicmap.errors import ServerError
from sonicmap.library.matching import RemoteSong
from sonicmap.remote import http

#: Ticks per second of Jellyfin's ``RunTimeTicks`` (100 ns ticks).
TICKS_PER_S = 10_000_000
IDS_PER_REQUEST = 100


def _song(d: Mapping[str, Any]) -> RemoteSong:
    prov = {str(k).casefold(): v for k, v in (d.get("ProviderIds") or {}).items()}
    artists = d.get("Artists") or []
    items = d.get("ArtistItems") or []
    ticks = d.get("RunTimeTicks")
    return RemoteSong(
        id=str(d["Id"]),
        title=d.get("Name"),
        artist="; ".join(artists) if artists else d.get("AlbumArtist"),
        album=d.get("Album"),
        artist_id=str(items[0]["Id"]) if items and items[0].get("Id") else None,
        duration_s=ticks / TICKS_PER_S if isinstance(ticks, int | float) else None,
        path=d.get("Path") or None,
        mbid=prov.get("musicbrainzrecording") or prov.get("musicbrainztrack") or None,
        isrc=prov.get("isrc") or None,
        track_no=d.get("IndexNumber") if isinstance(d.get("IndexNumber"), int) else None,
        disc_no=d.get("ParentIndexNumber") if isinstance(d.get("ParentIndexNumber"), int) else None,
    )


class JellyfinClient(http.BaseClient):
    kind = "jellyfin"

    def __init__(self, *, secret_type: str = "api_key", **kwargs: Any) -> None:
        super().__init__(secret_type=secret_type, **kwargs)
        self._token: str | None = self._secret if secret_type == "api_key" else None
        self._user_id: str | None = None

    def _auth_header(self) -> str:
        parts = [
            'Client="sonicmap"',
            'Device="sonicmap"',
            f'DeviceId="sonicmap-{self.name}"',
            f'Version="{__version__}"',
        ]
        if self._token:
            parts.append(f'Token="{self._token}"')
        return "MediaBrowser " + ", ".join(parts)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
        auth: bool = True,
    ) -> Any:
        if auth and self._token is None:
            self._login()
        resp = self._request(
            method,
            f"{self.base}{path}",
            params=params,
            headers={"Authorization": self._auth_header()},
            json_body=body,
        )
        if resp.status in (401, 403):
            what = "API key" if self.secret_type == "api_key" else "user name or password"
            raise ServerError(
                self.name, f"refused the {what} (HTTP {resp.status})", code=resp.status
            )
        if resp.status == 404:
            raise ServerError(self.name, f"has no {path.split('?')[0]} (HTTP 404)", code=404)
        if resp.status >= 400:
            raise ServerError(
                self.name, f"answered HTTP {resp.status} to {method} {path}", code=resp.status
            )
        if resp.status == 204 or not resp.body.strip():
            return None
        return resp.json(self.name, "the Jellyfin API")

    def _login(self) -> None:
        doc = self._call(
            "POST",
            "/Users/AuthenticateByName",
            body={"Username": self.username or "", "Pw": self._secret},
            auth=False,
        )
        if not isinstance(doc, dict) or not doc.get("AccessToken"):
            raise ServerError(self.name, "answered the login without an access token")
        self._token = str(doc["AccessToken"])
        user = doc.get("User") or {}
        if user.get("Id"):
            self._user_id = str(user["Id"])

    def user_id(self) -> str:
        """The id of the user playlists belong to."""
        if self._user_id is None:
            if self._token is None:
                self._login()
        if self._user_id is None:
            users = self._call("GET", "/Users") or []
            want = (self.username or "").casefold()
            found = [u for u in users if str(u.get("Name", "")).casefold() == want]
            if not want or len(found) != 1:
                raise ServerError(
                    self.name,
                    f"no Jellyfin user {self.username!r}; give --user with an API key",
                )
            self._user_id = str(found[0]["Id"])
        return self._user_id

    def _checked(self, doc: Any, key: str) -> Any:
        if not isinstance(doc, dict) or key not in doc:
            raise ServerError(self.name, f"answered JSON without {key!r}; is this Jellyfin?")
        return doc[key]

    # -- server ---------------------------------------------------------------------------------
    def ping(self) -> dict[str, Any]:
        info = self._call("GET", "/System/Info")
        version = self._checked(info, "Version")
        return {
            "type": "jellyfin",
            "server_version": version,
            "server_name": info.get("ServerName"),
            "auth": self.secret_type,
            "user_id": self.user_id(),
        }

    # -- catalogue ------------------------------------------------------------------------------
    def iter_catalogue(
        self, cursor: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[list[RemoteSong], dict[str, Any]]]:
        start = int((cursor or {}).get("offset", 0))
        while True:
            params = [
                ("Recursive", "true"),
                ("IncludeItemTypes", "Audio"),
                ("Fields", "Path,ProviderIds"),
                ("SortBy", "SortName"),
                ("StartIndex", str(start)),
                ("Limit", str(self.page_size)),
            ]
            if self.username or self.secret_type != "api_key":
                params.append(("userId", self.user_id()))
            doc = self._call("GET", "/Items", params=params)
            items = self._checked(doc, "Items") or []
            songs = [_song(d) for d in items if d.get("Id")]
            start += len(items)
            if items:
                yield songs, {"via": "items", "offset": start}
            total = doc.get("TotalRecordCount")
            if (
                not items
                or len(items) < self.page_size
                or (isinstance(total, int) and start >= total)
            ):
                return

    # -- playlists ------------------------------------------------------------------------------
    def playlists(self) -> list[dict[str, Any]]:
        doc = self._call(
            "GET",
            "/Items",
            params=[
                ("Recursive", "true"),
                ("IncludeItemTypes", "Playlist"),
                ("userId", self.user_id()),
            ],
        )
        return [
            {
                "id": str(p["Id"]),
                "name": p.get("Name"),
                "owner": self.username,
                "song_count": p.get("ChildCount"),
            }
            for p in self._checked(doc, "Items") or []
        ]

    def _entries(self, playlist_id: str) -> list[dict[str, Any]]:
        doc = self._call(
            "GET", f"/Playlists/{playlist_id}/Items", params=[("userId", self.user_id())]
        )
        return list(self._checked(doc, "Items") or [])

    def playlist_songs(self, playlist_id: str) -> list[str]:
        return [str(e["Id"]) for e in self._entries(playlist_id)]

    def create_playlist(self, name: str, song_ids: Sequence[str]) -> str:
        first, rest = list(song_ids[:IDS_PER_REQUEST]), list(song_ids[IDS_PER_REQUEST:])
        doc = self._call(
            "POST",
            "/Playlists",
            body={"Name": name, "Ids": first, "UserId": self.user_id(), "MediaType": "Audio"},
        )
        pid = str(self._checked(doc, "Id"))
        self._append(pid, rest)
        return pid

    def replace_playlist(self, playlist_id: str, song_ids: Sequence[str]) -> None:
        entries = [str(e.get("PlaylistItemId")) for e in self._entries(playlist_id)]
        for i in range(0, len(entries), IDS_PER_REQUEST):
            self._call(
                "DELETE",
                f"/Playlists/{playlist_id}/Items",
                params=[("entryIds", ",".join(entries[i : i + IDS_PER_REQUEST]))],
            )
        self._append(playlist_id, list(song_ids))

    def _append(self, playlist_id: str, song_ids: list[str]) -> None:
        for i in range(0, len(song_ids), IDS_PER_REQUEST):
            self._call(
                "POST",
                f"/Playlists/{playlist_id}/Items",
                params=[
                    ("ids", ",".join(song_ids[i : i + IDS_PER_REQUEST])),
                    ("userId", self.user_id()),
                ],
            )

    def rename_playlist(self, playlist_id: str, name: str) -> None:
        """``POST /Playlists/{id}`` with a new name (Jellyfin 10.9+)."""
        self._call("POST", f"/Playlists/{playlist_id}", body={"Name": name})

    def delete_playlist(self, playlist_id: str) -> None:
        self._call("DELETE", f"/Items/{playlist_id}")
