"""The one similarity scale: a fixed function of the angle between two track vectors.

``similarity = 1 − θ / π`` where ``θ = arccos(1 − d)`` is the angle between the two vectors and
``d = 1 − cos θ`` their cosine distance (what the vector index reports). 1 = the same direction
(the same recording), 0.5 = orthogonal (nothing in common beyond chance), 0 = opposite (the most
different two vectors can be). It is monotone (decreasing) in the cosine distance and in the
Euclidean distance of the unit vectors (``‖x − y‖ = 2 sin(θ / 2)``), and depends on nothing else:
not on the layout version, the block weights or the library, so a stored or shared figure keeps
its meaning across model updates. The angle is a metric on the sphere (steps along a path add up
to the path's length), which is why it, not ``1 − d / 2``, is the scale.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np


@overload
def angle_of(distance: float) -> float: ...
@overload
def angle_of(distance: np.ndarray) -> np.ndarray: ...
def angle_of(distance: float | np.ndarray) -> float | np.ndarray:
    """Cosine distance ``1 − cos θ`` (0..2) → the angle θ in radians (0..π).

    distance : float or np.ndarray [any shape]; values are clipped to [0, 2] (float rounding).
    """
    if isinstance(distance, np.ndarray):
        return np.arccos(np.clip(1.0 - distance.astype(np.float64), -1.0, 1.0))
    return math.acos(min(1.0, max(-1.0, 1.0 - float(distance))))


@overload
def similarity(distance: float) -> float: ...
@overload
def similarity(distance: np.ndarray) -> np.ndarray: ...
def similarity(distance: float | np.ndarray) -> float | np.ndarray:
    """Cosine distance (0..2) → similarity in [0, 1] (``1 − θ / π``; 1 = same recording).

    distance : float or np.ndarray [any shape] of cosine distances ``1 − cos θ``.
    returns : the same shape, float64 in [0, 1]; NaN stays NaN.
    """
    if isinstance(distance, np.ndarray):
        return 1.0 - angle_of(distance) / np.pi
    if distance != distance:  # NaN
        return math.nan
    return 1.0 - angle_of(float(distance)) / math.pi
