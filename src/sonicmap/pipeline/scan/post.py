"""Post-scan steps: what runs after a finished scan, in order, each recorded in ``result.post``.

The standard steps refresh the embeddings of what the scan touched (plus analysed tracks still
without a vector) and assign new artists to the active model's clusters. A step that raises is
recorded as ``{"status": "failed", "error": ...}``; it never turns a finished scan into a
failed one, and no step is ever silently skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sonicmap.config import AppConfig
from sonicmap.pipeline.scan.queries import tracks_needing_embeddings
from sonicmap.pipeline.scan.types import PostStep, ScanTally, describe_error, jsonable

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)


def refresh_embeddings_step(store: Store, cfg: AppConfig, result: ScanTally) -> dict[str, Any]:
    """Vectors of the tracks the scan wrote (and of analysed tracks without one), and of the
    artists they touched; the artists whose vector changed join ``result.artist_ids``."""
    # imported on use: numpy must not load before an analysis process caps its threads
    from sonicmap.pipeline.embeddings import refresh_embeddings

    ids = set(result.track_ids) | tracks_needing_embeddings(store)
    touched = set(
        refresh_embeddings(store, cfg, track_ids=sorted(ids), artist_ids=sorted(result.artist_ids))
        or ()
    )
    result.artist_ids |= touched
    return {"status": "ok", "tracks": len(ids), "artists": len(touched)}


def assign_new_artists_step(store: Store, cfg: AppConfig, result: ScanTally) -> dict[str, Any]:
    """Artists without a cluster under the active model get one (no retraining)."""
    from sonicmap.pipeline.clustering import assign_new_artists

    return {"status": "ok", "result": jsonable(assign_new_artists(store, cfg))}


#: The steps ``scan_library`` runs by default (``post_steps=True``).
STANDARD_POST_STEPS: tuple[PostStep, ...] = (
    PostStep("embeddings", refresh_embeddings_step),
    PostStep("assign", assign_new_artists_step),
)


def run_post_steps(
    store: Store,
    cfg: AppConfig,
    result: ScanTally,
    steps: Sequence[PostStep] = STANDARD_POST_STEPS,
) -> None:
    """Run ``steps`` in order; each outcome (or failure) lands in ``result.post[step.name]``."""
    for step in steps:
        try:
            result.post[step.name] = step.run(store, cfg, result)
        except Exception as exc:  # noqa: BLE001 - the scan itself succeeded
            log.exception("post-scan step %s failed scan_id=%s", step.name, result.scan_id)
            result.post[step.name] = {"status": "failed", "error": describe_error(exc)}
