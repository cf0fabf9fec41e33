"""Drift: how far the current artist vectors have moved from what the active model saw.

Definition (one number in [0, 1])::

    U       = artists with a current vector  ∪  artists the model was trained on
    moved   = |current \\ trained|                       (new artists: the model never saw them)
            + |trained \\ current|                       (artists gone, or without a vector of
                                                          the model's layout version)
            + |{a ∈ current ∩ trained : cluster(a) ≠ stored(a)}|
    drift   = moved / |U|            (0 when U is empty)

where ``cluster(a)`` is the stable id of the most likely component of the active model for a's
*current* vector and ``stored(a)`` the id stored for a when the model was trained. An unchanged
library therefore has drift 0 exactly (same float32 parameters, same vectors, same arithmetic);
replacing a share s of the artists with new ones gives 2s / (1 + s) plus whatever moved among
the rest.

The mean log-likelihood of the current vectors under the model, and its shift from the training
value, are reported as extra inputs (they do not enter the number).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sonicmap.clustering.gmm import ArtistGmm


@dataclass(frozen=True)
class DriftReport:
    drift: float
    n_union: int
    n_current: int
    n_trained: int
    n_new: int
    n_removed: int
    n_changed: int
    mean_log_likelihood: float | None
    trained_mean_log_likelihood: float | None
    log_likelihood_shift: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute_drift(
    model: ArtistGmm,
    *,
    component_ids: np.ndarray,
    current_ids: np.ndarray,
    current_vectors: np.ndarray,
    trained_ids: np.ndarray,
    stored_artist_ids: np.ndarray,
    stored_cluster_ids: np.ndarray,
) -> DriftReport:
    """Compute the drift of the library under ``model`` (see the module docstring).

    Parameters
    ----------
    model : ArtistGmm (fitted)
    component_ids : np.ndarray [shape=(k,), int] stable cluster id of each component
    current_ids : np.ndarray [shape=(n,), int] artists with a current vector
    current_vectors : np.ndarray [shape=(n, d), float32] their vectors
    trained_ids : np.ndarray [shape=(t,), int] artists the model was trained on
    stored_artist_ids, stored_cluster_ids : np.ndarray [shape=(s,), int]
        Stored assignments under the model (only those of trained artists are used).
    """
    current_ids = np.asarray(current_ids, np.int64)
    trained_ids = np.unique(np.asarray(trained_ids, np.int64))
    cur_set = np.unique(current_ids)
    both = np.intersect1d(cur_set, trained_ids)
    n_new = int(len(np.setdiff1d(cur_set, trained_ids)))
    n_removed = int(len(np.setdiff1d(trained_ids, cur_set)))
    n_union = int(len(np.union1d(cur_set, trained_ids)))

    stored = dict(
        zip(
            np.asarray(stored_artist_ids, np.int64).tolist(),
            np.asarray(stored_cluster_ids, np.int64).tolist(),
            strict=True,
        )
    )
    mask = np.isin(current_ids, both)
    ids_both = current_ids[mask]
    n_changed = 0
    mean_ll = None
    if len(current_ids):
        probs, ll = model.predict_with_scores(current_vectors)
        mean_ll = float(np.mean(ll))
        now_ids = np.asarray(component_ids, np.int64)[np.argmax(probs[mask], axis=1)]
        for aid, cid in zip(ids_both.tolist(), now_ids.tolist(), strict=True):
            if stored.get(aid) != cid:
                n_changed += 1
    moved = n_new + n_removed + n_changed
    trained_ll = getattr(model, "mean_log_likelihood_", None)
    trained_ll = None if trained_ll is None or not np.isfinite(trained_ll) else float(trained_ll)
    shift = None if mean_ll is None or trained_ll is None else mean_ll - trained_ll
    return DriftReport(
        drift=float(moved / n_union) if n_union else 0.0,
        n_union=n_union,
        n_current=int(len(cur_set)),
        n_trained=int(len(trained_ids)),
        n_new=n_new,
        n_removed=n_removed,
        n_changed=n_changed,
        mean_log_likelihood=mean_ll,
        trained_mean_log_likelihood=trained_ll,
        log_likelihood_shift=shift,
    )
