"""A small library with known vectors for the path / mix tests (tracks on a circle)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sonicmap.embedding import LAYOUT_VERSION
from sonicmap.store.repo import put_embeddings
from sonicmap.store.schema import Album, Artist, Track


def circle_vectors(n: int, seed: int = 0) -> np.ndarray:
    """``n`` unit 64-D vectors along 3/4 of a half circle in the plane of dims 0 and 1 (track i at
    angle 0.75·i·π/(n−1)), with a little noise in the other dims."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 0.75 * np.pi, n)
    v = np.zeros((n, 64))
    v[:, 0], v[:, 1] = np.cos(t), np.sin(t)
    v[:, 2:] = rng.normal(0, 0.01, (n, 62))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def fill(
    store: Any,
    vectors: np.ndarray,
    *,
    artist_of: list[int] | None = None,
    album_of: list[int] | None = None,
    titles: list[str] | None = None,
) -> list[int]:
    """One track per vector (artist / album indices as given, default one each); returns ids."""
    n = len(vectors)
    artist_of = artist_of or list(range(n))
    album_of = album_of or list(range(n))
    ids: list[int] = []
    with store.session() as ses:
        artists = {}
        for a in sorted(set(artist_of)):
            artists[a] = Artist(key=f"name:artist {a}", name=f"Artist {a}")
            ses.add(artists[a])
        albums = {}
        for b in sorted(set(album_of)):
            albums[b] = Album(key=f"album {b}", title=f"Album {b}")
            ses.add(albums[b])
        ses.flush()
        for i in range(n):
            t = Track(
                path=f"/music/{i:04d}.flac",
                size=1,
                mtime=0.0,
                duration_s=200.0 + i,
                title=titles[i] if titles else f"Song {i}",
                artist_id=artists[artist_of[i]].id,
                album_id=albums[album_of[i]].id,
                tags={},
                status="analysed",
            )
            ses.add(t)
            ses.flush()
            ids.append(t.id)
        put_embeddings(ses, "track", ids, vectors, layout_version=LAYOUT_VERSION)
        # artist vectors: mean of their tracks (what refresh_embeddings would store)
        a_ids, a_vecs = [], []
        for a, art in artists.items():
            m = vectors[[i for i in range(n) if artist_of[i] == a]].astype(np.float64).mean(0)
            a_ids.append(art.id)
            a_vecs.append(m / max(float(np.linalg.norm(m)), 1e-30))
        put_embeddings(
            ses,
            "artist",
            a_ids,
            np.array(a_vecs),
            layout_version=LAYOUT_VERSION,
            n_tracks=[artist_of.count(a) for a in artists],
        )
    return ids
