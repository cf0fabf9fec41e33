"""Stable cluster ids across retrainings (Hungarian matching).

A retrained model numbers its components arbitrarily. To keep ids meaningful for users (a
playlist "cluster 7" stays cluster 7), each new component is matched to at most one cluster of
the previous model, one-to-one, maximising the total overlap:

* with enough shared artists (``min_shared``), by the Jaccard overlap of their member sets
  (new component j = artists whose most likely component is j; previous cluster c = artists
  stored with id c); a pair is kept when its Jaccard index is at least ``min_jaccard``;
* otherwise by the Euclidean distance between component means (vector units); a pair is kept
  when the distance is at most ``max_distance`` (default: half the median distance between the
  new means).

Unmatched new components get fresh ids ``next_id, next_id + 1, …`` where ``next_id`` is one more
than the largest id ever used (ids are never recycled).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

log = logging.getLogger(__name__)


def match_clusters(
    n_new: int,
    *,
    next_id: int,
    new_labels: np.ndarray | None = None,
    prev_ids: np.ndarray | None = None,
    new_means: np.ndarray | None = None,
    prev_means: np.ndarray | None = None,
    prev_mean_ids: Sequence[int] | None = None,
    min_shared: int = 10,
    min_jaccard: float = 0.2,
    max_distance: float | None = None,
) -> list[int]:
    """Stable id of each new component.

    Parameters
    ----------
    n_new : int
        Number of components of the new model.
    next_id : int
        First id never used before (max id ever + 1, or 0).
    new_labels, prev_ids : np.ndarray [shape=(m,), int]
        For the m artists both models assigned: the new most likely component (0 … n_new-1)
        and the stable cluster id stored under the previous model.
    new_means : np.ndarray [shape=(n_new, d), float]
    prev_means : np.ndarray [shape=(k_prev, d), float]; ``prev_mean_ids`` their stable ids.

    Returns
    -------
    ids : list[int] of length ``n_new``; distinct.
    """
    ids: list[int | None] = [None] * n_new
    if (
        new_labels is not None
        and prev_ids is not None
        and len(new_labels) >= min_shared
        and len(new_labels) == len(prev_ids)
    ):
        prev_unique = np.unique(prev_ids)
        col = {int(c): i for i, c in enumerate(prev_unique)}
        counts = np.zeros((n_new, len(prev_unique)))
        cols = np.array([col[int(c)] for c in prev_ids], dtype=np.intp)
        np.add.at(counts, (np.asarray(new_labels, int), cols), 1)
        union = counts.sum(axis=1)[:, None] + counts.sum(axis=0)[None, :] - counts
        jac = np.divide(counts, union, out=np.zeros_like(counts), where=union > 0)
        rows, cols = linear_sum_assignment(-jac)
        for r, c in zip(rows, cols, strict=True):
            if jac[r, c] >= min_jaccard:
                ids[r] = int(prev_unique[c])
        log.debug("matched by shared artists: %s", ids)
    elif new_means is not None and prev_means is not None and prev_mean_ids is not None:
        new_means = np.asarray(new_means, np.float64)
        prev_means = np.asarray(prev_means, np.float64)
        if new_means.shape[1] == prev_means.shape[1] and len(prev_means):
            dist = np.linalg.norm(new_means[:, None, :] - prev_means[None, :, :], axis=2)
            limit = max_distance
            if limit is None:
                pair = np.linalg.norm(new_means[:, None, :] - new_means[None, :, :], axis=2)
                upper = pair[np.triu_indices(n_new, 1)]
                limit = 0.5 * float(np.median(upper)) if len(upper) else np.inf
            rows, cols = linear_sum_assignment(dist)
            for r, c in zip(rows, cols, strict=True):
                if dist[r, c] <= limit:
                    ids[r] = int(prev_mean_ids[c])
            log.debug("matched by means: %s", ids)
    out: list[int] = []
    nxt = next_id
    for i in ids:
        if i is None:
            out.append(nxt)
            nxt += 1
        else:
            out.append(i)
    return out
