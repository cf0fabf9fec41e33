""":func:`scan_library`: the one scan function the CLI, the worker and the API call."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sonicmap.config import AppConfig
from sonicmap.library.walk import scan_targets
from sonicmap.pipeline.scan.file_step import DEFAULT_ANALYZER, DEFAULT_TAG_READER, WorkerSpec
from sonicmap.pipeline.scan.post import STANDARD_POST_STEPS, run_post_steps
from sonicmap.pipeline.scan.scanner import Scanner
from sonicmap.pipeline.scan.types import (
    PostStep,
    ProgressFn,
    ScanHook,
    ScanResult,
    describe_error,
)

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)


def scan_library(
    store: Store,
    cfg: AppConfig,
    *,
    paths: Sequence[str | Path] | None = None,
    jobs: int | None = None,
    progress: ProgressFn | None = None,
    after_scan: ScanHook | None = None,
    analyzer: str | Callable[..., Any] | None = None,
    tag_reader: str | None = None,
    analysis_version: int | None = None,
    in_process: bool = False,
    post_steps: bool | Sequence[PostStep] = True,
    task_id: str | None = None,
) -> ScanResult:
    """Scan the library (or ``paths`` inside it) and bring the store up to date.

    Parameters
    ----------
    store : :class:`sonicmap.store.db.Store`.
    cfg : the application configuration (roots, jobs, analysis cap, ``auto_queue.batch_size``).
    paths : folders/files to scan; each must lie inside a configured root
        (:class:`PathNotAllowedError`). With no roots configured they become the roots.
    jobs : analysis processes (default ``cfg.settings.default_jobs``).
    progress : called with :class:`ScanProgress` events (CLI progress bar; tasks pass None).
    after_scan : the adapter's :class:`ScanHook`, called last with the store and the result.
    analyzer, tag_reader : ``"module:function"`` seams (defaults: the real analysis and tag
        reader); tests plug small fakes here. Strings, because they cross into the analysis
        processes; the analyser may also be a picklable callable (the distributed scan's
        cache of parked analyses), and with ``in_process`` any function.
    analysis_version : version of ``analyzer`` (default ``sonicmap.analysis.ANALYSIS_VERSION``);
        stored analyses of another version are redone (counted as changed).
    in_process : analyse in this process (no pool) — for tests and debugging.
    post_steps : the :class:`PostStep` s to run after a finished scan; ``True`` (default): the
        standard ones (embeddings refresh, new-artist assignment), ``False``: none.
    """
    if analyzer is not None and not isinstance(analyzer, str) and not in_process:
        import pickle

        try:
            pickle.dumps(analyzer)  # it must cross into the analysis processes
        except Exception:
            raise ValueError(
                f"analyzer={analyzer!r}: a function that cannot be pickled is only accepted "
                "with in_process=True; analysis processes need a 'module:function' string "
                "or a picklable callable"
            ) from None
    s = cfg.settings
    walk_paths, roots = scan_targets(s.library_roots, paths)
    if analysis_version is None:
        from sonicmap.analysis import ANALYSIS_VERSION

        analysis_version = int(ANALYSIS_VERSION)
    n_jobs = max(1, int(jobs or s.default_jobs))
    batch_size = cfg.gmm.gmm_clustering.auto_queue.batch_size
    t0 = time.monotonic()
    scanner = Scanner(
        store,
        walk_paths=walk_paths,
        roots=roots,
        version=analysis_version,
        batch_size=batch_size,
        progress=progress,
    )
    scanner.begin(task_id=task_id)
    result = scanner.result
    try:
        scanner.load_stored()
        candidates, missing_roots = scanner.walk_and_compare()
        scanner.missing(missing_roots)
        spec = WorkerSpec(
            analyzer=analyzer or DEFAULT_ANALYZER,
            tag_reader=tag_reader or DEFAULT_TAG_READER,
            max_duration_s=s.max_analysis_seconds,
            # only analyses of the current version may be carried over to a new path
            missing_fingerprints=frozenset(scanner.writer.claimable),
            analysis_timeout_s=s.analysis_timeout_s,
        )
        scanner.process(candidates, spec, jobs=n_jobs, in_process=in_process)
        scanner.remove()
        result.duration_s = time.monotonic() - t0
        scanner.finish("completed")
    except BaseException as exc:
        result.duration_s = time.monotonic() - t0
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        with contextlib.suppress(Exception):
            scanner.finish(status, error=describe_error(exc))
        raise
    log.info(
        "scan finished scan_id=%s added=%d changed=%d moved=%d removed=%d unchanged=%d failed=%d "
        "analysed=%d duration_s=%.1f",
        result.scan_id,
        result.added,
        result.changed,
        result.moved,
        result.removed,
        result.unchanged,
        result.failed,
        result.analysed,
        result.duration_s,
    )
    steps: Sequence[PostStep] = (
        (STANDARD_POST_STEPS if post_steps else ()) if isinstance(post_steps, bool) else post_steps
    )
    run_post_steps(store, cfg, result, steps)
    if after_scan is not None:
        try:
            result.post["after_scan"] = after_scan(store, result.freeze())
        except Exception as exc:  # noqa: BLE001 - the scan itself succeeded
            log.exception("after-scan hook failed scan_id=%s", result.scan_id)
            result.post["after_scan"] = {"status": "failed", "error": describe_error(exc)}
    return result.freeze()
