"""Who may call the plugin-compatible routes, and in which music server's id space they answer.

The music-server plugins (Navidrome, Jellyfin, Ampache, Lyrion) send no server name with their
requests, so the caller's **token** says which server's song ids a request speaks:

* ``Authorization: Bearer <token>`` where the token is one of ``SONICMAP_COMPAT_TOKENS``
  (``server=token`` pairs): that server's ids;
* ``Authorization: Bearer <SONICMAP_API_KEY>``: the default server;
* no token at all: refused (401) unless ``SONICMAP_COMPAT_OPEN=true`` (Ampache sends no token),
  optionally only from the addresses in ``SONICMAP_COMPAT_ALLOW_FROM``; the default server.

The default server is ``SONICMAP_COMPAT_SERVER``, or the only configured server when there is
exactly one. Tokens are compared in constant time; a wrong token is refused even when open
access is on. Nothing here ever logs or echoes a token.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from sonicmap.config import Settings
from sonicmap.errors import ConfigError


class CompatAccessError(Exception):
    """A request the plugin routes refuse: ``status`` and a one-line message."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sonicmap"'}


@dataclass(frozen=True)
class Caller:
    """An admitted request: the server named by its token, or None for the default server."""

    server: str | None


def parse_tokens(raw: str | None) -> dict[str, str]:
    """``"navidrome=abc,jellyfin=def"`` → ``{"abc": "navidrome", "def": "jellyfin"}``.

    Raises ``ValueError`` (without echoing any token) on a malformed entry, an empty server name
    or token, or a token given to two servers.
    """
    out: dict[str, str] = {}
    if not raw:
        return out
    for n, part in enumerate(raw.split(","), start=1):
        part = part.strip()
        if not part:
            continue
        server, sep, token = part.partition("=")
        server, token = server.strip(), token.strip()
        if not sep or not server or not token:
            raise ValueError(f"entry {n} is not of the form SERVER=TOKEN")
        if token in out and out[token] != server:
            raise ValueError(f"entry {n} gives server {server!r} a token another server has")
        out[token] = server
    return out


def parse_networks(raw: str | None) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``"192.168.1.10, 10.0.0.0/8"`` → networks; raises ``ValueError`` naming a bad entry."""
    nets = []
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or network") from None
    return tuple(nets)


def _matches(supplied: str, secret: str) -> bool:
    return hmac.compare_digest(
        supplied.encode("utf-8", "surrogateescape"), secret.encode("utf-8", "surrogateescape")
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (exact ``Bearer `` prefix)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass(frozen=True)
class CompatAccess:
    """The plugin routes' access rules, parsed once from the settings at start-up."""

    tokens: dict[str, str]  # token -> server name
    api_key: str
    open: bool
    allow_from: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    default_server: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> CompatAccess:
        """Raises :class:`~sonicmap.errors.ConfigError` naming the variable (never its value)."""
        try:
            tokens = parse_tokens(
                settings.compat_tokens.get_secret_value() if settings.compat_tokens else None
            )
        except ValueError as exc:
            raise ConfigError("SONICMAP_COMPAT_TOKENS", str(exc)) from None
        try:
            nets = parse_networks(settings.compat_allow_from)
        except ValueError as exc:
            raise ConfigError("SONICMAP_COMPAT_ALLOW_FROM", str(exc)) from None
        return cls(
            tokens=tokens,
            api_key=settings.api_key.get_secret_value() if settings.api_key else "",
            open=settings.compat_open,
            allow_from=nets,
            default_server=settings.compat_server,
        )

    def admit(self, authorization: str | None, client_host: str | None) -> Caller:
        """Decide whether a plugin request may proceed, and for which server; raises
        :class:`CompatAccessError` (401 / 403) otherwise."""
        token = bearer_token(authorization)
        if token is not None:
            # Compare against every configured token (constant time each, no early exit).
            server = None
            for secret, name in self.tokens.items():
                if _matches(token, secret):
                    server = name
            if server is not None:
                return Caller(server=server)
            if self.api_key and _matches(token, self.api_key):
                return Caller(server=None)
            raise CompatAccessError(401, "Unauthorized: the token is wrong", headers=_CHALLENGE)
        if not self.open:
            raise CompatAccessError(
                401,
                "Unauthorized: send 'Authorization: Bearer <token>' (SONICMAP_API_KEY or a "
                "SONICMAP_COMPAT_TOKENS token), or set SONICMAP_COMPAT_OPEN=true for plugins "
                "that send none",
                headers=_CHALLENGE,
            )
        if self.allow_from:
            try:
                addr = ipaddress.ip_address(client_host or "")
            except ValueError:
                addr = None
            if addr is None or not any(addr in net for net in self.allow_from):
                raise CompatAccessError(
                    403,
                    f"Forbidden: {client_host or 'this address'} is not in "
                    "SONICMAP_COMPAT_ALLOW_FROM",
                )
        return Caller(server=None)
