"""Typed, immutable results of the clustering pipeline, and their JSON shapes (one place).

``to_dict()`` is the document of the CLI's ``--json`` and of the API; ``task_result()`` the
small dict a Celery task (or the in-process auto-queue) returns. Both shapes are contracts
(``docs/contracts.md``): extend, never rename.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClusterSize:
    """One cluster of a new model: its stable id, label and number of artists."""

    id: int
    label: str
    size: int


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`sonicmap.pipeline.clustering.train`.

    ``status``: ``active`` (a new model was fitted and activated) or ``skipped`` (nothing
    changed since the active model; ``reason`` says why and ``model`` is that model's record).
    """

    status: str
    model_id: int
    k: int | None
    n_artists: int | None
    n_tracks: int | None
    bic: float | None
    training_seconds: float | None
    aic: float | None = None
    warm_started: bool = False
    previous_model_id: int | None = None
    clusters: tuple[ClusterSize, ...] = ()
    reason: str | None = None
    model: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def skipped(cls, model: Mapping[str, Any], reason: str) -> TrainResult:
        """Nothing to train: ``model`` (the active model's record) stays."""
        return cls(
            status="skipped",
            model_id=int(model["id"]),
            k=model.get("k"),
            n_artists=model.get("n_artists"),
            n_tracks=model.get("n_tracks"),
            bic=model.get("bic"),
            training_seconds=model.get("training_seconds"),
            aic=model.get("aic"),
            reason=reason,
            model=dict(model),
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``sonicmap cluster --json`` document."""
        if self.status == "skipped":
            return {
                **self.model,
                "status": "skipped",
                "reason": self.reason,
                "model_id": self.model_id,
            }
        return {
            "model_id": self.model_id,
            "status": self.status,
            "k": self.k,
            "n_artists": self.n_artists,
            "n_tracks": self.n_tracks,
            "bic": self.bic,
            "aic": self.aic,
            "training_seconds": self.training_seconds,
            "warm_started": self.warm_started,
            "previous_model_id": self.previous_model_id,
            "clusters": [{"id": c.id, "label": c.label, "size": c.size} for c in self.clusters],
        }

    def task_result(self, reason: str) -> dict[str, Any]:
        """Result of a training task: ``completed`` (+ ``reason``, the trigger) with the model
        summary, or ``skipped`` with the pipeline's reason."""
        summary: dict[str, Any] = {"model_id": self.model_id}
        if self.status == "skipped":
            summary["id"] = self.model_id
        summary.update(
            k=self.k,
            n_artists=self.n_artists,
            n_tracks=self.n_tracks,
            bic=self.bic,
            training_seconds=self.training_seconds,
        )
        if self.status == "skipped":
            return {"status": "skipped", "reason": self.reason or "unchanged", **summary}
        return {"status": "completed", "reason": reason, **summary}


@dataclass(frozen=True)
class DriftResult:
    """Outcome of :func:`sonicmap.pipeline.clustering.check_stability` (a stored drift check).

    ``drift`` is None (and ``decision`` ``skipped``) when no model is active.
    """

    check_id: int
    model_id: int | None
    drift: float | None
    threshold: float
    decision: str
    exceeded: bool
    inputs: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "model_id": self.model_id,
            "drift": self.drift,
            "drift_score": self.drift,
            "threshold": self.threshold,
            "exceeded": self.exceeded,
            "decision": self.decision,
            "inputs": dict(self.inputs),
        }


@dataclass(frozen=True)
class CleanupResult:
    """Outcome of :func:`sonicmap.pipeline.clustering.cleanup_models`."""

    models_removed: tuple[int, ...]
    stale_marked_failed: tuple[int, ...] = ()

    @property
    def deleted_count(self) -> int:
        return len(self.models_removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deleted_count": self.deleted_count,
            "models_removed": list(self.models_removed),
            "stale_marked_failed": list(self.stale_marked_failed),
        }

    def task_result(self) -> dict[str, Any]:
        """Result of ``cleanup_old_models``: ``clean`` or ``completed``, with the removed ids."""
        removed = sorted(self.models_removed)
        return {
            "status": "completed" if removed else "clean",
            "deleted_count": len(removed),
            "models_removed": removed,
        }
