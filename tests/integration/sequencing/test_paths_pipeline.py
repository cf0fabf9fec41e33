"""sonic_path / sonic_mix on a real store (SQLite + sqlite-vec, and PostgreSQL when marked)."""

from __future__ import annotations

import numpy as np
import pytest

from sequencing_library import circle_vectors, fill
from sonicmap.errors import NotFoundError, SonicmapError
from sonicmap.pipeline.paths import SonicMix, SonicPath, sonic_mix, sonic_path


def test_path_walks_the_circle_in_order(store) -> None:
    ids = fill(store, circle_vectors(60))
    p = sonic_path(store, ids[0], ids[-1], count=12)
    assert isinstance(p, SonicPath)
    got = [t.id for t in p.tracks]
    assert len(got) == 12 and got[0] == ids[0] and got[-1] == ids[-1]
    assert len(set(got)) == 12
    pos = [ids.index(i) for i in got]
    assert pos == sorted(pos)  # moves monotonically along the circle
    steps = np.diff(pos)
    assert steps.max() <= 7  # even: ideal step 59/11 ≈ 5.4
    sims = [t.similarity for t in p.tracks]
    assert sims[0] == pytest.approx(1.0) and all(0 <= s <= 1 for s in sims)
    assert sims == sorted(sims, reverse=True)  # measured against the start
    assert p.tracks[0].step_similarity is None
    assert all(t.step_similarity is not None for t in p.tracks[1:])
    d = p.to_dict()
    assert d["start"] == ids[0] and d["end"] == ids[-1] and d["count"] == 12
    assert [t["id"] for t in d["tracks"]] == got


def test_path_unknown_ids_and_bad_count(store) -> None:
    ids = fill(store, circle_vectors(5))
    with pytest.raises(NotFoundError, match="track 999999"):
        sonic_path(store, ids[0], 999999)
    with pytest.raises(SonicmapError, match="count"):
        sonic_path(store, ids[0], ids[1], count=1)
    with pytest.raises(SonicmapError, match="count"):
        sonic_path(store, ids[0], ids[1], count=100000)


def test_path_same_track_and_small_library(store) -> None:
    ids = fill(store, circle_vectors(5))
    assert [t.id for t in sonic_path(store, ids[2], ids[2]).tracks] == [ids[2]]
    got = [t.id for t in sonic_path(store, ids[0], ids[4], count=25).tracks]
    assert got == ids  # every track once, in order


def test_mix_stays_near_seed_with_caps_and_exclusions(store) -> None:
    n = 80
    artist_of = [i // 4 for i in range(n)]  # 4 neighbouring tracks per artist
    ids = fill(store, circle_vectors(n), artist_of=artist_of)
    seed = ids[40]
    m = sonic_mix(store, [seed], count=10, exclude=[ids[41]], max_per_artist=2)
    assert isinstance(m, SonicMix)
    got = [t.id for t in m.tracks]
    assert len(got) == 10 and seed not in got and ids[41] not in got
    per_artist = {}
    for t in m.tracks:
        per_artist[t.artist_id] = per_artist.get(t.artist_id, 0) + 1
    assert max(per_artist.values()) <= 2
    assert max(abs(ids.index(i) - 40) for i in got) <= 12  # near the seed
    assert all(t.seed is not None and t.seed.id == seed for t in m.tracks)
    with pytest.raises(NotFoundError, match="track 424242"):
        sonic_mix(store, [424242])
    with pytest.raises(SonicmapError, match="seed"):
        sonic_mix(store, [])


def test_mix_spreads_over_two_seeds_and_artist_seed(store) -> None:
    ids = fill(store, circle_vectors(100))
    m = sonic_mix(store, [ids[5], ids[90]], count=10, max_per_artist=None)
    pos = [ids.index(t.id) for t in m.tracks]
    assert sum(p < 50 for p in pos) == 5 and sum(p >= 50 for p in pos) == 5
    one = sonic_mix(store, artists=[m.tracks[0].artist_id], count=5)
    assert len(one.tracks) == 5


def test_mix_from_a_cluster_uses_its_most_probable_artists(store) -> None:
    from sonicmap.store.schema import ArtistCluster, GmmCluster, GmmModel, Track

    ids = fill(store, circle_vectors(60), artist_of=[i // 6 for i in range(60)])
    with store.session() as ses:
        artist_of_track = {t.id: t.artist_id for t in ses.query(Track)}
        first, last = artist_of_track[ids[0]], artist_of_track[ids[-1]]
        model = GmmModel(status="active", format_version=1, trigger="manual", active_flag=True)
        ses.add(model)
        ses.flush()
        ses.add(GmmCluster(model_id=model.id, cluster_id=7, component=0, size=2))
        ses.add(GmmCluster(model_id=model.id, cluster_id=8, component=1, size=8))
        for aid in set(artist_of_track.values()):
            cid = 7 if aid in (first, last) else 8
            probs = np.array([1.0, 0.0] if cid == 7 else [0.0, 1.0], "<f4").tobytes()
            ses.add(
                ArtistCluster(
                    model_id=model.id,
                    artist_id=aid,
                    cluster_id=cid,
                    probability=1.0,
                    probabilities=probs,
                )
            )
    m = sonic_mix(store, clusters=[7], count=6, max_per_artist=None, max_per_album=None)
    assert [s.to_dict() for s in m.seeds] == [{"kind": "cluster", "id": 7}]
    pos = sorted(ids.index(t.id) for t in m.tracks)
    # half near each end of the circle: the cluster's two artists sit there
    assert sum(p < 10 for p in pos) == 3 and sum(p >= 50 for p in pos) == 3
    assert all(t.seed == m.seeds[0] for t in m.tracks)
    with pytest.raises(NotFoundError, match="cluster 99"):
        sonic_mix(store, clusters=[99])


def test_zero_vector_has_no_direction(store) -> None:
    v = circle_vectors(6)
    v[0] = 0.0  # e.g. a vector of nothing but neutral inputs
    ids = fill(store, v)
    p = sonic_path(store, ids[0], ids[5], count=5)
    assert [t.id for t in p.tracks] == [ids[0], ids[5]]
    assert p.tracks[1].similarity == pytest.approx(0.5)
    assert sonic_mix(store, [ids[0]], count=3).tracks == ()
