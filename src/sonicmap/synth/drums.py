"""The drum kit of the synthesizer: one-shot sounds, one bar's pattern per drum style, swing."""

from __future__ import annotations

import numpy as np

from sonicmap.synth.voices import TWO_PI


def drum_kit(sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Kick, snare, closed and open hi-hat one-shots (float32, peak about 1)."""
    n = int(0.35 * sr)
    t = np.arange(n, dtype=np.float32) / np.float32(sr)
    f = 48.0 + 110.0 * np.exp(-t / 0.035)  # Hz, pitch sweep
    kick = np.sin(TWO_PI * np.cumsum(f) / np.float32(sr)) * np.exp(-t / 0.16)
    kick[: int(0.002 * sr)] += rng.uniform(-0.4, 0.4, int(0.002 * sr)).astype(np.float32)
    ns = int(0.25 * sr)
    ts = t[:ns]
    noise = rng.uniform(-1.0, 1.0, ns).astype(np.float32)
    snare = 0.7 * noise * np.exp(-ts / 0.07) + 0.6 * np.sin(TWO_PI * 190.0 * ts) * np.exp(
        -ts / 0.05
    )
    nh = int(0.2 * sr)
    hiss = (
        np.diff(rng.uniform(-1.0, 1.0, nh + 1)).astype(np.float32) * 0.5
    )  # first difference: high-pass
    th = t[:nh]
    hat = hiss * np.exp(-th / 0.018)
    ohat = hiss * np.exp(-th / 0.09)
    return {"kick": kick, "snare": snare, "hat": hat, "ohat": ohat}


DRUM_GAIN = {"kick": 0.9, "snare": 0.5, "hat": 0.22, "ohat": 0.18}


def drum_pattern(name: str, meter: int) -> list[tuple[float, str, float]]:
    """Hits of one bar: (position in beats from the bar start, sound, velocity)."""
    hits: list[tuple[float, str, float]] = []
    eighths = [i * 0.5 for i in range(2 * meter)]
    sixteenths = [i * 0.25 for i in range(4 * meter)]
    if name == "four_on_floor":
        hits += [(b, "kick", 1.0) for b in range(meter)]
        hits += [(b, "snare", 0.8) for b in range(1, meter, 2)]
        hits += [(b + 0.5, "ohat", 0.9) for b in range(meter)]
        hits += [(p, "hat", 0.5) for p in sixteenths if p % 1 in (0.25, 0.75)]
    elif name == "backbeat":
        hits += [(0.0, "kick", 1.0), (2.0 if meter == 4 else 1.5, "kick", 0.85)]
        hits += [(b, "snare", 1.0) for b in range(1, meter, 2)]
        hits += [(p, "hat", 0.9 if p % 1 == 0 else 0.45) for p in eighths]
    elif name == "breakbeat":
        hits += [(0.0, "kick", 1.0), (1.75, "kick", 0.7), (2.5, "kick", 0.9)]
        hits += [(1.0, "snare", 1.0), (3.0 if meter == 4 else 2.0, "snare", 1.0)]
        hits += [(2.75, "snare", 0.35)]
        hits += [(p, "hat", 0.9 if p % 1 == 0 else 0.35) for p in sixteenths]
    elif name == "halftime":
        hits += [(0.0, "kick", 1.0), (3.0 if meter == 4 else 2.0, "kick", 0.6)]
        hits += [(2.0 if meter == 4 else 1.0, "snare", 1.0)]
        hits += [(p, "hat", 0.8 if p % 1 == 0 else 0.3) for p in eighths]
    elif name == "blast":
        hits += [(p, "kick", 0.85) for p in eighths]
        hits += [(b + 0.5, "snare", 0.8) for b in range(meter)]
        hits += [(b, "snare", 0.6) for b in range(meter)]
        hits += [(b, "ohat", 0.7) for b in range(meter)]
    elif name == "waltz":
        hits += [(0.0, "kick", 1.0)]
        hits += [(b, "snare", 0.55) for b in range(1, meter)]
        hits += [(b, "hat", 0.5) for b in range(meter)]
    return [(p, s, v) for p, s, v in hits if p < meter]


def swing_beats(pos: np.ndarray | float, swing: float) -> np.ndarray | float:
    """Delay off-beat eighths by up to a triplet (beats in, beats out)."""
    if swing <= 0:
        return pos
    frac = np.mod(pos, 1.0)
    delay = np.where(
        np.isclose(frac, 0.5),
        swing / 6.0,
        np.where(np.isclose(frac, 0.25) | np.isclose(frac, 0.75), swing / 12.0, 0.0),
    )
    return pos + delay
