"""The one HTTP call the music-server clients make (stdlib ``urllib``; no logic, no logging of
URLs: Subsonic puts credentials in the query string).

Every failure becomes a :class:`~sonicmap.errors.ServerError` whose one-line message names the
server and the cause (connection refused, unknown host, timeout, TLS, HTTP status), never the
URL's query or the secret.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sonicmap import __version__
from sonicmap.errors import ServerError

#: Largest body read from a server (bytes): a catalogue page of 500 songs is well under 1 MB.
MAX_BODY = 64 * 1024 * 1024
USER_AGENT = f"sonicmap/{__version__}"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: bytes

    def json(self, server: str, what: str) -> Any:
        """The body as JSON, or a :class:`ServerError` saying what came instead."""
        text = self.body.lstrip()[:512].lower()
        if not self.body.strip():
            raise ServerError(server, f"answered HTTP {self.status} with an empty body, not {what}")
        if "html" in self.content_type or text.startswith((b"<!doctype html", b"<html")):
            raise ServerError(
                server,
                f"answered with an HTML page (HTTP {self.status}), not {what}; check the URL",
            )
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise ServerError(
                server,
                f"answered something that is not JSON (HTTP {self.status}, "
                f"{self.content_type or 'no content type'}), not {what}; check the URL",
            ) from None


def _origin(url: str) -> str:
    try:
        p = urllib.parse.urlsplit(url)
    except ValueError:  # a host Python cannot parse (``http://[0]``): the request fails below
        return "its URL"
    return f"{p.scheme}://{p.netloc}"


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", exc)
    if isinstance(inner, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused"
    if isinstance(inner, socket.gaierror):
        return "unknown host"
    if isinstance(inner, ssl.SSLError):
        return f"TLS error: {getattr(inner, 'reason', None) or type(inner).__name__}"
    if isinstance(inner, ConnectionResetError):
        return "connection reset"
    if isinstance(inner, OSError) and inner.strerror:
        return inner.strerror.lower()
    return type(inner).__name__


def request(
    server: str,
    method: str,
    url: str,
    *,
    params: Sequence[tuple[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    form: Sequence[tuple[str, str]] | None = None,
    timeout: float,
) -> Response:
    """One HTTP request; any status is returned (the caller decides), transport errors raise.

    ``params`` go in the query string; ``form`` (url-encoded) or ``json_body`` in the body.
    """
    if params:
        url = f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(list(params))}"
    data: bytes | None = None
    hdrs = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
    if json_body is not None:
        data = json.dumps(json_body).encode()
        hdrs["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(list(form)).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    where = _origin(url)
    try:
        req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - http(s) only
            body = resp.read(MAX_BODY + 1)
            status, ctype = resp.status, resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(MAX_BODY + 1)
        except Exception:  # noqa: BLE001 - a body we cannot read is an empty one
            body = b""
        status, ctype = exc.code, exc.headers.get("Content-Type", "") if exc.headers else ""
    except (urllib.error.URLError, OSError) as exc:
        reason = _reason(exc)
        if reason == "timeout":
            raise ServerError(
                server, f"no answer from {where} within {timeout:g} s (timeout)"
            ) from None
        raise ServerError(server, f"cannot reach {where} ({reason})") from None
    except http.client.HTTPException as exc:
        raise ServerError(
            server, f"{where} did not answer in HTTP ({type(exc).__name__}); check the URL"
        ) from None
    except ValueError:  # a malformed URL or header; its text may hold the secret: not shown
        raise ServerError(
            server, "cannot send the request (a URL, user name or secret HTTP cannot carry)"
        ) from None
    if len(body) > MAX_BODY:
        raise ServerError(
            server, f"answered more than {MAX_BODY // 2**20} MiB; refusing to read it"
        )
    return Response(status=status, content_type=ctype.lower(), body=body)


class BaseClient:
    """What every server client holds: its name (for errors), base URL, user, the secret (never
    shown: see ``__repr__``), timeout, page size, and the requests made and the seconds spent
    waiting for the server (reported apart from sonicmap's own time)."""

    kind = ""

    def __init__(
        self,
        *,
        name: str,
        url: str,
        username: str | None,
        secret: str,
        secret_type: str = "password",
        timeout: float = 30.0,
        page_size: int = 500,
    ) -> None:
        self.name = name
        self.base = url.rstrip("/")
        self.username = username
        self._secret = secret
        self.secret_type = secret_type
        self.timeout = timeout
        self.page_size = page_size
        self.requests = 0
        self.server_seconds = 0.0

    def __repr__(self) -> str:  # never the secret
        return f"{type(self).__name__}(name={self.name!r}, url={self.base!r})"

    def _request(self, method: str, url: str, **kwargs: Any) -> Response:
        """:func:`request` with this client's name and timeout, counted and timed."""
        t0 = time.monotonic()
        try:
            return request(self.name, method, url, timeout=self.timeout, **kwargs)
        finally:
            self.requests += 1
            self.server_seconds += time.monotonic() - t0
