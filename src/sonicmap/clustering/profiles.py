"""Cluster profiles: size, weight, what sets a cluster apart, a short label, typical artists.

For each descriptor (per-artist averages of track descriptors such as ``bpm``, ``energy``,
``minor_share``, or genre shares ``genre:<name>``) the profile holds the z-score of the cluster's
mean against the library::

    z = (mean over the cluster's artists − mean over all artists) / std over all artists

(artists weighted by their responsibility; missing values ignored). The descriptors with the
largest |z| (at least ``min_z``) become words — ``bpm`` high → "fast", low → "slow" — joined
with " · ", e.g. "fast · energetic · minor · electronic".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# descriptor → (word when the cluster is above the library, word when below); None = no word.
WORDS: dict[str, tuple[str | None, str | None]] = {
    "bpm": ("fast", "slow"),
    "energy": ("energetic", "calm"),
    "minor_share": ("minor", "major"),
    "acousticness": ("acoustic", "electronic"),
    "danceability": ("danceable", None),
    "valence": ("bright", "dark"),
    "instrumentalness": ("instrumental", "vocal"),
    "speechiness": ("spoken", None),
    "loudness_lufs": ("loud", "quiet"),
    "mood_aggressive": ("aggressive", "gentle"),
    "mood_relaxed": ("relaxed", "tense"),
    "mood_happy": ("happy", "sad"),
    "mood_party": ("party", None),
    "spectral_centroid_hz": ("bright-timbred", "warm"),
    "onset_rate": ("busy", "sparse"),
    "dynamic_complexity": ("dynamic", "compressed"),
}


@dataclass
class ClusterProfile:
    """Profile of one component. ``representative``: artist ids, most typical first."""

    component: int
    size: int
    weight: float
    label: str
    z: dict[str, float] = field(default_factory=dict)
    representative: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "weight": self.weight,
            "label": self.label,
            "z": self.z,
            "representative": self.representative,
        }


def _word(name: str, z: float) -> str | None:
    if name.startswith("genre:"):
        return name.split(":", 1)[1] if z > 0 else None
    up, down = WORDS.get(name, (None, None))
    return up if z > 0 else down


def make_label(z: dict[str, float], *, max_words: int = 4, min_z: float = 0.5) -> str:
    """Words for the descriptors with the largest |z| ≥ ``min_z`` (at most one per word)."""
    words: list[str] = []
    for name, value in sorted(z.items(), key=lambda kv: -abs(kv[1])):
        if abs(value) < min_z or len(words) >= max_words:
            break
        w = _word(name, value)
        if w and w not in words:
            words.append(w)
    return " · ".join(words) if words else "typical of the library"


def cluster_profiles(
    resp: np.ndarray,
    artist_ids: np.ndarray,
    *,
    weights: np.ndarray,
    descriptors: np.ndarray | None = None,
    names: Sequence[str] = (),
    top_artists: int = 5,
    max_words: int = 4,
    min_z: float = 0.5,
    max_z: int = 10,
) -> list[ClusterProfile]:
    """Profiles of every component.

    Parameters
    ----------
    resp : np.ndarray [shape=(n, k), float32] responsibilities of the n artists
    artist_ids : np.ndarray [shape=(n,), int]
    weights : np.ndarray [shape=(k,), float] mixture weights
    descriptors : np.ndarray [shape=(n, m), float] or None, NaN = unknown
    names : the m descriptor names
    max_z : keep only this many z-scores (largest |z|) in each profile
    """
    n, k = resp.shape
    labels = np.argmax(resp, axis=1) if n else np.empty(0, int)
    z_all = np.zeros((k, 0))
    if descriptors is not None and descriptors.size and len(names):
        D = np.asarray(descriptors, np.float64)
        valid = np.isfinite(D)
        Dz = np.where(valid, D, 0.0)
        cnt = valid.sum(axis=0)
        mu = Dz.sum(axis=0) / np.maximum(cnt, 1)
        var = (np.where(valid, (D - mu) ** 2, 0.0)).sum(axis=0) / np.maximum(cnt - 1, 1)
        sd = np.sqrt(var)
        r = resp.astype(np.float64)
        num = r.T @ Dz  # (k, m)
        den = r.T @ valid.astype(np.float64)
        cmean = np.divide(num, den, out=np.tile(mu, (k, 1)), where=den > 0)
        z_all = np.divide(cmean - mu, sd, out=np.zeros_like(cmean), where=sd > 1e-12)
    out = []
    for j in range(k):
        members = np.flatnonzero(labels == j)
        order = members[np.argsort(-resp[members, j], kind="stable")][:top_artists]
        z = (
            {str(nm): round(float(z_all[j, i]), 3) for i, nm in enumerate(names)}
            if z_all.size
            else {}
        )
        z = dict(sorted(z.items(), key=lambda kv: -abs(kv[1]))[:max_z])
        out.append(
            ClusterProfile(
                component=j,
                size=int(len(members)),
                weight=float(weights[j]),
                label=make_label(z, max_words=max_words, min_z=min_z),
                z=z,
                representative=[int(a) for a in np.asarray(artist_ids)[order]],
            )
        )
    return out
