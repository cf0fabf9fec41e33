"""64-D track and artist embeddings from documented MIR formulas (pure: no database).

See :mod:`sonicmap.embedding.layout` for the table of dimensions and ``docs/embedding.md``.
"""

from sonicmap.embedding.artist import aggregate_artist
from sonicmap.embedding.docpage import render_markdown
from sonicmap.embedding.genres import genre_shares
from sonicmap.embedding.layout import (
    BLOCKS,
    DEFAULT_WEIGHTS,
    DIM,
    LAYOUT,
    LAYOUT_VERSION,
    Dim,
)
from sonicmap.embedding.track import embed_tracks, encode_tracks

__all__ = [
    "BLOCKS",
    "DEFAULT_WEIGHTS",
    "DIM",
    "LAYOUT",
    "LAYOUT_VERSION",
    "Dim",
    "aggregate_artist",
    "embed_tracks",
    "encode_tracks",
    "genre_shares",
    "render_markdown",
]
