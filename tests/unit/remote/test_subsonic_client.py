"""The Subsonic client's protocol paths that the real server of the integration tests does not
take: tokens accepted, API keys, a server refusing an empty search (read album by album).
The server here is a small fake of the Subsonic API at the HTTP boundary."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sonicmap.errors import ServerError
from sonicmap.remote.subsonic import SubsonicClient

ALBUMS = {f"al{a}": [f"so{a}{t}" for t in range(1, 4 if a < 2 else 2)] for a in range(3)}


@dataclass
class Fake:
    tokens: bool = True
    api_key: str | None = None
    refuse_empty_search: bool = False
    calls: list[dict[str, str]] = field(default_factory=list)

    def answer(self, method: str, q: dict[str, str]) -> dict[str, Any]:
        self.calls.append({"method": method, **q})
        if method == "getOpenSubsonicExtensions":
            exts = [{"name": "apiKeyAuthentication", "versions": [1]}] if self.api_key else []
            return {"status": "ok", "openSubsonic": True, "openSubsonicExtensions": exts}
        if "apiKey" in q:
            if not self.api_key:
                return _fail(42, "Provided authentication mechanism not supported")
            if q["apiKey"] != self.api_key:
                return _fail(44, "Invalid API key")
        elif "t" in q:
            if not self.tokens:
                return _fail(41, "Token authentication not supported")
            if q["t"] != hashlib.md5(("pw" + q["s"]).encode()).hexdigest():  # noqa: S324
                return _fail(40, "Wrong username or password")
        elif q.get("p") != "enc:" + b"pw".hex():
            return _fail(40, "Wrong username or password")
        if method == "ping":
            return {"status": "ok", "type": "fake", "serverVersion": "1"}
        if method == "search3":
            if self.refuse_empty_search and not q.get("query"):
                return _fail(10, "Required parameter 'query' is missing")
            return {"status": "ok", "searchResult3": {}}
        if method == "getAlbumList2":
            names = sorted(ALBUMS)
            off, size = int(q["offset"]), int(q["size"])
            return {
                "status": "ok",
                "albumList2": {"album": [{"id": n} for n in names[off : off + size]]},
            }
        if method == "getAlbum":
            songs = [{"id": s, "title": s, "artist": "A", "album": q["id"], "duration": 100}
                     for s in ALBUMS[q["id"]]]  # fmt: skip
            return {"status": "ok", "album": {"id": q["id"], "song": songs}}
        if method == "getPlaylists":
            return _fail(50, "User is not authorized for the given operation.")
        return _fail(0, "unknown")


def _fail(code: int, message: str) -> dict[str, Any]:
    return {"status": "failed", "error": {"code": code, "message": message}}


@pytest.fixture
def fake() -> Iterator[tuple[Fake, str]]:
    state = Fake()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            method = parts.path.rsplit("/", 1)[-1].removesuffix(".view")
            body = json.dumps(
                {"subsonic-response": {"version": "1.16.1", **state.answer(method, q)}}
            )
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def client(url: str, **kw: Any) -> SubsonicClient:
    args = {"name": "fake", "url": url, "username": "u", "secret": "pw", **kw}
    return SubsonicClient(**args)


def test_tokens_when_accepted_else_the_password_once_and_from_then_on(fake) -> None:  # noqa: ANN001
    state, url = fake
    c = client(url)
    assert c.ping()["auth"] == "token"
    assert "t" in state.calls[-1] and "p" not in state.calls[-1]
    state.tokens = False
    state.calls.clear()
    c = client(url)
    assert c.ping()["auth"] == "password"
    assert [("t" in x, "p" in x) for x in state.calls] == [(True, False), (False, True)]
    c.ping()
    assert len(state.calls) == 3 and "p" in state.calls[-1]  # no token tried again
    with pytest.raises(ServerError, match=r"^server 'fake': Subsonic error 40: Wrong username"):
        client(url, secret="nope").ping()


def test_api_key_only_when_advertised(fake) -> None:  # noqa: ANN001
    state, url = fake
    with pytest.raises(ServerError, match="does not advertise OpenSubsonic API keys"):
        client(url, username=None, secret="k3y", secret_type="api_key").ping()
    state.api_key = "k3y"
    assert (
        client(url, username=None, secret="k3y", secret_type="api_key").ping()["auth"] == "api_key"
    )
    last = state.calls[-1]
    assert last["apiKey"] == "k3y" and "u" not in last and "p" not in last and "t" not in last
    with pytest.raises(ServerError, match="Subsonic error 44: Invalid API key"):
        client(url, username=None, secret="wrong", secret_type="api_key").ping()


def test_a_server_refusing_empty_searches_is_read_album_by_album(fake) -> None:  # noqa: ANN001
    state, url = fake
    state.refuse_empty_search = True
    pages = list(client(url, page_size=2).iter_catalogue())
    songs = [s.id for page, _ in pages for s in page]
    assert sorted(songs) == sorted(s for v in ALBUMS.values() for s in v)
    assert [cursor for _, cursor in pages] == [
        {"via": "albums", "offset": 2}, {"via": "albums", "offset": 3}
    ]  # fmt: skip
    # resuming after the first page reads only the rest
    rest = list(client(url, page_size=2).iter_catalogue({"via": "albums", "offset": 2}))
    assert [s.id for page, _ in rest for s in page] == ALBUMS["al2"]


def test_a_failed_status_keeps_the_servers_code_and_message(fake) -> None:  # noqa: ANN001
    _, url = fake
    with pytest.raises(ServerError) as err:
        client(url).playlists()
    assert str(err.value) == (
        "server 'fake': Subsonic error 50: User is not authorized for the given operation. "
        "(not allowed for this user)"
    )
    assert err.value.code == 50
