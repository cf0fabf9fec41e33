"""Lyrion Music Server (LMS, formerly Logitech Media Server) client: its JSON-RPC API. HTTP only.

Every call is ``POST <url>/jsonrpc.js`` with ``{"id": 1, "method": "slim.request", "params":
["", [<CLI command words>]]}`` (``""``: no player) and answers ``{"result": {...}}``. When LMS's
"password protection" is on, requests carry HTTP basic auth (``--user`` and the password); a
refused login is HTTP 401.

Commands and queries used, as LMS's CLI documentation and its source define them
(LMS-Community/slimserver ``Slim/Control/Queries.pm`` for the queries,
``Slim/Control/Commands.pm`` / ``Slim/Control/Library/Commands.pm`` for the ``playlists``
commands; parameters read there with ``getParam``):

- ``serverstatus 0 0`` → ``version``, ``uuid`` (the ping);
- ``titles <start> <count> tags:<letters>`` → ``count``, ``titles_loop`` (``titlesQuery``);
  tags: ``a`` artist, ``s`` artist_id, ``l`` album, ``d`` duration, ``u`` url, ``t`` tracknum,
  ``i`` disc (``_getTagDataForTracks``). No tag of that query reads the track's MusicBrainz id,
  so a ``musicbrainz_id`` is used only when a server sends one;
- ``songinfo 0 100 track_id:<id> tags:u`` → the ``url`` of one track (to add it to a playlist);
- ``playlists <start> <count>`` → ``playlists_loop`` [{``id``, ``playlist``}];
- ``playlists tracks <start> <count> playlist_id:<id>`` → ``playlisttracks_loop`` [{``id``}];
- ``playlists new name:<name>`` → ``playlist_id``, or ``overwritten_playlist_id`` when a
  playlist of that name exists (then nothing is created: ``playlistsNewCommand``);
- ``playlists edit cmd:add playlist_id:<id> url:<track url>`` (appends the track unless the
  playlist already holds it) and ``playlists edit cmd:delete playlist_id:<id> index:<i>``
  (``playlistsEditCommand``: no track-id form, so songs are added by their URL);
- ``playlists rename playlist_id:<id> newname:<name> dry_run:1`` (reports an
  ``overwritten_playlist_id``: the real rename would delete that other playlist, so sonicmap
  refuses instead) then without ``dry_run`` (``playlistsRenameCommand``);
- ``playlists delete playlist_id:<id>`` (``playlistsDeleteCommand``).

Song ids are LMS's integer track ids (as strings here, like every server's ids).
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sonicmap.errors import ServerError
from sonicmap.library.matching import RemoteSong
from sonicmap.remote import http

#: ``titles`` tags: artist, artist_id, album, duration, url, track number, disc.
TITLE_TAGS = "asldtiu"
#: Playlists and playlist entries read per request.
LIST_PAGE = 500


def url_to_path(url: Any) -> str | None:
    """The local path of a ``file://`` URL (percent-decoded), None for any other URL."""
    if not isinstance(url, str) or not url.startswith("file:"):
        return None
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    return path or None


def _int(v: Any) -> int | None:
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return None


def _song(d: Mapping[str, Any]) -> RemoteSong:
    dur = d.get("duration")
    try:
        duration = float(dur) if dur not in (None, "") else None
    except (TypeError, ValueError):
        duration = None
    artist_id = d.get("artist_id")
    return RemoteSong(
        id=str(d["id"]),
        title=d.get("title") or None,
        artist=d.get("artist") or None,
        album=d.get("album") or None,
        artist_id=str(artist_id) if artist_id not in (None, "") else None,
        duration_s=duration,
        path=url_to_path(d.get("url")),
        mbid=d.get("musicbrainz_id") or None,
        track_no=_int(d.get("tracknum")),
        disc_no=_int(d.get("disc")),
    )


class LyrionClient(http.BaseClient):
    kind = "lyrion"

    # -- transport ------------------------------------------------------------------------------
    def call(self, *words: str) -> dict[str, Any]:
        """The ``result`` object of one ``slim.request`` (see module docs)."""
        headers = {}
        if self.username:
            token = base64.b64encode(f"{self.username}:{self._secret}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        resp = self._request(
            "POST",
            f"{self.base}/jsonrpc.js",
            headers=headers,
            json_body={"id": 1, "method": "slim.request", "params": ["", list(words)]},
        )
        if resp.status == 401:
            if self.username:
                cause = (
                    "refused the user name or password (HTTP 401; LMS password protection is on)"
                )
            else:
                cause = (
                    "asks for a password (HTTP 401; LMS password protection is on): "
                    "give --user and --password-env or --password-file"
                )
            raise ServerError(self.name, cause, code=401)
        if resp.status == 404:
            raise ServerError(self.name, "has no /jsonrpc.js (HTTP 404); is this Lyrion?", code=404)
        if resp.status >= 400:
            raise ServerError(
                self.name, f"answered HTTP {resp.status} to {words[0]}", code=resp.status
            )
        doc = resp.json(self.name, "Lyrion's JSON-RPC")
        if isinstance(doc, dict) and doc.get("error"):
            raise ServerError(self.name, f"Lyrion refused {words[0]!r}: {doc['error']}")
        result = doc.get("result") if isinstance(doc, dict) else None
        if not isinstance(result, dict):
            raise ServerError(
                self.name, f"answered JSON without a slim.request result to {words[0]!r}; "
                "is this Lyrion?"
            )  # fmt: skip
        return result

    def _loop(self, key: str, head: Sequence[str], *tail: str) -> list[dict[str, Any]]:
        """Every item of the ``key`` loop of the paged query ``<head> <start> <count> <tail>``."""
        out: list[dict[str, Any]] = []
        while True:
            res = self.call(*head, str(len(out)), str(LIST_PAGE), *tail)
            items = [i for i in res.get(key) or [] if isinstance(i, dict)]
            out.extend(items)
            total = _int(res.get("count"))
            if not items or len(items) < LIST_PAGE or (total is not None and len(out) >= total):
                return out

    # -- server ---------------------------------------------------------------------------------
    def ping(self) -> dict[str, Any]:
        res = self.call("serverstatus", "0", "0")
        if "version" not in res:
            raise ServerError(self.name, "answered serverstatus without a version; is this Lyrion?")
        return {
            "type": "lyrion",
            "server_version": res.get("version"),
            "uuid": res.get("uuid"),
            "auth": "basic" if self.username else "none",
        }

    # -- catalogue ------------------------------------------------------------------------------
    def iter_catalogue(
        self, cursor: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[list[RemoteSong], dict[str, Any]]]:
        """Pages of ``titles`` (``page_size`` at a time), each with the cursor after it."""
        start = int((cursor or {}).get("offset", 0))
        while True:
            res = self.call("titles", str(start), str(self.page_size), f"tags:{TITLE_TAGS}")
            if "titles_loop" not in res and "count" not in res:
                raise ServerError(self.name, "answered titles without titles_loop; is this Lyrion?")
            items = [i for i in res.get("titles_loop") or [] if isinstance(i, dict)]
            songs = [_song(d) for d in items if d.get("id") is not None]
            start += len(items)
            if items:
                yield songs, {"via": "titles", "offset": start}
            total = _int(res.get("count"))
            if not items or len(items) < self.page_size or (total is not None and start >= total):
                return

    # -- playlists ------------------------------------------------------------------------------
    def playlists(self) -> list[dict[str, Any]]:
        """``[{id, name, owner, song_count}]``: LMS playlists have no owner and no count."""
        return [
            {"id": str(p["id"]), "name": p.get("playlist"), "owner": None, "song_count": None}
            for p in self._loop("playlists_loop", ["playlists"])
            if p.get("id") is not None
        ]

    def playlist_songs(self, playlist_id: str) -> list[str]:
        return [
            str(e["id"])
            for e in self._loop(
                "playlisttracks_loop", ["playlists", "tracks"], f"playlist_id:{playlist_id}"
            )
            if e.get("id") is not None
        ]

    def _track_url(self, song_id: str) -> str:
        res = self.call("songinfo", "0", "100", f"track_id:{song_id}", "tags:u")
        for item in res.get("songinfo_loop") or []:
            if isinstance(item, dict) and item.get("url"):
                return str(item["url"])
        raise ServerError(self.name, f"has no track {song_id} (songinfo gave no URL)")

    def create_playlist(self, name: str, song_ids: Sequence[str]) -> str:
        res = self.call("playlists", "new", f"name:{name}")
        if res.get("overwritten_playlist_id") is not None:
            raise ServerError(
                self.name,
                f"already has a playlist named {name!r} (id {res['overwritten_playlist_id']}); "
                "rename or delete it, or push under another name",
            )
        pid = res.get("playlist_id")
        if pid is None:
            raise ServerError(
                self.name,
                f"did not create playlist {name!r} (no playlist id; is LMS's playlist folder "
                "set? Settings > Basic Settings)",
            )
        self._append(str(pid), song_ids)
        return str(pid)

    def replace_playlist(self, playlist_id: str, song_ids: Sequence[str]) -> None:
        """Empty the playlist (entries deleted from the last one) and add the songs: same id."""
        for index in reversed(range(len(self.playlist_songs(playlist_id)))):
            self.call(
                "playlists", "edit", "cmd:delete", f"playlist_id:{playlist_id}", f"index:{index}"
            )
        self._append(playlist_id, song_ids)

    def _append(self, playlist_id: str, song_ids: Sequence[str]) -> None:
        for sid in dict.fromkeys(song_ids):  # LMS skips a track the playlist already holds
            url = self._track_url(sid)
            self.call("playlists", "edit", "cmd:add", f"playlist_id:{playlist_id}", f"url:{url}")

    def rename_playlist(self, playlist_id: str, name: str) -> None:
        args = ("playlists", "rename", f"playlist_id:{playlist_id}", f"newname:{name}")
        other = self.call(*args, "dry_run:1").get("overwritten_playlist_id")
        if other is not None and str(other) != str(playlist_id):
            raise ServerError(
                self.name,
                f"already has another playlist named {name!r} (id {other}); not renaming over it",
            )
        self.call(*args)

    def delete_playlist(self, playlist_id: str) -> None:
        self.call("playlists", "delete", f"playlist_id:{playlist_id}")
