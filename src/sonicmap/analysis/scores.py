"""High-level scores in [0, 1]: documented formulas over the measured descriptors.

Every score is ``sigmoid(Σ w_i · z_i)`` where each ``z_i`` is one descriptor centred on a
library-typical value and divided by a typical spread (the ``_Z`` table below), so a weight of 1
moves the logit by 1 per typical spread. The sign of each weight is the score's documented
monotone direction in that descriptor (docs/analysis.md repeats the table and the rationale);
``tests/unit/analysis/test_scores.py`` checks each direction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# descriptor → (centre, spread): z = (value - centre) / spread
_Z: dict[str, tuple[float, float]] = {
    "loudness_lufs": (-14.0, 5.0),
    "onset_rate": (3.0, 2.0),
    "spectral_centroid_hz": (1300.0, 500.0),
    "spectral_flatness": (0.05, 0.05),
    "hf_ratio": (0.05, 0.05),
    "dynamic_complexity": (3.0, 2.0),
    "bpm": (110.0, 30.0),
    "pulse_strength": (0.3, 0.2),
    "dfa_danceability": (1.0, 0.4),
    "speech_modulation": (0.35, 0.12),
    "zcr": (0.08, 0.04),
}

WEIGHTS: dict[str, dict[str, float]] = {
    # louder, denser (onsets), brighter, noisier → more energetic; more dynamic → less
    "energy": {
        "loudness_lufs": 1.0,
        "onset_rate": 0.6,
        "spectral_centroid_hz": 0.5,
        "spectral_flatness": 0.3,
        "dynamic_complexity": -0.3,
    },
    # major mode (signed by key strength), faster, brighter → more positive
    "valence": {"mode_sign": 1.5, "bpm": 0.4, "spectral_centroid_hz": 0.3},
    # quieter, less noisy/bright/high-frequency, more dynamic → more acoustic
    "acousticness": {
        "loudness_lufs": -0.8,
        "spectral_flatness": -0.6,
        "hf_ratio": -0.5,
        "spectral_centroid_hz": -0.3,
        "dynamic_complexity": 0.4,
    },
    # syllable-rate modulation without a steady pulse → speech
    "speechiness": {"speech_modulation": 1.5, "pulse_strength": -0.6, "bias": -1.0},
    # the opposite evidence: no syllable-rate modulation → instrumental
    "instrumentalness": {"speech_modulation": -1.2, "pulse_strength": 0.3, "bias": 0.5},
    "mood_happy": {"mode_sign": 1.5, "bpm": 0.5, "loudness_lufs": 0.3, "spectral_centroid_hz": 0.2},
    "mood_aggressive": {
        "loudness_lufs": 1.0,
        "spectral_flatness": 0.8,
        "spectral_centroid_hz": 0.6,
        "onset_rate": 0.5,
        "mode_sign": -0.3,
        "bias": -1.0,
    },
    "mood_party": {
        "dfa_danceability": 0.8,
        "pulse_strength": 0.6,
        "loudness_lufs": 0.6,
        "bpm": 0.3,
        "onset_rate": 0.3,
    },
    "mood_relaxed": {
        "loudness_lufs": -0.8,
        "onset_rate": -0.6,
        "pulse_strength": -0.3,
        "spectral_flatness": -0.4,
        "bpm": -0.3,
    },
}


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


def z_values(features: Mapping[str, Any]) -> dict[str, float]:
    """Centred, scaled descriptors used by the scores (missing descriptors count as typical: 0)."""
    z: dict[str, float] = {}
    for name, (centre, spread) in _Z.items():
        v = features.get(name)
        z[name] = (
            0.0
            if not isinstance(v, int | float) or not math.isfinite(v)
            else (float(v) - centre) / spread
        )
    z["bpm"] = z["bpm"] if features.get("bpm") else 0.0
    ks = features.get("key_strength") or 0.0
    sign = 1.0 if features.get("mode") == "major" else -1.0
    z["mode_sign"] = sign * float(min(1.0, max(0.0, ks))) * 2.0
    z["bias"] = 1.0
    return z


def compute_scores(features: Mapping[str, Any]) -> dict[str, float]:
    """All scores of ``WEIGHTS`` from a feature mapping; each in [0, 1]."""
    z = z_values(features)
    return {
        name: round(_sigmoid(sum(w * z[k] for k, w in ws.items())), 4)
        for name, ws in WEIGHTS.items()
    }


def danceability_score(dfa: float) -> float:
    """Map the DFA danceability (0-3) to [0, 1]: sigmoid((dfa - 1.0) / 0.25); increasing."""
    return _sigmoid((dfa - 1.0) / 0.25)
