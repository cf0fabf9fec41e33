"""Key estimation from pitch-class profiles (sonicmap.analysis.tonal)."""

from __future__ import annotations

import numpy as np
import pytest

from sonicmap.analysis import tonal

# chord tones, semitones above the chord root
TRIADS = {"": (0, 4, 7), "m": (0, 3, 7), "7": (0, 4, 7, 10)}


def chord_chroma(tonic: int, chords: list[tuple[int, str]]) -> np.ndarray:
    """Pitch-class counts of the chord tones of a progression (steps above ``tonic``)."""
    c = np.zeros(12)
    for step, quality in chords:
        for t in TRIADS[quality]:
            c[(tonic + step + t) % 12] += 1
    return c


@pytest.mark.parametrize("tonic", [0, 4, 9])
def test_andalusian_cadence_is_minor_not_its_relative_major(tonic):
    # i - VII - VI - V (Am G F E): half its chords are also chords of the relative major;
    # Temperley's profile calls it the relative major, the default (Albrecht-Shanahan) does not
    chroma = chord_chroma(tonic, [(0, "m"), (10, ""), (8, ""), (7, "")])
    assert tonal.estimate_key(chroma)[:2] == (tonic, "minor")
    assert tonal.estimate_key(chroma, "temperley")[:2] == ((tonic + 3) % 12, "major")


@pytest.mark.parametrize(
    ("chords", "mode"),
    [
        ([(0, ""), (9, "m"), (5, ""), (7, "")], "major"),  # I vi IV V
        ([(0, ""), (5, ""), (0, ""), (7, "")], "major"),  # I IV I V
        ([(0, "m"), (5, "m"), (7, "7"), (0, "m")], "minor"),  # i iv V7 i
        ([(0, "m"), (8, ""), (5, "m"), (7, "")], "minor"),  # i VI iv V
    ],
)
def test_common_progressions_in_every_key(chords, mode):
    for tonic in range(12):
        key, got_mode, strength = tonal.estimate_key(chord_chroma(tonic, chords))
        assert (key, got_mode) == (tonic, mode)
        assert 0.5 < strength <= 1.0


def test_chroma_compresses_peak_magnitudes_with_power_three_quarters():
    # A4 at magnitude 3 and E5 at magnitude 1 weigh 3^0.75 : 1 (between the square root of
    # analysis versions <= 3 and linear magnitudes)
    f = np.array([440.0, 659.255])
    c = tonal.hpcp(f, np.array([3.0, 1.0]))
    assert c[9] / c[4] == pytest.approx(3.0**0.75, rel=1e-3)
    assert c.sum() == pytest.approx(1.0)


def test_flat_or_empty_chroma_has_no_key():
    assert tonal.estimate_key(np.full(12, 1 / 12)) == (0, "major", 0.0)
    assert tonal.estimate_key(np.zeros(12)) == (0, "major", 0.0)
