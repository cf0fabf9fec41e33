"""An HTTP fake of the parts of Lyrion Music Server's JSON-RPC API that sonicmap uses.

Lyrion (a Perl server with its own scanner) cannot run here, so its side of the tests is this
fake, at the HTTP boundary only. It answers ``POST /jsonrpc.js`` with ``{"id", "method":
"slim.request", "params": [player, [words...]]}`` as LMS does (``{"id", "method", "params",
"result"}``), following the queries and commands of LMS-Community/slimserver
(``Slim/Control/Queries.pm``, ``Slim/Control/Commands.pm``): ``serverstatus``; ``titles <start>
<count> tags:`` (title order, ``count`` + ``titles_loop`` with ``id``, ``title`` and the tagged
fields: a artist, s artist_id, l album, d duration, u url, t tracknum, i disc); ``songinfo``
(``songinfo_loop`` of one-key objects); ``playlists`` (``playlists_loop``), ``playlists tracks``
(``playlisttracks_loop``), ``playlists new name:`` (``playlist_id`` or
``overwritten_playlist_id``), ``playlists edit cmd:add url:`` (skips a track already in the
list) and ``cmd:delete index:``, ``playlists rename newname: dry_run:``, ``playlists delete``.
With a password set, every request needs HTTP basic auth (else 401, as LMS's password
protection). Track ids are integers, as LMS's.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from servers_env import LoopbackServer


@dataclass
class LyrionState:
    user: str | None = None
    password: str | None = None
    tracks: list[dict[str, Any]] = field(default_factory=list)
    playlists: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> {name, tracks}
    requests: list[list[str]] = field(default_factory=list)
    next_id: int = 1001
    playlist_folder: bool = True  # LMS creates playlists only when its playlist folder is set
    garbage: bytes | None = None  # answered instead of JSON-RPC, when set

    def add_track(
        self, *, title: str, artist: str, album: str, path: str, seconds: float, track_no: int
    ) -> dict[str, Any]:
        artist_ids = {t["artist"]: t["artist_id"] for t in self.tracks}
        item = {
            "id": self.next_id,
            "title": title,
            "artist": artist,
            "artist_id": artist_ids.get(artist, 500 + len(artist_ids)),
            "album": album,
            "duration": seconds,
            "url": "file://" + urllib.parse.quote(path),
            "tracknum": str(track_no),  # LMS sends the tag values as they are stored
            "disc": "1",
        }
        self.next_id += 1
        self.tracks.append(item)
        return item


TAGS = {"a": "artist", "s": "artist_id", "l": "album", "d": "duration", "u": "url",
        "t": "tracknum", "i": "disc"}  # fmt: skip


def _params(words: list[str]) -> tuple[list[str], dict[str, str]]:
    pos, named = [], {}
    for w in words:
        k, sep, v = str(w).partition(":")
        if sep and k.isidentifier():
            named[k] = v
        else:
            pos.append(str(w))
    return pos, named


def make_handler(state: LyrionState) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/jsonrpc.js":
                return self._send(404, b"<html>not found</html>", "text/html")
            if state.password is not None:
                want = base64.b64encode(f"{state.user}:{state.password}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {want}":
                    return self._send(401, b"<html>401 Authorization Required</html>", "text/html")
            if state.garbage is not None:
                return self._send(200, state.garbage, "text/plain")
            n = int(self.headers.get("Content-Length") or 0)
            req = json.loads(self.rfile.read(n))
            words = [str(w) for w in req["params"][1]]
            with lock:
                state.requests.append(words)
                result = self._dispatch(words)
            doc = {**req, "result": result}
            self._send(200, json.dumps(doc).encode())

        def _dispatch(self, words: list[str]) -> dict[str, Any]:
            pos, p = _params(words)
            if pos[0] == "serverstatus":
                return {"version": "8.5.2", "uuid": "f" * 36, "info total songs": len(state.tracks)}
            if pos[0] == "titles":
                start, count = int(pos[1]), int(pos[2])
                tags = p.get("tags", "gald")
                rows = sorted(state.tracks, key=lambda t: (t["title"].casefold(), t["id"]))
                page = [
                    {"id": t["id"], "title": t["title"],
                     **{TAGS[c]: t[TAGS[c]] for c in tags if c in TAGS}}
                    for t in rows[start : start + count]
                ]  # fmt: skip
                return {"count": len(rows), "titles_loop": page}
            if pos[0] == "songinfo":
                t = next((t for t in state.tracks if str(t["id"]) == p.get("track_id")), None)
                if t is None:
                    return {}
                return {
                    "songinfo_loop": [{"id": t["id"]}, {"title": t["title"]}, {"url": t["url"]}]
                }
            if pos[0] == "playlists":
                return self._playlists(pos, p)
            return {}

        def _playlists(self, pos: list[str], p: dict[str, str]) -> dict[str, Any]:
            pls = state.playlists
            sub = pos[1]
            if sub.isdigit():
                start, count = int(pos[1]), int(pos[2])
                rows = [{"id": i, "playlist": pl["name"]} for i, pl in sorted(pls.items())]
                return {"count": len(rows), "playlists_loop": rows[start : start + count]}
            pid = int(p.get("playlist_id", "0"))
            by_name = {pl["name"]: i for i, pl in pls.items()}
            if sub == "tracks":
                start, count = int(pos[2]), int(pos[3])
                ids = pls[pid]["tracks"] if pid in pls else []
                by_id = {t["id"]: t for t in state.tracks}
                rows = [{"playlist index": n, "id": i, "title": by_id[i]["title"]}
                        for n, i in enumerate(ids)]  # fmt: skip
                return {"count": len(rows), "playlisttracks_loop": rows[start : start + count]}
            if sub == "new":
                if not state.playlist_folder:
                    return {}  # setStatusBadConfig: no result
                if p["name"] in by_name:
                    return {"overwritten_playlist_id": by_name[p["name"]]}
                new = max([*pls, 900]) + 1
                pls[new] = {"name": p["name"], "tracks": []}
                return {"playlist_id": new}
            if pid not in pls:
                return {}
            if sub == "edit" and p.get("cmd") == "add":
                t = next((t for t in state.tracks if t["url"] == p.get("url")), None)
                if t is not None and t["id"] not in pls[pid]["tracks"]:
                    pls[pid]["tracks"].append(t["id"])
            elif sub == "edit" and p.get("cmd") == "delete":
                del pls[pid]["tracks"][int(p["index"])]
            elif sub == "rename":
                other = by_name.get(p["newname"])
                out = {"overwritten_playlist_id": other} if other is not None else {}
                if p.get("dry_run") != "1":
                    if other is not None and other != pid:
                        del pls[other]
                    pls[pid]["name"] = p["newname"]
                return out
            elif sub == "delete":
                del pls[pid]
            return {}

    return Handler


class FakeLyrion(LoopbackServer):
    """The fake on a free loopback port, in a thread; ``stop()`` closes it."""

    def __init__(self, state: LyrionState) -> None:
        self.state = state
        super().__init__(make_handler(state))
