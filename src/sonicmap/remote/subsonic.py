"""Subsonic / OpenSubsonic client (Navidrome, gonic, Ampache, LMS via its plugin, Airsonic,
supysonic): JSON responses, the catalogue in pages, playlists. HTTP only, no matching logic.

Authentication, in this order:
- an OpenSubsonic API key (``apiKey=``) when the secret is one;
- token authentication (``t`` = md5(password + salt), ``s`` = salt);
- when the server refuses tokens (error 41/42, or a missing ``p`` (10), or 40/30 from servers
  that predate tokens), the password hex-encoded (``p=enc:...``), once, and from then on.

A ``status: "failed"`` body becomes a :class:`ServerError` with the server's code and message.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sonicmap.errors import ServerError
from sonicmap.library.matching import RemoteSong
from sonicmap.remote import http

API_VERSION = "1.16.1"
CLIENT = "sonicmap"
#: Error codes after which a token request is retried with the password (see module docs).
TOKEN_REFUSED = frozenset({10, 30, 40, 41, 42})
#: Song ids sent per request when filling a playlist (keeps URLs under ~8 kB).
SONGS_PER_REQUEST = 100


def _song(d: Mapping[str, Any]) -> RemoteSong:
    isrc = d.get("isrc")
    if isinstance(isrc, list):
        isrc = isrc[0] if isrc else None
    dur = d.get("duration")
    return RemoteSong(
        id=str(d["id"]),
        title=d.get("title"),
        artist=d.get("artist") or d.get("displayArtist"),
        album=d.get("album"),
        artist_id=str(d["artistId"]) if d.get("artistId") is not None else None,
        duration_s=float(dur) if isinstance(dur, int | float) else None,
        path=d.get("path") or None,
        mbid=d.get("musicBrainzId") or None,
        isrc=isrc or None,
        track_no=d.get("track") if isinstance(d.get("track"), int) else None,
        disc_no=d.get("discNumber") if isinstance(d.get("discNumber"), int) else None,
    )


class SubsonicClient(http.BaseClient):
    """One server. ``secret`` is the password (or the API key when ``secret_type="api_key"``)."""

    kind = "subsonic"

    def __init__(self, *, secret_type: str = "password", **kwargs: Any) -> None:
        super().__init__(secret_type=secret_type, **kwargs)
        self.mode = "api_key" if secret_type == "api_key" else "token"

    # -- transport ------------------------------------------------------------------------------
    def _auth(self, mode: str) -> list[tuple[str, str]]:
        if mode == "api_key":
            return [("apiKey", self._secret)]
        user = [("u", self.username or "")]
        if mode == "token":
            salt = secrets.token_hex(8)
            token = hashlib.md5((self._secret + salt).encode()).hexdigest()  # noqa: S324 - the protocol
            return [*user, ("t", token), ("s", salt)]
        return [*user, ("p", "enc:" + self._secret.encode().hex())]

    def _once(self, method: str, params: Sequence[tuple[str, str]], mode: str) -> dict[str, Any]:
        query = [*self._auth(mode), ("v", API_VERSION), ("c", CLIENT), ("f", "json"), *params]
        resp = self._request("GET", f"{self.base}/rest/{method}.view", params=query)
        doc = resp.json(self.name, "the Subsonic API")
        body = doc.get("subsonic-response") if isinstance(doc, dict) else None
        if not isinstance(body, dict) or "status" not in body:
            raise ServerError(
                self.name,
                f"answered JSON without a Subsonic response (HTTP {resp.status}); check the URL",
            )
        return body

    def call(self, method: str, params: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        """The ``subsonic-response`` object of a successful call (see module docs for auth)."""
        body = self._once(method, params, self.mode)
        if body.get("status") != "ok" and self.mode == "token":
            code = (body.get("error") or {}).get("code")
            if code in TOKEN_REFUSED:
                retry = self._once(method, params, "password")
                if retry.get("status") == "ok":
                    self.mode = "password"
                    return retry
                body = retry
        if body.get("status") != "ok":
            err = body.get("error") or {}
            code, message = err.get("code"), str(err.get("message") or "no message").strip()
            hint = {
                40: "wrong username or password",
                41: "token authentication refused",
                42: "authentication mechanism not supported",
                44: "invalid API key",
                50: "not allowed for this user",
                70: "not found",
            }.get(code)
            cause = f"Subsonic error {code}: {message}" + (
                f" ({hint})" if hint and hint.lower() not in message.lower() else ""
            )
            raise ServerError(self.name, cause, code=code if isinstance(code, int) else None)
        return body

    # -- server ---------------------------------------------------------------------------------
    def extensions(self) -> dict[str, list[int]]:
        """OpenSubsonic extensions the server advertises (``{}`` for plain Subsonic)."""
        try:
            body = self.call("getOpenSubsonicExtensions")
        except ServerError as exc:
            if exc.code is None:  # transport, HTML, garbage: the caller must hear it
                raise
            return {}
        return {
            str(e.get("name")): list(e.get("versions") or [])
            for e in body.get("openSubsonicExtensions") or []
            if isinstance(e, dict)
        }

    def ping(self) -> dict[str, Any]:
        """Reachable and credentials accepted: ``{version, type, server_version, open_subsonic,
        auth}``. With an API key, the server must advertise OpenSubsonic's
        ``apiKeyAuthentication``."""
        if self.mode == "api_key" and "apiKeyAuthentication" not in self.extensions():
            raise ServerError(
                self.name,
                "does not advertise OpenSubsonic API keys (apiKeyAuthentication); "
                "give a password instead (--password-env / --password-file)",
            )
        body = self.call("ping")
        return {
            "api_version": body.get("version"),
            "type": body.get("type"),
            "server_version": body.get("serverVersion"),
            "open_subsonic": bool(body.get("openSubsonic")),
            "auth": self.mode,
        }

    # -- catalogue ------------------------------------------------------------------------------
    def iter_catalogue(
        self, cursor: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[list[RemoteSong], dict[str, Any]]]:
        """Pages of songs and, with each, the cursor to resume *after* it.

        ``search3`` with an empty query, ``songCount`` at a time; a server that refuses an empty
        query (an error, or no song while it lists albums) is read album by album
        (``getAlbumList2`` + ``getAlbum``)."""
        cur = dict(cursor or {"via": "search3", "offset": 0})
        if cur.get("via") == "search3":
            offset = int(cur.get("offset", 0))
            try:
                first = self._search_page(offset)
            except ServerError as exc:
                if exc.code in (None, 40, 41, 42, 44, 50):
                    raise
                first = None
            if first is not None and (first or offset > 0 or not self._has_albums()):
                page = first
                while page:
                    offset += len(page)
                    yield page, {"via": "search3", "offset": offset}
                    if len(page) < self.page_size:
                        return
                    page = self._search_page(offset)
                return
            cur = {"via": "albums", "offset": 0}
        yield from self._iter_albums(int(cur.get("offset", 0)))

    def _search_page(self, offset: int) -> list[RemoteSong]:
        body = self.call(
            "search3",
            [
                ("query", ""),
                ("artistCount", "0"),
                ("albumCount", "0"),
                ("songCount", str(self.page_size)),
                ("songOffset", str(offset)),
            ],
        )
        return [_song(s) for s in (body.get("searchResult3") or {}).get("song") or []]

    def _album_page(self, offset: int, size: int) -> list[dict[str, Any]]:
        body = self.call(
            "getAlbumList2",
            [("type", "alphabeticalByName"), ("size", str(size)), ("offset", str(offset))],
        )
        return list((body.get("albumList2") or {}).get("album") or [])

    def _has_albums(self) -> bool:
        return bool(self._album_page(0, 1))

    def _iter_albums(self, offset: int) -> Iterator[tuple[list[RemoteSong], dict[str, Any]]]:
        size = min(self.page_size, 500)
        while True:
            albums = self._album_page(offset, size)
            songs: list[RemoteSong] = []
            for a in albums:
                body = self.call("getAlbum", [("id", str(a["id"]))])
                songs.extend(_song(s) for s in (body.get("album") or {}).get("song") or [])
            offset += len(albums)
            if albums:
                yield songs, {"via": "albums", "offset": offset}
            if len(albums) < size:
                return

    # -- playlists ------------------------------------------------------------------------------
    def playlists(self) -> list[dict[str, Any]]:
        """``[{id, name, owner, song_count}]`` the user can see."""
        body = self.call("getPlaylists")
        return [
            {
                "id": str(p["id"]),
                "name": p.get("name"),
                "owner": p.get("owner"),
                "song_count": p.get("songCount"),
            }
            for p in (body.get("playlists") or {}).get("playlist") or []
        ]

    def playlist_songs(self, playlist_id: str) -> list[str]:
        body = self.call("getPlaylist", [("id", playlist_id)])
        return [str(e["id"]) for e in (body.get("playlist") or {}).get("entry") or []]

    def create_playlist(self, name: str, song_ids: Sequence[str]) -> str:
        """Create a playlist; returns its id (from the answer, or by listing: servers before
        API 1.14 answer nothing)."""
        before = {p["id"] for p in self.playlists()}
        first, rest = list(song_ids[:SONGS_PER_REQUEST]), list(song_ids[SONGS_PER_REQUEST:])
        body = self.call("createPlaylist", [("name", name), *[("songId", s) for s in first]])
        pid = (body.get("playlist") or {}).get("id")
        if pid is None:
            new = [p for p in self.playlists() if p["id"] not in before and p["name"] == name]
            if len(new) != 1:
                raise ServerError(self.name, f"created playlist {name!r} but cannot find its id")
            pid = new[0]["id"]
        self._append(str(pid), rest)
        return str(pid)

    def replace_playlist(self, playlist_id: str, song_ids: Sequence[str]) -> None:
        """Replace the songs of a playlist, keeping its id (``createPlaylist`` with
        ``playlistId``, which replaces the entries)."""
        first, rest = list(song_ids[:SONGS_PER_REQUEST]), list(song_ids[SONGS_PER_REQUEST:])
        self.call("createPlaylist", [("playlistId", playlist_id), *[("songId", s) for s in first]])
        self._append(playlist_id, rest)

    def _append(self, playlist_id: str, song_ids: list[str]) -> None:
        for i in range(0, len(song_ids), SONGS_PER_REQUEST):
            chunk = song_ids[i : i + SONGS_PER_REQUEST]
            self.call(
                "updatePlaylist",
                [("playlistId", playlist_id), *[("songIdToAdd", s) for s in chunk]],
            )

    def rename_playlist(self, playlist_id: str, name: str) -> None:
        self.call("updatePlaylist", [("playlistId", playlist_id), ("name", name)])

    def delete_playlist(self, playlist_id: str) -> None:
        self.call("deletePlaylist", [("id", playlist_id)])
