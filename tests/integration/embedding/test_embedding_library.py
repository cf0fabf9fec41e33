"""The embedding on a generated library of really analysed audio.

30 synthetic artists in 10 style families (a family = one demo genre archetype; its three artists
vary key, tempo, brightness and loudness), 8 short tracks each, each file analysed by
:func:`sonicmap.analysis.analyze_file`. Shows that tracks find their own artist and artists find
their own family.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sonicmap.embedding import LAYOUT, aggregate_artist, embed_tracks, encode_tracks
from sonicmap.embedding.layout import BLOCK_SLICES

pytestmark = pytest.mark.slow

N_FAMILIES = 10
ARTISTS_PER_FAMILY = 3
TRACKS_PER_ARTIST = 8
CLIP_S = 6.0
# (key shift [semitones], tempo factor, brightness shift, loudness shift [dB]) per artist variant
VARIANTS = [(0, 1.0, 0.0, 0.0), (5, 1.1, 0.15, 2.5), (9, 0.9, -0.15, -2.5)]


def family_styles(seed: int = 11) -> tuple[list[Any], list[int]]:
    """Three distinct variants of each of ten demo styles; returns (styles, family per artist)."""
    from sonicmap.synth import demo_styles

    styles, families = [], []
    for fam, base in enumerate(demo_styles(N_FAMILIES, seed=seed)):
        for dkey, tempo, dbright, dloud in VARIANTS[:ARTISTS_PER_FAMILY]:
            styles.append(
                base.with_(
                    key=(base.key + dkey) % 12,
                    bpm=round(base.bpm * tempo, 1),
                    brightness=float(np.clip(base.brightness + dbright, 0.05, 0.97)),
                    loudness_db=float(np.clip(base.loudness_db + dloud, -28.0, -6.0)),
                )
            )
            families.append(fam)
    return styles, families


@pytest.fixture(scope="session")
def analysed_library(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Generate and analyse the library once per session."""
    analysis = pytest.importorskip("sonicmap.analysis")
    from sonicmap.synth import generate_library

    styles, families = family_styles()
    root: Path = tmp_path_factory.mktemp("embedding-library")
    lib = generate_library(
        root,
        n_artists=len(styles),
        tracks_per_artist=TRACKS_PER_ARTIST,
        formats=("wav",),
        duration_s=CLIP_S,
        seed=5,
        styles=styles,
    )
    feats, genres, artist, family, durations = [], [], [], [], []
    for t in lib:
        a = analysis.analyze_file(t.path)
        feats.append(a.features)
        genres.append([t.genre])
        artist.append(t.artist_index)
        family.append(families[t.artist_index])
        durations.append(a.duration_s)
    return {
        "features": feats,
        "genres": genres,
        "artist": np.array(artist),
        "family": np.array(family),
        "durations": np.array(durations),
    }


def test_tracks_find_their_own_artist(analysed_library) -> None:
    lib = analysed_library
    v = embed_tracks(lib["features"], lib["genres"]).astype(np.float64)
    sim = v @ v.T
    np.fill_diagonal(sim, -np.inf)  # never the seed itself
    top5 = np.argsort(-sim, axis=1)[:, :5]
    precision = float((lib["artist"][top5] == lib["artist"][:, None]).mean())
    assert precision >= 0.8, f"same-artist precision@5 = {precision:.3f}"


def test_nearest_artist_shares_the_generating_style(analysed_library) -> None:
    lib = analysed_library
    v = embed_tracks(lib["features"], lib["genres"])
    artists = np.unique(lib["artist"])
    av = np.vstack(
        [
            aggregate_artist(v[lib["artist"] == a], lib["durations"][lib["artist"] == a])
            for a in artists
        ]
    ).astype(np.float64)
    fam = np.array([lib["family"][lib["artist"] == a][0] for a in artists])
    sim = av @ av.T
    np.fill_diagonal(sim, -np.inf)
    nearest = sim.argmax(axis=1)
    share = float((fam[nearest] == fam).mean())
    assert len(artists) >= 30
    assert share >= 0.9, f"nearest artist in the same style family for {share:.0%} of artists"
    # without the genre tags (the tags carry the family), the sound alone still finds the family
    v = embed_tracks(lib["features"], [[] for _ in lib["genres"]])
    av = np.vstack(
        [
            aggregate_artist(v[lib["artist"] == a], lib["durations"][lib["artist"] == a])
            for a in artists
        ]
    ).astype(np.float64)
    sim = av @ av.T
    np.fill_diagonal(sim, -np.inf)
    share_sound = float((fam[sim.argmax(axis=1)] == fam).mean())
    assert share_sound >= 0.8, f"without genre tags: {share_sound:.0%}"


def test_analysed_library_uses_every_signal_dimension(analysed_library) -> None:
    lib = analysed_library
    x = encode_tracks(lib["features"], lib["genres"])
    assert np.isfinite(x).all()
    signal = [d for d in LAYOUT if d.block != "genre"]  # genre coverage depends on the tags
    std = x.std(axis=0)
    constant = [d.name for d in signal if std[d.index] < 0.01]
    assert not constant, f"constant over the analysed library: {constant}"
    corr = np.corrcoef(x[:, : BLOCK_SLICES["genre"].start], rowvar=False)
    dupes = [
        (LAYOUT[i].name, LAYOUT[j].name)
        for i, j in itertools.combinations(range(corr.shape[0]), 2)
        if abs(corr[i, j]) > 0.995
    ]
    assert not dupes, f"duplicate dimensions: {dupes}"
    # analysis features reach the embedding (no dimension silently reads a missing descriptor)
    missing = sorted({d.source for d in signal} - set(lib["features"][0]) - {"genres"})
    assert not missing, f"descriptors the analysis does not provide: {missing}"
