"""Genre taxonomy and artist aggregation."""

from __future__ import annotations

import numpy as np
import pytest
from embedding_fakes import make_features

from sonicmap.embedding import aggregate_artist, embed_tracks, genre_shares
from sonicmap.embedding.genres import parse_taxonomy, taxonomy
from sonicmap.embedding.layout import GENRE_PARENTS
from sonicmap.errors import SonicmapError


def test_shipped_taxonomy_covers_every_parent_and_common_subgenres() -> None:
    table = taxonomy()
    assert {i for parents in table.values() for i in parents} == set(range(len(GENRE_PARENTS)))
    for tag, parent in [
        ("Death Metal", "metal"),
        ("Synthwave", "electronic"),
        ("Drum & Bass", "electronic"),
        ("R&B", "rnb_soul"),
        ("Bossa Nova", "jazz"),
        ("Indie Rock", "rock"),
        ("Alt-Country", "folk_country"),
    ]:
        s = genre_shares([tag])
        assert s is not None and s[GENRE_PARENTS.index(parent)] == pytest.approx(1.0), tag
    assert genre_shares(["definitely not a genre"]) is None
    s = genre_shares(["synthpop", "rock"])
    assert s is not None and s.sum() == pytest.approx(1.0)
    assert s[GENRE_PARENTS.index("rock")] == pytest.approx(0.5)
    assert s[GENRE_PARENTS.index("pop")] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"parents": {"polka": ["polka"]}}, "unknown parent 'polka'"),
        ({"parents": {"rock": ["x"], "pop": ["x"]}}, "listed under two parents"),
        ({"parents": {"rock": []}, "multi": {"y": ["rock", "nope"]}}, "multi tag 'y'"),
        ([], "must be a mapping"),
    ],
)
def test_bad_taxonomy_is_rejected(doc, match) -> None:
    with pytest.raises(SonicmapError, match=match):
        parse_taxonomy(doc)


def test_artist_vector_is_duration_weighted_and_unit_norm() -> None:
    fast, slow = make_features(bpm=170.0, energy=0.9), make_features(bpm=75.0, energy=0.1)
    v = embed_tracks([fast, slow], [["techno"], ["ambient"]])
    long_fast = aggregate_artist(v, np.array([600.0, 60.0]))
    long_slow = aggregate_artist(v, np.array([60.0, 600.0]))
    assert long_fast.dtype == np.float32 and long_fast.shape == (64,)
    assert np.linalg.norm(long_fast) == pytest.approx(1.0, abs=1e-6)
    assert long_fast @ v[0] > long_slow @ v[0]
    assert long_slow @ v[1] > long_fast @ v[1]
    # unknown durations count as the median of the known ones
    np.testing.assert_allclose(
        aggregate_artist(v, np.array([np.nan, 100.0])), aggregate_artist(v), atol=1e-6
    )
    # one track: the artist is the track
    np.testing.assert_allclose(aggregate_artist(v[:1], np.array([200.0])), v[0], atol=1e-6)


def test_aggregate_rejects_bad_shapes() -> None:
    with pytest.raises(SonicmapError, match=r"shape \(n >= 1, 64\)"):
        aggregate_artist(np.zeros((0, 64)))
    with pytest.raises(SonicmapError, match="2 vectors but 3 durations"):
        aggregate_artist(np.zeros((2, 64)), np.ones(3))
