"""Properties of the 64-D layout, each as an executable assertion."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from embedding_fakes import make_features, random_library

from sonicmap.embedding import DIM, LAYOUT, LAYOUT_VERSION, embed_tracks, encode_tracks
from sonicmap.embedding.docpage import render_markdown
from sonicmap.embedding.layout import BLOCK_SLICES, BLOCKS, block_scale
from sonicmap.errors import SonicmapError

DOCS = Path(__file__).resolve().parents[3] / "docs" / "embedding.md"


def dist(a: dict, b: dict, ga=None, gb=None, **kw) -> float:
    v = embed_tracks([a, b], [ga or [], gb or []], **kw)
    return float(np.linalg.norm(v[0] - v[1]))


def test_exactly_64_named_dimensions_in_six_contiguous_blocks() -> None:
    assert DIM == 64 and len(LAYOUT) == 64
    assert [d.index for d in LAYOUT] == list(range(64))
    assert len({d.name for d in LAYOUT}) == 64
    assert sum(sl.stop - sl.start for sl in BLOCK_SLICES.values()) == 64
    assert tuple(BLOCK_SLICES) == BLOCKS and len(BLOCKS) == 6
    assert isinstance(LAYOUT_VERSION, int)
    for d in LAYOUT:  # every row documents itself
        assert d.formula and d.neutral
        lo, hi = d.range
        assert lo < 0 <= hi or lo <= 0 < hi  # neutral 0.0 lies inside the range


def test_varied_library_has_no_constant_and_no_duplicate_dimension() -> None:
    feats, genres = random_library(600, seed=1)
    x = encode_tracks(feats, genres)
    assert np.isfinite(x).all()
    std = x.std(axis=0)
    constant = [LAYOUT[i].name for i in np.flatnonzero(std < 0.02)]
    assert not constant, f"constant dimensions over a varied library: {constant}"
    corr = np.corrcoef(x, rowvar=False)
    dupes = [
        (LAYOUT[i].name, LAYOUT[j].name)
        for i, j in itertools.combinations(range(DIM), 2)
        if abs(corr[i, j]) > 0.98
    ]
    assert not dupes, f"duplicate dimensions: {dupes}"


def test_values_finite_and_within_documented_ranges_even_for_garbage() -> None:
    feats, genres = random_library(200, seed=2)
    garbage = [
        {},
        {"bpm": float("nan"), "loudness_lufs": float("inf"), "chroma": [0] * 12},
        {"bpm": -5, "key_index": 42, "mode": "dorian", "chroma": "x", "mfcc_mean": [1, 2]},
        {"bpm": "128", "key": "Bb", "mode": "MINOR", "zcr": None, "spectral_contrast": []},
        {"bpm": 1e308, "spectral_centroid_hz": 0.0, "energy": 7.0, "mfcc_mean": None},
    ]
    x = encode_tracks(feats + garbage, genres + [[], ["???"], None, "Rock; Pop", [""]])
    assert np.isfinite(x).all()
    for d in LAYOUT:
        lo, hi = d.range
        col = x[:, d.index]
        assert col.min() >= lo - 1e-9 and col.max() <= hi + 1e-9, d.name
    v = embed_tracks(feats + garbage, genres + [[], ["???"], None, "Rock; Pop", [""]])
    assert v.dtype == np.float32 and v.shape == (205, 64)
    norms = np.linalg.norm(v, axis=1)
    np.testing.assert_allclose(norms[:200], 1.0, atol=1e-5)
    # rows without a single usable input carry no direction (the pipeline does not index them)
    assert norms[200] == norms[201] == norms[202] == 0.0
    np.testing.assert_allclose(norms[203:], 1.0, atol=1e-5)
    # numeric strings are parsed, flat key names and case-insensitive modes understood
    y = encode_tracks([garbage[3], make_features(bpm=128.0, key_index=10, mode="minor")])
    for name in ("tempo_circle_cos", "tempo_octave", "key_fifths_cos", "key_fifths_sin", "mode"):
        i = next(d.index for d in LAYOUT if d.name == name)
        assert y[0, i] == pytest.approx(y[1, i])


# --- key geometry ----------------------------------------------------------------------------


def key_track(k: int, mode: str = "major") -> dict:
    # same chroma for every key: the test isolates the key / mode dimensions
    return make_features(key_index=k, mode=mode, chroma=[1 / 12] * 12)


def test_relative_keys_and_fifths_are_closer_than_a_tritone() -> None:
    c = key_track(0)
    tritone = dist(c, key_track(6))
    assert dist(c, key_track(7)) < tritone  # G major, a fifth up
    assert dist(c, key_track(5)) < tritone  # F major, a fifth down
    assert dist(c, key_track(9, "minor")) < tritone  # A minor, the relative minor
    assert dist(c, key_track(0, "minor")) < tritone  # C minor, the parallel minor
    # the circle of fifths orders distances: fifth < whole tone (two fifths) < tritone
    assert dist(c, key_track(7)) < dist(c, key_track(2)) < tritone
    # a semitone is far on the circle of fifths (5 steps): farther than a fifth
    assert dist(c, key_track(1)) > dist(c, key_track(7))
    # relative pairs are equally close in every key
    rel = [dist(key_track(k), key_track((k + 9) % 12, "minor")) for k in range(12)]
    assert max(rel) - min(rel) < 1e-5


def test_mode_separates_otherwise_identical_keys() -> None:
    assert dist(key_track(0), key_track(9, "minor")) > 0.05


def test_key_name_is_used_when_key_index_is_missing() -> None:
    a = make_features(key_index=3)
    b = dict(a, key="Eb")
    del b["key_index"]
    assert dist(a, b) < 1e-6


# --- tempo geometry --------------------------------------------------------------------------


@pytest.mark.parametrize("bpm", [70.0, 100.0, 120.0, 140.0, 170.0])
def test_half_and_double_tempo_move_less_than_a_different_tempo(bpm: float) -> None:
    t = make_features(bpm=bpm)
    half, double = make_features(bpm=bpm / 2), make_features(bpm=bpm * 2)
    for other in (bpm * 0.85, bpm * 1.15, bpm * 1.33, bpm * 0.75):
        different = dist(t, make_features(bpm=other))
        assert dist(t, half) < different
        assert dist(t, double) < different
    # and a track at half tempo is still not the same track
    assert dist(t, half) > 0.01


def test_nearby_tempi_are_close_and_distance_grows_with_the_gap() -> None:
    t = make_features(bpm=120.0)
    d = [dist(t, make_features(bpm=120.0 * r)) for r in (1.01, 1.05, 1.12, 1.25, 1.41)]
    assert d == sorted(d)
    assert d[0] < 0.1


# --- missing values --------------------------------------------------------------------------


def test_missing_inputs_are_neutral_not_zero() -> None:
    full = make_features()
    # "quiet, slow, dull, calm": the low end a naive zero-fill would drift towards
    low_end = {
        "loudness_lufs": -40.0,
        "bpm": 50.0,
        "energy": 0.0,
        "spectral_centroid_hz": 200.0,
        "dfa_danceability": 0.5,
        "mood_aggressive": 0.0,
    }
    for name, low in low_end.items():
        dims = [d.index for d in LAYOUT if d.source == name]
        missing = encode_tracks([{k: v for k, v in full.items() if k != name}])[0]
        assert not missing[dims].any(), f"{name}: missing must encode to the neutral 0.0"
        low_x = encode_tracks([dict(full, **{name: low})])[0]
        assert np.abs(low_x[dims] - missing[dims]).max() > 0.3, name

    # loudness: missing encodes as typical (the layout's centre, ≈ -15 LUFS), louder than quiet
    loud = next(d for d in LAYOUT if d.name == "loudness")
    i = loud.index
    assert -18.0 < loud.params["c"] < -10.0
    x = encode_tracks(
        [
            {k: v for k, v in full.items() if k != "loudness_lufs"},
            dict(full, loudness_lufs=loud.params["c"]),
            dict(full, loudness_lufs=-30.0),
            dict(full, loudness_lufs=None),
        ]
    )
    assert x[0, i] == pytest.approx(x[1, i]) == pytest.approx(0.0)
    assert x[0, i] > x[2, i] + 0.5
    assert x[3, i] == x[0, i]


def test_missing_tempo_is_equally_far_from_every_tempo() -> None:
    no_bpm = {k: v for k, v in make_features().items() if k != "bpm"}
    x = encode_tracks([no_bpm] + [make_features(bpm=b) for b in (60.0, 85.0, 120.0, 150.0, 175.0)])
    circle = x[:, 0:2]
    r = np.linalg.norm(circle[1:] - circle[0], axis=1)
    np.testing.assert_allclose(r, 1.0, atol=1e-9)  # the centre of the unit circle
    # and not "slow": the coarse tempo sits at the reference tempo, not below the slowest track
    i = next(d.index for d in LAYOUT if d.name == "tempo_octave")
    assert x[0, i] == 0.0 and x[1, i] < 0.0


def test_missing_mode_is_between_major_and_minor() -> None:
    base = make_features(key_index=9)
    unknown = {k: v for k, v in base.items() if k != "mode"}
    d_major = dist(unknown, dict(base, mode="major"))
    d_minor = dist(unknown, dict(base, mode="minor"))
    assert d_major == pytest.approx(d_minor, rel=1e-4)
    assert d_major < dist(dict(base, mode="major"), dict(base, mode="minor"))


def test_track_without_any_descriptor_encodes_to_the_neutral_point() -> None:
    assert not encode_tracks([{}], [[]]).any()


# --- genre -----------------------------------------------------------------------------------


def genre_block(genres) -> np.ndarray:
    return encode_tracks([make_features()], [genres])[0, BLOCK_SLICES["genre"]]


def test_subgenres_map_to_their_parent() -> None:
    np.testing.assert_allclose(genre_block(["Death Metal"]), genre_block(["metal"]))
    np.testing.assert_allclose(genre_block(["melodic death metal"]), genre_block(["metal"]))
    np.testing.assert_allclose(genre_block(["Hip-Hop"]), genre_block(["rap"]))
    synth = genre_block(["synthpop"])
    np.testing.assert_allclose(synth, (genre_block(["pop"]) + genre_block(["electronic"])) / 2)


def test_several_genres_share_the_weight_and_unknown_genres_add_nothing() -> None:
    both = genre_block(["rock", "jazz"])
    np.testing.assert_allclose(both, (genre_block(["rock"]) + genre_block(["jazz"])) / 2)
    np.testing.assert_allclose(genre_block(["rock", "zzz unknown"]), genre_block(["rock"]))
    np.testing.assert_allclose(genre_block("Rock; Jazz"), both)
    assert not genre_block(["zzz unknown"]).any()  # no genre information, not a fake genre
    assert not genre_block([]).any()
    assert not genre_block(None).any()
    # the shares sum to one: one known genre is as strong as two
    assert genre_block(["rock"]).sum() == pytest.approx(genre_block(["rock", "jazz"]).sum())


def test_genre_pulls_same_genre_tracks_together() -> None:
    f = make_features()
    assert dist(f, f, ["rock"], ["indie rock"]) < dist(f, f, ["rock"], ["techno"])
    assert dist(f, f, ["rock"], ["unknown thing"]) < dist(f, f, ["rock"], ["techno"])


# --- weights ---------------------------------------------------------------------------------


def test_block_weights_set_each_block_share() -> None:
    a = make_features(bpm=90.0)
    b = make_features(bpm=140.0)
    assert dist(a, b, weights={"tempo_rhythm": 0.0}) == pytest.approx(0.0, abs=1e-6)
    assert dist(a, b, weights={"tempo_rhythm": 2.0}) > dist(a, b)
    scale = block_scale({"genre": 2.0})
    sl = BLOCK_SLICES["genre"]
    assert scale[sl][0] == pytest.approx(2.0 / math.sqrt(sl.stop - sl.start))


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ({"rhythm": 1.0}, "unknown embedding block 'rhythm'"),
        ({"genre": -1}, "must be a finite number >= 0"),
    ],
)
def test_bad_weights_are_rejected_with_a_clear_message(weights, match) -> None:
    with pytest.raises(SonicmapError, match=match):
        embed_tracks([make_features()], [[]], weights=weights)


def test_batch_equals_one_by_one_and_single_track_works() -> None:
    feats, genres = random_library(50, seed=3)
    feats[3] = {k: v for k, v in feats[3].items() if k not in ("chroma", "bpm")}
    feats[7]["mfcc_mean"] = None
    batch = embed_tracks(feats, genres)
    one = np.vstack([embed_tracks([f], [g]) for f, g in zip(feats, genres, strict=True)])
    np.testing.assert_allclose(batch, one, atol=1e-6)


def test_genres_length_mismatch_is_an_error() -> None:
    with pytest.raises(SonicmapError, match="2 feature dicts but 1 genre lists"):
        embed_tracks([make_features(), make_features()], [[]])


def test_docs_page_is_generated_from_the_layout() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown() + "\n", (
        "docs/embedding.md is stale: regenerate with "
        "python -c 'from sonicmap.embedding import render_markdown as r; print(r())' > docs/embedding.md"
    )
