"""Track and artist embeddings in the store, and similarity search (shell over
:mod:`sonicmap.embedding`; called by the CLI, the worker and the API alike).

* :func:`refresh_embeddings` — (re)embed tracks from their stored descriptors and re-aggregate the
  artists they touch (called after every scan). If the stored layout version (``app_state`` key
  ``embedding.layout``) differs from :data:`~sonicmap.embedding.LAYOUT_VERSION`, or other block
  weights are asked for, everything is re-embedded first (:func:`reembed_all`) — from the stored
  descriptors, never by re-analysing audio.
* :func:`similar_tracks` / :func:`similar_artists` — exact cosine k-NN through
  :func:`sonicmap.store.vectors.open_index`, never returning the seed, with per-artist / per-album
  caps for tracks (over-fetch, filter, widen until enough), scores in [0, 1]
  (``1 − cosine_distance / 2``; 1 = identical direction).

Similar artists may blend in GMM cluster-membership overlap: with ``membership_weight=w > 0`` and
an active model whose ``artist_clusters`` rows hold both artists' probability vectors ``p``, ``q``,
the score is ``(1 − w)·cosine_score + w·BC(p, q)`` where ``BC = Σ_k sqrt(p_k q_k)`` is the
Bhattacharyya coefficient (1 = same membership, 0 = disjoint clusters). Candidates are over-fetched
by cosine (``max(3k, k + 20)``) and re-ranked; artists without a membership vector keep their cosine
score. The default ``w = 0`` is pure cosine.

One module per part: :mod:`.refresh` (keeping vectors up to date), :mod:`.similar` (search and
ranking), :mod:`.lookup` (names and paths to ids).
"""

from sonicmap.pipeline.embeddings.lookup import find_artist, find_track
from sonicmap.pipeline.embeddings.refresh import (
    BATCH,
    STATE_KEY,
    _effective_weights,
    reembed_all,
    refresh_embeddings,
)
from sonicmap.pipeline.embeddings.similar import (
    TRACK_INFO,
    bhattacharyya,
    membership_distribution,
    rank_similar_artists,
    score_of,
    similar_artists,
    similar_tracks,
)

__all__ = [
    "BATCH",
    "STATE_KEY",
    "TRACK_INFO",
    "_effective_weights",
    "bhattacharyya",
    "find_artist",
    "find_track",
    "membership_distribution",
    "rank_similar_artists",
    "reembed_all",
    "refresh_embeddings",
    "score_of",
    "similar_artists",
    "similar_tracks",
]
