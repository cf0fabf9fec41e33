"""One small exception hierarchy. Messages say what was wrong, with the value, and what is expected."""

from __future__ import annotations


class SonicmapError(Exception):
    """Base class of every error sonicmap raises on purpose."""


class ConfigError(SonicmapError):
    """A setting or a gmm_config.yaml value is invalid; the message names the key path."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


class DecodeError(SonicmapError):
    """An audio file could not be decoded (corrupt, truncated, not audio, unsupported)."""


class AnalysisError(SonicmapError):
    """Decoding worked but the signal could not be analysed (e.g. too short)."""


class TagError(SonicmapError):
    """The tags of a file could not be read."""


class StoreError(SonicmapError):
    """The database is unreachable, unmigrated, or newer than this code."""


class SchemaVersionError(StoreError):
    """The database schema is not at the revision this code expects."""


class NotFoundError(SonicmapError):
    """An id or name does not exist."""


class ConflictError(SonicmapError):
    """The request conflicts with the current state (e.g. deleting the active model)."""


class NotEmbeddedError(ConflictError):
    """A track or artist exists but has no embedding yet (not analysed, or its analysis failed)."""


class PathNotAllowedError(SonicmapError):
    """A path lies outside every configured library root."""


class NotEnoughDataError(SonicmapError):
    """Too few artists or tracks to do what was asked (e.g. fit a GMM)."""


class ServerError(SonicmapError):
    """A music server (Subsonic, Jellyfin) could not be reached or refused a request.

    The message is one line naming the server and the cause (never the secret)."""

    def __init__(self, server: str, cause: str, *, code: int | None = None) -> None:
        self.server = server
        self.cause = cause
        self.code = code
        super().__init__(f"server {server!r}: {cause}")
