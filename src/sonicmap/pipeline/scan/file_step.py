"""The per-file step: runs in the analysis processes (keep imports light: thread caps first).

:func:`process_file` stats, fingerprints, reads the tags of and (unless the audio is known)
analyses one file, returning a plain dict; it never raises for a bad file.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sonicmap.library.walk import FileEntry
from sonicmap.pipeline.scan.types import describe_error, jsonable

#: Environment variables that cap BLAS/OpenMP thread pools in analysis worker processes.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
DEFAULT_ANALYZER = "sonicmap.analysis:analyze_file"
DEFAULT_TAG_READER = "sonicmap.library.tags:read_tags"


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, as plain data (sent once to each process)."""

    #: ``"module:function"``; or the function itself when analysing in-process (a callable
    #: need not survive pickling, e.g. a bound method holding a store)
    analyzer: str | Callable[..., Any] = DEFAULT_ANALYZER
    tag_reader: str = DEFAULT_TAG_READER
    max_duration_s: float | None = 1800.0
    #: fingerprints of stored tracks whose path disappeared: a file with one of these is a move
    missing_fingerprints: frozenset[str] = frozenset()
    #: seconds one file's analysis may take (``None``: scaled to the file's duration, see
    #: :func:`sonicmap.pipeline.scan.executor.analysis_timeout`)
    analysis_timeout_s: float | None = None


_SPEC: WorkerSpec | None = None
_FUNCS: dict[str, Callable[..., Any]] = {}


def cap_threads() -> None:
    """Cap BLAS/OpenMP pools at one thread in this process (call before numpy is imported)."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - optional third-party package
        pass


def init_worker(spec: WorkerSpec) -> None:
    """Process-pool initializer: cap the threads, remember the spec."""
    global _SPEC
    cap_threads()
    _SPEC = spec


def resolve(dotted: str | Callable[..., Any]) -> Callable[..., Any]:
    """The function named ``"module:function"`` (cached per process), or ``dotted`` itself when
    it is already a function."""
    if not isinstance(dotted, str):
        return dotted
    fn = _FUNCS.get(dotted)
    if fn is None:
        module, _, name = dotted.partition(":")
        fn = getattr(importlib.import_module(module), name)
        _FUNCS[dotted] = fn
    return fn


def run_job(path: str, known_fp: str | None) -> dict[str, Any]:
    """The pool's task: :func:`process_file` with this process's spec."""
    assert _SPEC is not None, "worker not initialised"
    return process_file(_SPEC, path, known_fp)


def process_file(spec: WorkerSpec, path: str, known_fp: str | None) -> dict[str, Any]:
    """Stat, fingerprint, read tags and (unless the audio is known) analyse one file.

    Returns a plain dict: ``path``, ``size``, ``mtime``, ``fingerprint``, ``tags`` (dict or
    None), ``tags_error``, ``reuse`` (``"same"``: audio equals ``known_fp``; ``"moved"``: audio
    equals a disappeared track's; ``None``: analysed), ``analysis`` (``features``, ``sources``,
    ``duration_s``, ``analysed_s``, ``truncated``) and ``error`` (why the file failed, or None).
    Never raises for a bad file.
    """
    from sonicmap.library.walk import content_fingerprint

    out: dict[str, Any] = {
        "path": path,
        "size": 0,
        "mtime": 0.0,
        "fingerprint": None,
        "tags": None,
        "tags_error": None,
        "reuse": None,
        "analysis": None,
        "error": None,
    }
    try:
        st = os.stat(path)
        out["size"], out["mtime"] = st.st_size, st.st_mtime
        if st.st_size == 0:
            out["error"] = "empty file (0 bytes)"
            return out
        with open(path, "rb") as fh:  # permission problems surface here, clearly
            fh.read(1)
    except OSError as exc:
        out["error"] = f"cannot read file: {exc.strerror or exc}"
        return out
    fp = content_fingerprint(path)
    out["fingerprint"] = fp
    tags = None
    try:
        tags = resolve(spec.tag_reader)(path)
        out["tags"] = _tags_dict(tags)
    except Exception as exc:  # noqa: BLE001 - a tag failure must not stop the analysis
        out["tags_error"] = describe_error(exc)
    if fp is not None and known_fp is not None and fp == known_fp:
        out["reuse"] = "same"
        return out
    if fp is not None and fp in spec.missing_fingerprints:
        out["reuse"] = "moved"
        return out
    try:
        analysis = resolve(spec.analyzer)(path, max_duration_s=spec.max_duration_s, tags=tags)
        out["analysis"] = {
            "features": jsonable(analysis.features),
            "sources": jsonable(getattr(analysis, "sources", {}) or {}),
            "duration_s": float(getattr(analysis, "duration_s", 0.0) or 0.0),
            "analysed_s": float(getattr(analysis, "analysed_s", 0.0) or 0.0),
            "truncated": bool(getattr(analysis, "truncated", False)),
        }
    except Exception as exc:  # noqa: BLE001 - every failure is recorded against the file
        out["error"] = describe_error(exc)
    return out


def _tags_dict(tags: Any) -> dict[str, Any] | None:
    if tags is None:
        return None
    if dataclasses.is_dataclass(tags) and not isinstance(tags, type):
        data = dataclasses.asdict(tags)
    elif isinstance(tags, dict):
        data = dict(tags)
    else:
        data = dict(vars(tags))
    data.pop("raw", None)  # unbounded (lyrics, comments); the named fields are what we use
    out: dict[str, Any] = jsonable(data)
    return out


def problem_result(entry: FileEntry) -> dict[str, Any]:
    """The result of a file the walk could not use (``entry.problem``)."""
    return {
        "path": entry.path,
        "size": entry.size,
        "mtime": entry.mtime,
        "fingerprint": None,
        "tags": None,
        "tags_error": None,
        "reuse": None,
        "analysis": None,
        "error": entry.problem,
    }


def crash_result(path: str, reason: str) -> dict[str, Any]:
    """The result of a file whose analysis process died or timed out twice (``reason``)."""
    try:
        st = os.stat(path)
        size = st.st_size
    except OSError:
        size = 0
    # mtime -1: never equal to the file's, so the file is retried at the next scan (it may have
    # been the machine, e.g. out of memory, rather than the file)
    res = problem_result(FileEntry(path, size, -1.0))
    res["error"] = reason
    return res
