"""Public types of the scan: progress events, the result, the adapter's hook and post steps."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from sonicmap.config import AppConfig
from sonicmap.errors import SonicmapError

if TYPE_CHECKING:
    from sonicmap.store.db import Store


@dataclass
class ScanProgress:
    """A progress event: ``phase`` is ``"walk"`` (``total`` unknown), ``"analyse"`` or ``"finish"``."""

    phase: str
    done: int
    total: int | None = None
    path: str | None = None


ProgressFn = Callable[[ScanProgress], None]


#: the file counts of a :class:`ScanResult`, in the order of its JSON documents
_COUNTS = ("added", "changed", "removed", "unchanged", "moved", "failed")


@dataclass
class ScanTally:
    """A scan's running state (counts, ids, post-step outcomes), filled as the scan goes; the
    scan returns it frozen (:meth:`freeze`) as its :class:`ScanResult`. Post steps get it."""

    scan_id: int
    status: str = "running"
    roots: list[str] = field(default_factory=list)
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    moved: int = 0
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    duration_s: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    track_ids: set[int] = field(default_factory=set)
    removed_track_ids: set[int] = field(default_factory=set)
    artist_ids: set[int] = field(default_factory=set)
    analysed: int = 0
    warnings: list[str] = field(default_factory=list)
    post: dict[str, Any] = field(default_factory=dict)

    def freeze(self) -> ScanResult:
        """The result as of now (an immutable copy: lists → tuples, sets → frozensets)."""
        return ScanResult(**{f.name: _frozen(getattr(self, f.name)) for f in fields(self)})


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(dict(v) if isinstance(v, dict) else v for v in value)
    if isinstance(value, set):
        return frozenset(value)
    if isinstance(value, dict):
        return MappingProxyType(dict(value))
    return value


@dataclass(frozen=True)
class ScanResult:
    """What a scan did. Counts are files; ``failures`` lists ``{path, error}`` of this scan."""

    scan_id: int
    status: str = "running"
    roots: tuple[str, ...] = ()
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    moved: int = 0
    failed: int = 0
    failures: tuple[dict[str, str], ...] = ()
    duration_s: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: tracks whose row or analysis this scan wrote (added, changed, moved)
    track_ids: frozenset[int] = frozenset()
    removed_track_ids: frozenset[int] = frozenset()
    #: artists that gained, lost or changed tracks
    artist_ids: frozenset[int] = frozenset()
    #: tracks analysed (decoded) by this scan — the others kept their stored analysis
    analysed: int = 0
    warnings: tuple[str, ...] = ()
    #: outcome of the post-scan steps: ``{"embeddings": ..., "assign": ..., "after_scan": ...}``
    post: Mapping[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """The file counts and the scan id (the scan tasks' result, beside ``status``)."""
        return {**{k: getattr(self, k) for k in _COUNTS}, "scan_id": self.scan_id}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (the ``sonicmap scan --json`` document)."""
        return {
            "scan_id": self.scan_id,
            "status": self.status,
            "roots": list(self.roots),
            **{k: getattr(self, k) for k in _COUNTS},
            "analysed": self.analysed,
            "failures": list(self.failures),
            "duration_s": round(self.duration_s, 3),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "warnings": list(self.warnings),
            "post": jsonable(dict(self.post)),
        }


class ScanHook(Protocol):
    """The adapter's post-scan hook (auto-queue): embedded mode trains in-process, service mode
    enqueues a Celery task. Its return value (JSON-able) lands in ``result.post["after_scan"]``.
    The scan always passes its result; a hook also accepts ``None`` (the auto-queue decision
    then reads the store only), so that it can be called outside a scan."""

    def __call__(self, store: Store, result: ScanResult | None) -> Any: ...


@dataclass(frozen=True)
class PostStep:
    """A post-scan step: ``run(store, cfg, tally)`` (the finished scan's :class:`ScanTally`)
    returns its JSON-able outcome, recorded in ``post[name]`` of the result; an exception is recorded there as ``{"status": "failed", "error"}``."""

    name: str
    run: Callable[[Store, AppConfig, ScanTally], Any]


def describe_error(exc: BaseException) -> str:
    """The message stored for a failure: ours as written, others prefixed by their type."""
    if isinstance(exc, SonicmapError):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def jsonable(obj: Any) -> Any:
    """Plain JSON types (numpy scalars/arrays → Python; NaN/inf → None; dates → ISO)."""
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [jsonable(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if isinstance(obj, datetime):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return jsonable(obj.tolist())
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)
