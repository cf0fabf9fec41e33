"""Fabricated descriptor dicts for the embedding tests (no audio analysis needed)."""

from __future__ import annotations

from typing import Any

import numpy as np

PITCHES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def triad_chroma(key: int, mode: str) -> list[float]:
    """Chroma of a tonic triad plus a little of everything (sum 1)."""
    c = np.full(12, 0.02)
    third = 3 if mode == "minor" else 4
    for step, w in ((0, 1.0), (third, 0.7), (7, 0.8)):
        c[(key + step) % 12] += w
    return (c / c.sum()).tolist()


def make_features(**over: Any) -> dict[str, Any]:
    """A complete, typical descriptor dict; keyword arguments override fields."""
    key = int(over.pop("key_index", 0))
    mode = over.pop("mode", "major")
    f: dict[str, Any] = {
        "duration_s": 200.0,
        "bpm": 120.0,
        "bpm_confidence": 0.8,
        "pulse_strength": 0.5,
        "onset_rate": 3.0,
        "danceability": 1.2,
        "key": PITCHES[key],
        "key_index": key,
        "mode": mode,
        "key_strength": 0.7,
        "chroma": triad_chroma(key, mode),
        "loudness_lufs": -12.0,
        "loudness_range_lu": 6.0,
        "dynamic_complexity": 3.0,
        "rms_mean_db": -15.0,
        "rms_std_db": 3.0,
        "spectral_centroid_hz": 1600.0,
        "spectral_centroid_std_hz": 700.0,
        "spectral_bandwidth_hz": 1800.0,
        "spectral_rolloff_hz": 3600.0,
        "spectral_flatness": 0.02,
        "spectral_contrast": [18.0, 20.0, 21.0, 22.0, 19.0, 17.0, 30.0],
        "spectral_flux": 0.1,
        "zcr": 0.06,
        "mfcc_mean": [-200.0, 80.0, 10.0, 5.0, 3.0, -2.0, 1.0, 0.0, -1.0, 2.0, 1.0, 0.0, -0.5],
        "mfcc_std": [30.0, 15.0, 12.0, 10.0, 9.0, 8.0, 8.0, 7.0, 7.0, 6.0, 6.0, 5.0, 5.0],
        "energy": 0.6,
        "valence": 0.5,
        "acousticness": 0.3,
        "instrumentalness": 0.8,
        "speechiness": 0.05,
        "mood_happy": 0.5,
        "mood_aggressive": 0.3,
        "mood_party": 0.5,
        "mood_relaxed": 0.4,
        "truncated": False,
    }
    f.update(over)
    return f


def random_library(n: int, seed: int = 0) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """A varied fabricated library: every descriptor drawn over a plausible range."""
    rng = np.random.default_rng(seed)
    genres = [
        "rock",
        "death metal",
        "synthpop",
        "techno",
        "hip hop",
        "jazz",
        "folk",
        "reggae",
        "soul",
        "blues",
        "classical",
        "salsa",
        "pop",
        "heavy metal",
    ]
    feats, gens = [], []
    for _ in range(n):
        key = int(rng.integers(12))
        mode = "minor" if rng.random() < 0.4 else "major"
        chroma = np.abs(np.array(triad_chroma(key, mode)) + rng.normal(0, 0.03, 12))
        f = make_features(
            key_index=key,
            mode=mode,
            chroma=(chroma / chroma.sum()).tolist(),
            bpm=float(rng.uniform(60, 190)),
            bpm_confidence=float(rng.uniform()),
            pulse_strength=float(rng.uniform()),
            onset_rate=float(rng.uniform(0.5, 10)),
            danceability=float(rng.uniform(0.3, 2.5)),
            key_strength=float(rng.uniform(0.3, 0.95)),
            loudness_lufs=float(rng.uniform(-30, -5)),
            loudness_range_lu=float(rng.uniform(1, 20)),
            dynamic_complexity=float(rng.uniform(0.5, 10)),
            spectral_centroid_hz=float(rng.uniform(300, 5000)),
            spectral_centroid_std_hz=float(rng.uniform(100, 3000)),
            spectral_bandwidth_hz=float(rng.uniform(500, 4000)),
            spectral_rolloff_hz=float(rng.uniform(500, 12000)),
            spectral_flatness=float(10 ** rng.uniform(-4, -0.5)),
            spectral_contrast=rng.uniform(5, 40, 7).tolist(),
            spectral_flux=float(10 ** rng.uniform(-2, 0)),
            zcr=float(10 ** rng.uniform(-2.3, -0.7)),
            mfcc_mean=rng.normal(0, 30, 13).tolist(),
            mfcc_std=rng.uniform(3, 30, 13).tolist(),
            **{
                k: float(rng.uniform())
                for k in (
                    "energy",
                    "valence",
                    "acousticness",
                    "instrumentalness",
                    "speechiness",
                    "mood_happy",
                    "mood_aggressive",
                    "mood_party",
                    "mood_relaxed",
                )
            },
        )
        feats.append(f)
        gens.append(
            [str(g) for g in rng.choice(genres, size=int(rng.integers(0, 3)), replace=False)]
        )
    return feats, gens
