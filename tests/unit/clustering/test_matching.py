"""Stable cluster ids via Hungarian matching."""

from __future__ import annotations

import numpy as np

from sonicmap.clustering.matching import match_clusters


def test_permuted_components_keep_their_ids() -> None:
    prev_ids = np.repeat([10, 11, 12], 50)
    perm = {10: 2, 11: 0, 12: 1}  # new component numbering
    new_labels = np.array([perm[int(c)] for c in prev_ids])
    ids = match_clusters(3, next_id=13, new_labels=new_labels, prev_ids=prev_ids)
    assert ids == [11, 12, 10]


def test_split_cluster_gets_a_fresh_id_and_ids_are_never_reused() -> None:
    prev_ids = np.repeat([0, 1], 100)
    # Component 2 takes half of old cluster 1.
    new_labels = np.concatenate([np.zeros(100), np.ones(50), np.full(50, 2)]).astype(int)
    ids = match_clusters(3, next_id=5, new_labels=new_labels, prev_ids=prev_ids)
    assert ids[0] == 0 and sorted(ids[1:]) == [1, 5]
    assert len(set(ids)) == 3


def test_genuinely_new_clusters_are_not_forced_onto_old_ids() -> None:
    prev_ids = np.repeat([0, 1], 50)
    new_labels = np.repeat([0, 1], 50)
    new_labels[:50] = np.arange(50) % 2  # component 0 no longer matches anything well
    ids = match_clusters(3, next_id=2, new_labels=new_labels, prev_ids=prev_ids, min_jaccard=0.6)
    assert 2 in ids and 3 in ids


def test_falls_back_to_means_without_shared_artists() -> None:
    prev_means = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    new_means = np.array([[0.2, 9.8], [0.1, -0.1], [30.0, 30.0]])
    ids = match_clusters(
        3, next_id=7, new_means=new_means, prev_means=prev_means, prev_mean_ids=[4, 5, 6]
    )
    assert ids == [6, 4, 7]
