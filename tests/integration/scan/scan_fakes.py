"""Small fakes at the analyser seam (importable by spawned worker processes via sys.path).

``fake_analyze`` really demuxes and decodes the first audio frame (so corrupt files fail like they
would with the real engine) but measures nothing; it is fast enough for logic tests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sonicmap.errors import DecodeError


@dataclass
class FakeAnalysis:
    features: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    analysed_s: float = 0.0
    truncated: bool = False


def fake_analyze(
    path: str, *, max_duration_s: float | None = None, tags: Any = None
) -> FakeAnalysis:
    import av

    try:
        with av.open(path) as c:
            stream = c.streams.audio[0]
            frame = next(iter(c.decode(stream)))
            dur = float(c.duration or 0) / 1_000_000
    except Exception as exc:  # noqa: BLE001
        raise DecodeError(f"{path}: cannot decode audio ({type(exc).__name__}: {exc})") from None
    digest = hashlib.blake2b(bytes(frame.planes[0]), digest_size=4).hexdigest()
    return FakeAnalysis(
        features={"bpm": 60 + int(digest, 16) % 120, "digest": digest, "duration_s": dur},
        sources={"bpm": "signal"},
        duration_s=dur,
        analysed_s=dur,
    )


def crash_on_marker(
    path: str, *, max_duration_s: float | None = None, tags: Any = None
) -> FakeAnalysis:
    """Kill the process (like a segfaulting decoder) for files whose name contains 'CRASH'."""
    import os

    if "CRASH" in path:
        os._exit(139)
    return fake_analyze(path, max_duration_s=max_duration_s, tags=tags)


def always_crash(
    path: str, *, max_duration_s: float | None = None, tags: Any = None
) -> FakeAnalysis:
    """Every analysis kills its process: a broken set-up, not bad files."""
    import os

    os._exit(139)


def kill_or_hang_on_marker(
    path: str, *, max_duration_s: float | None = None, tags: Any = None
) -> FakeAnalysis:
    """'KILL' in the name: the process kills itself (SIGKILL, like the out-of-memory killer);
    'HANG' in the name: it never returns (a decoder stuck in a loop)."""
    import os
    import signal
    import time

    if "KILL" in path:
        os.kill(os.getpid(), signal.SIGKILL)
    if "HANG" in path:
        while True:
            time.sleep(60)
    return fake_analyze(path, max_duration_s=max_duration_s, tags=tags)
