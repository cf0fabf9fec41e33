"""An HTTP fake of the parts of Jellyfin's documented REST API that sonicmap uses.

Jellyfin (a .NET server) cannot run here, so its side of the tests is this fake, at the HTTP
boundary only; it follows the request and response shapes of Jellyfin's API documentation
(10.8-10.10): ``GET /System/Info``; ``POST /Users/AuthenticateByName`` (``{Username, Pw}`` →
``{AccessToken, User: {Id}}``); ``GET /Users``; ``GET /Items`` (``Recursive``,
``IncludeItemTypes=Audio|Playlist``, ``Fields``, ``StartIndex``, ``Limit``, ``userId`` →
``{Items, TotalRecordCount, StartIndex}``); ``POST /Playlists`` (``{Name, Ids, UserId,
MediaType}`` → ``{Id}``); ``GET|POST|DELETE /Playlists/{id}/Items`` (``ids``, ``entryIds``);
``POST /Playlists/{id}`` (``{Name}``); ``DELETE /Items/{id}``. Authorization is the
``Authorization: MediaBrowser ..., Token="..."`` header; a missing or wrong token is a 401.
Ids are 32-hex Guids ("N" format), as Jellyfin returns them.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from servers_env import LoopbackServer

TICKS = 10_000_000


@dataclass
class JellyfinState:
    api_key: str
    users: dict[str, dict[str, str]]  # name -> {"Id", "Pw"}
    audio: list[dict[str, Any]] = field(default_factory=list)
    playlists: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> user id ("" for the key)
    requests: list[str] = field(default_factory=list)

    def add_audio(
        self, *, name: str, artist: str, album: str, path: str, seconds: float, track_no: int
    ) -> dict[str, Any]:
        artist_id = uuid.uuid5(uuid.NAMESPACE_URL, "artist:" + artist).hex
        item = {
            "Id": uuid.uuid4().hex,
            "Name": name,
            "Type": "Audio",
            "Album": album,
            "AlbumArtist": artist,
            "Artists": [artist],
            "ArtistItems": [{"Name": artist, "Id": artist_id}],
            "RunTimeTicks": int(seconds * TICKS),
            "IndexNumber": track_no,
            "ParentIndexNumber": 1,
            "Path": path,
            "ProviderIds": {},
            "MediaType": "Audio",
        }
        self.audio.append(item)
        return item


def _token(header: str | None) -> str | None:
    m = re.search(r'Token="([^"]*)"', header or "")
    return m.group(1) if m else None


def make_handler(state: JellyfinState) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, doc: Any = None) -> None:
            body = b"" if doc is None else json.dumps(doc).encode()
            self.send_response(status)
            if doc is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> Any:
            n = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(n)) if n else None

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            path = parts.path
            state.requests.append(f"{method} {path}")
            with lock:
                if method == "POST" and path == "/Users/AuthenticateByName":
                    body = self._body() or {}
                    user = state.users.get(body.get("Username", ""))
                    if user is None or user["Pw"] != body.get("Pw"):
                        return self._send(401, None)
                    token = uuid.uuid4().hex
                    state.tokens[token] = user["Id"]
                    return self._send(
                        200,
                        {
                            "AccessToken": token,
                            "User": {"Id": user["Id"], "Name": body["Username"]},
                        },
                    )
                tok = _token(self.headers.get("Authorization"))
                if tok != state.api_key and tok not in state.tokens:
                    return self._send(401, None)
                return self._dispatch(method, path, q)

        def _dispatch(self, method: str, path: str, q: dict[str, str]) -> None:
            if method == "GET" and path == "/System/Info":
                return self._send(200, {"ServerName": "fake", "Version": "10.10.3", "Id": "f" * 32})
            if method == "GET" and path == "/Users":
                return self._send(200, [{"Name": n, "Id": u["Id"]} for n, u in state.users.items()])
            if method == "GET" and path == "/Items":
                kinds = q.get("IncludeItemTypes", "")
                if kinds == "Playlist":
                    items = [
                        {
                            "Id": pid,
                            "Name": p["Name"],
                            "Type": "Playlist",
                            "ChildCount": len(p["entries"]),
                        }
                        for pid, p in state.playlists.items()
                        if p["UserId"] == q.get("userId")
                    ]
                else:
                    items = [dict(a) for a in state.audio]
                    if "Path" not in q.get("Fields", ""):
                        for a in items:
                            a.pop("Path")
                start, limit = int(q.get("StartIndex", 0)), int(q.get("Limit", 10**9))
                page = items[start : start + limit]
                return self._send(
                    200, {"Items": page, "TotalRecordCount": len(items), "StartIndex": start}
                )
            if method == "POST" and path == "/Playlists":
                body = self._body() or {}
                pid = uuid.uuid4().hex
                state.playlists[pid] = {
                    "Name": body["Name"],
                    "UserId": body.get("UserId"),
                    "entries": [],
                }
                self._add(pid, body.get("Ids") or [])
                return self._send(200, {"Id": pid})
            m = re.fullmatch(r"/Playlists/([0-9a-f]{32})(/Items)?", path)
            if m and m.group(1) in state.playlists:
                pl = state.playlists[m.group(1)]
                if m.group(2) is None and method == "POST":
                    pl["Name"] = (self._body() or {}).get("Name", pl["Name"])
                    return self._send(204)
                if method == "GET":
                    by_id = {a["Id"]: a for a in state.audio}
                    items = [
                        {**by_id[i], "PlaylistItemId": e} for e, i in pl["entries"] if i in by_id
                    ]
                    return self._send(200, {"Items": items, "TotalRecordCount": len(items)})
                if method == "POST":
                    self._add(m.group(1), [i for i in q.get("ids", "").split(",") if i])
                    return self._send(204)
                if method == "DELETE":
                    drop = set(q.get("entryIds", "").split(","))
                    pl["entries"] = [(e, i) for e, i in pl["entries"] if e not in drop]
                    return self._send(204)
            m = re.fullmatch(r"/Items/([0-9a-f]{32})", path)
            if method == "DELETE" and m and m.group(1) in state.playlists:
                del state.playlists[m.group(1)]
                return self._send(204)
            return self._send(404, None)

        def _add(self, pid: str, ids: list[str]) -> None:
            known = {a["Id"] for a in state.audio}
            state.playlists[pid]["entries"] += [(uuid.uuid4().hex, i) for i in ids if i in known]

        def do_GET(self) -> None:  # noqa: N802
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._route("DELETE")

    return Handler


class FakeJellyfin(LoopbackServer):
    """The fake on a free loopback port, in a thread; ``stop()`` closes it."""

    def __init__(self, state: JellyfinState) -> None:
        self.state = state
        super().__init__(make_handler(state))
