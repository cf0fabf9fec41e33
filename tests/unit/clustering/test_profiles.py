"""Cluster profiles: z-scores against the library, readable labels, representative artists."""

from __future__ import annotations

import numpy as np

from sonicmap.clustering.profiles import cluster_profiles, make_label


def test_label_from_distinguishing_descriptors() -> None:
    rng = np.random.default_rng(0)
    n = 200
    labels = np.repeat([0, 1], n // 2)
    resp = np.eye(2, dtype=np.float32)[labels]
    bpm = np.where(labels == 0, 170.0, 90.0) + rng.normal(0, 5, n)
    energy = np.where(labels == 0, 0.9, 0.3) + rng.normal(0, 0.05, n)
    minor = np.where(labels == 0, 0.8, 0.2)
    acoustic = np.where(labels == 0, 0.1, 0.8)
    genre_elec = np.where(labels == 0, 1.0, 0.0)
    D = np.column_stack([bpm, energy, minor, acoustic, genre_elec])
    D[5, 0] = np.nan  # missing values are ignored
    names = ["bpm", "energy", "minor_share", "acousticness", "genre:electronic"]
    profs = cluster_profiles(
        resp, np.arange(n), weights=np.array([0.5, 0.5]), descriptors=D, names=names
    )
    fast = profs[0]
    assert fast.size == 100 and fast.weight == 0.5
    assert set(fast.label.split(" · ")) == {"fast", "energetic", "minor", "electronic"}
    assert fast.z["bpm"] > 0.5
    slow = profs[1]
    assert "slow" in slow.label and "acoustic" in slow.label
    assert len(fast.representative) == 5
    assert all(a < 100 for a in fast.representative)


def test_representatives_are_most_probable_members() -> None:
    resp = np.array([[0.99, 0.01], [0.6, 0.4], [0.9, 0.1], [0.2, 0.8]], dtype=np.float32)
    p = cluster_profiles(resp, np.array([7, 8, 9, 10]), weights=np.array([0.7, 0.3]), top_artists=2)
    assert p[0].representative == [7, 9]
    assert p[1].representative == [10]
    assert p[0].label == "typical of the library"


def test_make_label_limits_words_and_threshold() -> None:
    assert make_label({"bpm": 2.0, "energy": -1.5, "valence": 0.1}) == "fast · calm"
    assert make_label({"bpm": 0.2}) == "typical of the library"
    z = {"bpm": 3, "energy": 2.5, "minor_share": 2, "acousticness": -1.9, "valence": 1.8}
    assert make_label(z, max_words=4).count("·") == 3
