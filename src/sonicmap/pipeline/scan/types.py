"""Public types of the scan: progress events, the result, the adapter's hook and post steps."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
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
class ScanResult:
    """What a scan did. Counts are files; ``failures`` lists ``{path, error}`` of this scan."""

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
    #: tracks whose row or analysis this scan wrote (added, changed, moved)
    track_ids: set[int] = field(default_factory=set)
    removed_track_ids: set[int] = field(default_factory=set)
    #: artists that gained, lost or changed tracks
    artist_ids: set[int] = field(default_factory=set)
    #: tracks analysed (decoded) by this scan — the others kept their stored analysis
    analysed: int = 0
    warnings: list[str] = field(default_factory=list)
    #: outcome of the post-scan steps: ``{"embeddings": ..., "assign": ..., "after_scan": ...}``
    post: dict[str, Any] = field(default_factory=dict)

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
            "post": jsonable(self.post),
        }


class ScanHook(Protocol):
    """The adapter's post-scan hook (auto-queue): embedded mode trains in-process, service mode
    enqueues a Celery task. Its return value (JSON-able) lands in ``result.post["after_scan"]``."""

    def __call__(self, store: Store, result: ScanResult) -> Any: ...


@dataclass(frozen=True)
class PostStep:
    """A post-scan step: ``run(store, cfg, result)`` returns its JSON-able outcome, recorded in
    ``result.post[name]``; an exception is recorded there as ``{"status": "failed", "error"}``."""

    name: str
    run: Callable[[Store, AppConfig, ScanResult], Any]


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
