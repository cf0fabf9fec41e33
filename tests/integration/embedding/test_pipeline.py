"""Embeddings in the store: refresh, layout-version change, artist aggregates, similarity caps.

Runs on SQLite (sqlite-vec) and on the machine's PostgreSQL (marked ``integration``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from embedding_fakes import make_features
from sqlalchemy import delete, select, update

from sonicmap.embedding import LAYOUT_VERSION, aggregate_artist, embed_tracks
from sonicmap.errors import NotFoundError, SonicmapError
from sonicmap.pipeline import embeddings as pe
from sonicmap.store.repo import get_state, set_state
from sonicmap.store.schema import (
    Album,
    Artist,
    ArtistCluster,
    ArtistEmbedding,
    GmmModel,
    Track,
    TrackEmbedding,
    TrackFeatures,
)
from sonicmap.store.vectors import from_blob

# Four "styles"; each artist has one style and two albums of three tracks.
STYLES = [
    dict(
        bpm=174.0,
        energy=0.9,
        loudness_lufs=-7.0,
        spectral_centroid_hz=3500.0,
        mfcc=40.0,
        genre="techno",
    ),
    dict(
        bpm=72.0,
        energy=0.15,
        loudness_lufs=-24.0,
        spectral_centroid_hz=600.0,
        mfcc=-30.0,
        genre="jazz",
    ),
    dict(
        bpm=128.0,
        energy=0.6,
        loudness_lufs=-11.0,
        spectral_centroid_hz=1800.0,
        mfcc=0.0,
        genre="synthpop",
    ),
    dict(
        bpm=95.0,
        energy=0.7,
        loudness_lufs=-9.0,
        spectral_centroid_hz=2500.0,
        mfcc=20.0,
        genre="hip hop",
    ),
]


def populate(store: Any, n_artists: int = 8, seed: int = 0) -> dict[str, Any]:
    """Artists × 2 albums × 3 tracks with analysed features; returns the ids by artist."""
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"artists": [], "tracks": {}, "albums": {}}
    with store.session() as ses:
        for a in range(n_artists):
            style = STYLES[a % len(STYLES)]
            artist = Artist(key=f"name:artist {a}", name=f"Artist {a}")
            ses.add(artist)
            ses.flush()
            out["artists"].append(artist.id)
            for b in range(2):
                album = Album(key=f"album {a}-{b}", title=f"Album {a}-{b}")
                ses.add(album)
                ses.flush()
                out["albums"].setdefault(artist.id, []).append(album.id)
                for t in range(3):
                    f = make_features(
                        bpm=style["bpm"] * float(rng.uniform(0.98, 1.02)),
                        energy=style["energy"],
                        loudness_lufs=style["loudness_lufs"] + float(rng.normal(0, 0.5)),
                        spectral_centroid_hz=style["spectral_centroid_hz"]
                        * float(rng.uniform(0.9, 1.1)),
                        key_index=int(rng.integers(12)),
                        mfcc_mean=[0.0]
                        + [style["mfcc"] + float(rng.normal(0, 3)) for _ in range(12)],
                        dfa_danceability=1.0 + style["energy"] * 2,
                        mood_party=style["energy"],
                        valence=1.0 - style["energy"],
                    )
                    track = Track(
                        path=f"/music/{a}/{b}/{t}.flac",
                        size=1,
                        mtime=0.0,
                        duration_s=180.0 + 10 * t,
                        title=f"T{a}{b}{t}",
                        artist_id=artist.id,
                        album_id=album.id,
                        tags={"genres": [style["genre"]]},
                        status="analysed",
                    )
                    ses.add(track)
                    ses.flush()
                    ses.add(TrackFeatures(track_id=track.id, analysis_version=1, features=f))
                    out["tracks"].setdefault(artist.id, []).append(track.id)
    return out


def stored(store: Any, model: Any, id_col: Any) -> dict[int, np.ndarray]:
    with store.session() as ses:
        return {i: from_blob(v) for i, v in ses.execute(select(id_col, model.vector)).all()}


def test_refresh_embeds_tracks_and_aggregates_artists(store) -> None:
    lib = populate(store)
    touched = pe.refresh_embeddings(store, None)
    assert touched == set(lib["artists"])
    tracks = stored(store, TrackEmbedding, TrackEmbedding.track_id)
    assert len(tracks) == 8 * 6
    with store.session() as ses:
        rows = ses.execute(
            select(TrackFeatures.track_id, TrackFeatures.features, Track.tags).join(Track)
        ).all()
        versions = set(ses.scalars(select(TrackEmbedding.layout_version)))
        arts = {a.artist_id: a for a in ses.scalars(select(ArtistEmbedding))}
        assert get_state(ses, pe.STATE_KEY)["version"] == LAYOUT_VERSION
    assert versions == {LAYOUT_VERSION}
    expect = embed_tracks([r.features for r in rows], [r.tags["genres"] for r in rows])
    for r, v in zip(rows, expect, strict=True):
        np.testing.assert_allclose(tracks[r.track_id], v, atol=1e-6)
    a0 = lib["artists"][0]
    ids = lib["tracks"][a0]
    want = aggregate_artist(
        np.vstack([tracks[i] for i in ids]), np.array([180.0, 190.0, 200.0] * 2)
    )
    np.testing.assert_allclose(from_blob(arts[a0].vector), want, atol=1e-6)
    assert arts[a0].n_tracks == 6 and arts[a0].total_duration_s == pytest.approx(1140.0)
    # nothing to do the second time
    assert pe.refresh_embeddings(store, None) == set()


def test_incremental_refresh_touches_only_the_changed_artists(store) -> None:
    lib = populate(store)
    pe.refresh_embeddings(store, None)
    a0, a1 = lib["artists"][:2]
    before = stored(store, ArtistEmbedding, ArtistEmbedding.artist_id)
    t = lib["tracks"][a0][0]
    with store.session() as ses:
        row = ses.get(TrackFeatures, t)
        row.features = dict(row.features, bpm=60.0, energy=0.0)
    touched = pe.refresh_embeddings(store, None, track_ids=[t])
    assert touched == {a0}
    after = stored(store, ArtistEmbedding, ArtistEmbedding.artist_id)
    assert not np.allclose(before[a0], after[a0])
    np.testing.assert_array_equal(before[a1], after[a1])
    # a deleted track (cascade removes its vector) is noticed without being named
    gone = lib["tracks"][a1][0]
    with store.session() as ses:
        ses.execute(delete(Track).where(Track.id == gone))
    assert pe.refresh_embeddings(store, None, track_ids=[]) == {a1}
    with store.session() as ses:
        assert ses.get(ArtistEmbedding, a1).n_tracks == 5
    # an artist whose last track went away loses its vector
    with store.session() as ses:
        ses.execute(delete(Track).where(Track.artist_id == a1))
    assert a1 in pe.refresh_embeddings(store, None, track_ids=[])
    with store.session() as ses:
        assert ses.get(ArtistEmbedding, a1) is None


def test_layout_version_change_reembeds_from_stored_descriptors(store, monkeypatch) -> None:
    lib = populate(store, n_artists=4)
    pe.refresh_embeddings(store, None)
    first = stored(store, TrackEmbedding, TrackEmbedding.track_id)
    # pretend the vectors were made by an older layout (and scrambled)
    with store.session() as ses:
        ses.execute(
            update(TrackEmbedding).values(
                layout_version=LAYOUT_VERSION - 1, vector=np.ones(64, "<f4").tobytes()
            )
        )
        set_state(ses, pe.STATE_KEY, {"version": LAYOUT_VERSION - 1, "weights": {}})

    def no_analysis(*a, **k):  # re-embedding must never re-analyse audio
        raise AssertionError("audio analysed during re-embedding")

    import sonicmap.analysis as analysis_pkg

    monkeypatch.setattr(analysis_pkg, "analyze_file", no_analysis, raising=False)
    touched = pe.refresh_embeddings(store, None, track_ids=[lib["tracks"][lib["artists"][0]][0]])
    assert touched == set(lib["artists"])
    again = stored(store, TrackEmbedding, TrackEmbedding.track_id)
    assert set(again) == set(first)
    for i in first:
        np.testing.assert_allclose(again[i], first[i], atol=1e-6)
    with store.session() as ses:
        assert set(ses.scalars(select(TrackEmbedding.layout_version))) == {LAYOUT_VERSION}
        assert set(ses.scalars(select(ArtistEmbedding.layout_version))) == {LAYOUT_VERSION}
    # other block weights are a layout change too
    pe.refresh_embeddings(store, None, weights={"genre": 0.0})
    changed = stored(store, TrackEmbedding, TrackEmbedding.track_id)
    assert any(not np.allclose(changed[i], first[i]) for i in first)


def test_similar_tracks_caps_and_never_the_seed(store) -> None:
    lib = populate(store, n_artists=8)
    pe.refresh_embeddings(store, None)
    a0 = lib["artists"][0]
    seed = lib["tracks"][a0][0]
    res = pe.similar_tracks(store, seed, 10)
    assert len(res) == 10 and seed not in [r["id"] for r in res]
    assert [r["score"] for r in res] == sorted((r["score"] for r in res), reverse=True)
    assert all(0.0 <= r["score"] <= 1.0 for r in res)
    # the five nearest come from the same style (artists 0 and 4 share it)
    same_style = set(lib["tracks"][a0]) | set(lib["tracks"][lib["artists"][4]])
    assert all(r["id"] in same_style for r in res[:5])
    # one per album: no two results share an album
    res = pe.similar_tracks(store, seed, 8, max_per_album=1)
    albums = [r["album_id"] for r in res]
    assert len(res) == 8 and len(set(albums)) == 8 and seed not in [r["id"] for r in res]
    res = pe.similar_tracks(store, seed, 6, max_per_artist=2)
    artists = [r["artist_id"] for r in res]
    assert len(res) == 6 and max(artists.count(a) for a in set(artists)) <= 2
    # more than the library holds: everything else, once
    res = pe.similar_tracks(store, seed, 500)
    assert len(res) == 8 * 6 - 1
    assert {"id", "path", "artist", "album", "score"} <= set(res[0])


def test_similar_artists_prefer_the_same_style(store) -> None:
    lib = populate(store, n_artists=8)
    pe.refresh_embeddings(store, None)
    a = lib["artists"]
    res = pe.similar_artists(store, a[1], 3)
    assert [r["id"] for r in res][0] == a[5]  # same style (1 and 5)
    assert a[1] not in [r["id"] for r in res]
    assert res[0]["name"] == "Artist 5" and res[0]["n_tracks"] == 6
    assert 0.0 <= res[-1]["score"] <= res[0]["score"] <= 1.0


def test_similar_artists_blends_cluster_membership(store) -> None:
    lib = populate(store, n_artists=8)
    pe.refresh_embeddings(store, None)
    a = lib["artists"]
    pure = pe.similar_artists(store, a[1], 7)
    with store.session() as ses:
        m = GmmModel(status="active", format_version=1, trigger="manual", k=2)
        ses.add(m)
        ses.flush()
        for aid in a:
            # put artist 1 in a cluster with the farthest artist by cosine only
            p = [1.0, 0.0] if aid in (a[1], pure[-1]["id"]) else [0.0, 1.0]
            ses.add(
                ArtistCluster(
                    model_id=m.id,
                    artist_id=aid,
                    cluster_id=int(p[1]),
                    probability=1.0,
                    probabilities=np.array(p, "<f4").tobytes(),
                )
            )
    blended = pe.similar_artists(store, a[1], 7, membership_weight=0.9)
    assert blended[0]["id"] == pure[-1]["id"]
    assert blended[0]["membership_overlap"] == pytest.approx(1.0)
    assert pe.similar_artists(store, a[1], 7)[0]["id"] == pure[0]["id"]
    with pytest.raises(SonicmapError, match="membership_weight must be between 0 and 1"):
        pe.similar_artists(store, a[1], 3, membership_weight=2)


def test_similarity_errors_name_the_problem(store) -> None:
    lib = populate(store, n_artists=2)
    with pytest.raises(NotFoundError, match="track 9999 does not exist"):
        pe.similar_tracks(store, 9999, 5)
    with pytest.raises(NotFoundError, match="no embedding yet"):
        pe.similar_tracks(store, lib["tracks"][lib["artists"][0]][0], 5)
    pe.refresh_embeddings(store, None)
    with pytest.raises(SonicmapError, match="max_per_album must be a positive integer, got 0"):
        pe.similar_tracks(store, lib["tracks"][lib["artists"][0]][0], 5, max_per_album=0)
    with pytest.raises(NotFoundError, match="artist 777 does not exist"):
        pe.similar_artists(store, 777, 5)


def test_find_artist_and_track(store) -> None:
    lib = populate(store, n_artists=2)
    assert pe.find_artist(store, "artist 1") == lib["artists"][1]
    with pytest.raises(NotFoundError, match="did you mean: Artist 0, Artist 1"):
        pe.find_artist(store, "artist")
    assert pe.find_track(store, "/music/0/1/2.flac") == lib["tracks"][lib["artists"][0]][5]
    with pytest.raises(NotFoundError, match="no track stored at"):
        pe.find_track(store, "nope.flac")
