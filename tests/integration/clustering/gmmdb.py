"""Helpers: artists with vectors in a store, a config with small minimums."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import delete, insert

from sonicmap.config import AppConfig, load_settings, parse_gmm_config
from sonicmap.embedding import LAYOUT_VERSION
from sonicmap.store.schema import Artist, ArtistEmbedding


def make_cfg(*, min_artists: int = 20, max_components: int = 8, **cleanup: object) -> AppConfig:
    gmm = parse_gmm_config(
        {
            "gmm_clustering": {
                "auto_queue": {"min_artists": min_artists, "max_components": max_components},
                "periodic": {"cleanup": cleanup} if cleanup else {},
            }
        }
    )
    return AppConfig(settings=load_settings({}), gmm=gmm)


def add_artists(store, X: np.ndarray, *, start: int = 1, tracks: int = 3) -> list[int]:
    """Insert artists ``start …`` with vectors ``X`` (n, 64); returns their ids."""
    ids = list(range(start, start + len(X)))
    with store.session() as s:
        s.execute(
            insert(Artist), [{"id": i, "key": f"name:a{i}", "name": f"Artist {i}"} for i in ids]
        )
        s.execute(
            insert(ArtistEmbedding),
            [
                {"artist_id": i, "layout_version": LAYOUT_VERSION,
                 "vector": np.asarray(v, "<f4").tobytes(), "n_tracks": tracks}
                for i, v in zip(ids, X, strict=True)
            ],
        )  # fmt: skip
    return ids


def remove_artists(store, ids: Sequence[int]) -> None:
    with store.session() as s:
        s.execute(delete(Artist).where(Artist.id.in_(list(ids))))
