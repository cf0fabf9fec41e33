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
        "onset_rate": 2.5,
        "danceability": 0.8,
        "dfa_danceability": 2.0,
        "speech_modulation": 0.4,
        "key": PITCHES[key],
        "key_index": key,
        "mode": mode,
        "key_strength": 0.75,
        "chroma": triad_chroma(key, mode),
        "loudness_lufs": -12.0,
        "loudness_range_lu": 4.0,
        "dynamic_complexity": 2.0,
        "rms_mean_db": -15.0,
        "rms_std_db": 3.0,
        "spectral_centroid_hz": 1000.0,
        "spectral_centroid_std_hz": 250.0,
        "spectral_bandwidth_hz": 900.0,
        "spectral_rolloff_hz": 600.0,
        "spectral_flatness": 0.003,
        "spectral_contrast": [32.0, 20.0, 28.0, 31.0, 28.0, 25.0],
        "spectral_flux": 1.2,
        "zcr": 0.07,
        "mfcc_mean": [-33.0, 15.0, 0.1, 3.0, -0.5, 1.7, 0.4, 1.2, -0.2, 0.3, -0.1, 0.3, 0.2],
        "mfcc_std": [10.0, 4.0, 2.8, 2.6, 2.3, 2.2, 2.0, 1.9, 2.2, 2.0, 2.1, 2.0, 1.9],
        "mfcc_corr": [0.1] * 15,
        "spectral_valley": [-12.0, -18.0, -22.0, -28.0, -35.0, -45.0],
        "fluctuation_pattern": [0.05, 0.1, 0.15, 0.2, 0.25, 0.25],
        "fluctuation_gravity_hz": 5.4,
        "fluctuation_strength": 1.25,
        "hf_ratio": 0.015,
        "hf_profile_db": [-35.0, -42.0, -50.0, -55.0, -60.0, -70.0, -80.0, -95.0],
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
        # from a clear triad to a nearly flat profile (real recordings' chroma is rather flat)
        clear = rng.uniform(0.0, 1.0) ** 3
        chroma = np.abs(
            clear * np.array(triad_chroma(key, mode)) + (1 - clear) / 12 + rng.normal(0, 0.01, 12)
        )
        f = make_features(
            key_index=key,
            mode=mode,
            chroma=(chroma / chroma.sum()).tolist(),
            bpm=float(rng.uniform(60, 190)),
            bpm_confidence=float(rng.uniform()),
            pulse_strength=float(rng.uniform()),
            onset_rate=float(rng.uniform(0.5, 8)),
            dfa_danceability=float(rng.uniform(0.8, 3.0)),
            speech_modulation=float(rng.uniform(0.05, 0.8)),
            key_strength=float(rng.uniform(0.5, 0.95)),
            loudness_lufs=float(rng.uniform(-30, -5)),
            loudness_range_lu=float(rng.uniform(0.2, 15)),
            dynamic_complexity=float(rng.uniform(0.2, 6)),
            spectral_centroid_hz=float(rng.uniform(300, 3000)),
            spectral_centroid_std_hz=float(rng.uniform(50, 1000)),
            spectral_bandwidth_hz=float(rng.uniform(300, 2500)),
            spectral_rolloff_hz=float(rng.uniform(100, 3000)),
            spectral_flatness=float(10 ** rng.uniform(-4, -1)),
            spectral_contrast=rng.uniform(10, 45, 6).tolist(),
            spectral_flux=float(rng.uniform(0.2, 3.0)),
            zcr=float(rng.uniform(0.02, 0.3)),
            mfcc_mean=(rng.normal(0, 3, 13) + np.array([-33.0, 15.0] + [0.0] * 11)).tolist(),
            mfcc_std=rng.uniform(0.5, 8, 13).tolist(),
            mfcc_corr=rng.uniform(-0.6, 0.8, 15).tolist(),
            spectral_valley=rng.uniform(-80, -5, 6).tolist(),
            fluctuation_gravity_hz=float(rng.uniform(4.5, 6.5)),
            fluctuation_strength=float(rng.uniform(0.3, 4.0)),
            hf_ratio=float(rng.uniform(0.0, 0.2)),
            hf_profile_db=np.sort(rng.uniform(-100, -20, 8))[::-1].tolist(),
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
