"""A Subsonic proxy in front of the test server that gives its ids another server's form.

supysonic's ids are UUIDs; the music servers whose plugins call sonicmap use other forms:
Jellyfin 32-hex Guids (``N`` format), Ampache's Subsonic ids ``so-<int>`` / ``ar-<int>``, and
integers (Lyrion). The proxy forwards every request to the real server, translating ids in the
query back to the server's, and rewrites every id in the JSON answers to the chosen form, the same
fake id for the same real id throughout. So a real sync through it stores ids of that form, and
the plugin contract tests can send exactly the ids each plugin sends.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ID_KEYS = ("id", "artistId", "albumId", "parent", "coverArt")
PREFIX = {"id": "so-", "artistId": "ar-", "albumId": "al-", "parent": "al-", "coverArt": "al-"}


class IdProxy:
    """``IdProxy(upstream, form)`` with ``form`` ``"hex"``, ``"ampache"`` or ``"int"``."""

    def __init__(self, upstream: str, form: str) -> None:
        self.upstream, self.form = upstream.rstrip("/"), form
        self.fake: dict[str, str] = {}
        self.real: dict[str, str] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                proxy._forward(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fake_of(self, key: str, real: str) -> str:
        with self._lock:
            if real not in self.fake:
                n = len(self.fake) + 1
                if self.form == "hex":
                    f = real.replace("-", "")
                elif self.form == "ampache":
                    f = f"{PREFIX.get(key, 'so-')}{n}"
                else:
                    f = str(n)
                self.fake[real], self.real[f] = f, real
            return self.fake[real]

    def _rewrite(self, doc: Any, key: str = "") -> Any:
        if isinstance(doc, dict):
            return {
                k: (
                    self.fake_of(k, v)
                    if k in ID_KEYS and isinstance(v, str)
                    else self._rewrite(v, k)
                )
                for k, v in doc.items()
            }
        if isinstance(doc, list):
            return [self._rewrite(v, key) for v in doc]
        return doc

    def _forward(self, h: BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(h.path)
        query = [(k, self.real.get(v, v)) for k, v in urllib.parse.parse_qsl(parts.query, True)]
        url = f"{self.upstream}{parts.path}?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - loopback test server
                status, body, ctype = resp.status, resp.read(), resp.headers.get("Content-Type")
        except urllib.error.HTTPError as exc:
            status, body, ctype = exc.code, exc.read(), exc.headers.get("Content-Type")
        if ctype and "json" in ctype:
            body = json.dumps(self._rewrite(json.loads(body))).encode()
        h.send_response(status)
        h.send_header("Content-Type", ctype or "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
