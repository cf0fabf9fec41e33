"""Listenable sequences from track vectors (pure: numpy only, no database).

* :func:`similarity` — the one similarity scale of every similar, path and mix answer.
* :func:`plan_path` — a smooth path between two tracks (ends exact, no repeats, even steps).
* :func:`plan_mix` — a radio around one or more seeds (spread over the seeds, capped, excluding).

Tracks are handed over as a :class:`Pool` (ids, vectors and the artist / album / recording of each
row); the functions answer with row indices into it. The shell (:mod:`sonicmap.pipeline.paths`)
gathers the pool from the vector index and turns the indices into tracks.
"""

from sonicmap.sequencing.mix import MixPlan, plan_mix
from sonicmap.sequencing.path import PathPlan, plan_path, waypoints
from sonicmap.sequencing.pool import Pool
from sonicmap.sequencing.similarity import angle_of, similarity

__all__ = [
    "MixPlan",
    "PathPlan",
    "Pool",
    "angle_of",
    "plan_mix",
    "plan_path",
    "similarity",
    "waypoints",
]
