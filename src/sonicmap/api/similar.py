"""Adapters from the pipeline's similarity functions to the API's response shapes.

:func:`sonicmap.pipeline.embeddings.similar_artists` / ``similar_tracks`` do the search (exact
cosine through the vector index, seed excluded, caps applied) and return dicts best first; this
module only picks the fields the API documents.
"""

from __future__ import annotations

from typing import Any

from sonicmap.api.queries import clamp01
from sonicmap.api.schemas import SimilarArtist, SimilarTrack
from sonicmap.sequencing import similarity
from sonicmap.store.db import Store


def _pipeline() -> Any:
    from sonicmap.pipeline import embeddings

    return embeddings


def _similarity(row: dict[str, Any]) -> float:
    """A row's ``similarity`` (computed from its cosine distance when a row lacks it)."""
    value = row.get("similarity")
    return clamp01(similarity(float(row["distance"])) if value is None else value)


def similar_artists(
    store: Store, artist_id: int, limit: int, *, membership_weight: float = 0.0
) -> list[SimilarArtist]:
    rows = _pipeline().similar_artists(store, artist_id, limit, membership_weight=membership_weight)
    return [
        SimilarArtist(
            id=r["id"], name=r["name"], score=clamp01(r["score"]), similarity=_similarity(r)
        )
        for r in rows
    ]


def similar_tracks(
    store: Store,
    track_id: int,
    limit: int,
    *,
    max_per_artist: int | None,
    max_per_album: int | None,
) -> list[SimilarTrack]:
    rows = _pipeline().similar_tracks(
        store, track_id, limit, max_per_artist=max_per_artist, max_per_album=max_per_album
    )
    fields = SimilarTrack.model_fields
    return [
        SimilarTrack(
            **{k: v for k, v in r.items() if k in fields and k not in ("score", "similarity")},
            score=clamp01(r["score"]),
            similarity=_similarity(r),
        )
        for r in rows
    ]
