"""Distinct demo styles: genre archetypes spread over tempo, key/mode, timbre, drums, density,
loudness and brightness (:func:`demo_styles`)."""

from __future__ import annotations

import numpy as np

from sonicmap.errors import SonicmapError
from sonicmap.synth.style import Style

# (genre, bpm range, timbres, drums, density, loudness dBFS, brightness, preferred mode or None,
#  meter, swing, speech_like, noise, bass)
_ARCHETYPES: tuple[tuple, ...] = (
    (
        "techno",
        (124, 132),
        ("saw",),
        "four_on_floor",
        2.0,
        -9.0,
        0.75,
        "minor",
        4,
        0.0,
        False,
        0.0,
        True,
    ),
    ("ambient", (60, 72), ("pad",), None, 0.5, -24.0, 0.2, "major", 4, 0.0, False, 0.02, False),
    (
        "death metal",
        (180, 190),
        ("guitar",),
        "blast",
        4.0,
        -8.0,
        0.9,
        "minor",
        4,
        0.0,
        False,
        0.05,
        True,
    ),
    (
        "synthpop",
        (110, 120),
        ("supersaw",),
        "backbeat",
        2.0,
        -11.0,
        0.65,
        "major",
        4,
        0.0,
        False,
        0.0,
        True,
    ),
    (
        "jazz",
        (100, 140),
        ("epiano",),
        "backbeat",
        3.0,
        -19.0,
        0.45,
        "major",
        4,
        0.6,
        False,
        0.0,
        True,
    ),
    ("folk", (88, 108), ("pluck",), None, 2.0, -20.0, 0.5, "major", 3, 0.0, False, 0.0, True),
    (
        "hip hop",
        (84, 96),
        ("sine", "square"),
        "breakbeat",
        1.0,
        -10.0,
        0.5,
        "minor",
        4,
        0.35,
        True,
        0.0,
        True,
    ),
    ("classical", (64, 80), ("organ",), None, 1.0, -26.0, 0.35, None, 3, 0.0, False, 0.0, True),
    (
        "drum and bass",
        (170, 176),
        ("supersaw",),
        "breakbeat",
        4.0,
        -9.0,
        0.8,
        "minor",
        4,
        0.0,
        False,
        0.0,
        True,
    ),
    ("dub", (70, 80), ("organ",), "halftime", 1.0, -14.0, 0.35, "minor", 4, 0.2, False, 0.0, True),
    (
        "house",
        (120, 126),
        ("epiano",),
        "four_on_floor",
        2.0,
        -10.0,
        0.6,
        "minor",
        4,
        0.15,
        False,
        0.0,
        True,
    ),
    (
        "chanson",
        (150, 168),
        ("square",),
        "waltz",
        2.0,
        -17.0,
        0.45,
        "minor",
        3,
        0.0,
        False,
        0.0,
        True,
    ),
    (
        "punk",
        (170, 182),
        ("guitar",),
        "backbeat",
        2.0,
        -9.0,
        0.8,
        "major",
        4,
        0.0,
        False,
        0.03,
        True,
    ),
    (
        "lo-fi",
        (72, 84),
        ("epiano",),
        "halftime",
        1.0,
        -18.0,
        0.25,
        "major",
        4,
        0.5,
        False,
        0.15,
        True,
    ),
    ("spoken word", (90, 100), ("sine",), None, 0.5, -20.0, 0.4, None, 4, 0.0, True, 0.0, False),
    (
        "chiptune",
        (140, 160),
        ("square",),
        "four_on_floor",
        4.0,
        -12.0,
        0.95,
        "major",
        4,
        0.0,
        False,
        0.0,
        True,
    ),
    (
        "trance",
        (136, 140),
        ("supersaw",),
        "four_on_floor",
        4.0,
        -9.0,
        0.85,
        "minor",
        4,
        0.0,
        False,
        0.0,
        True,
    ),
    (
        "downtempo",
        (90, 100),
        ("bell",),
        "halftime",
        1.0,
        -16.0,
        0.4,
        "minor",
        4,
        0.1,
        False,
        0.0,
        True,
    ),
    (
        "bossa nova",
        (120, 140),
        ("pluck",),
        "backbeat",
        2.0,
        -21.0,
        0.4,
        "major",
        4,
        0.25,
        False,
        0.0,
        True,
    ),
    (
        "doom",
        (60, 70),
        ("guitar",),
        "halftime",
        0.5,
        -12.0,
        0.55,
        "minor",
        4,
        0.0,
        False,
        0.02,
        True,
    ),
)


def demo_styles(n: int, *, seed: int = 0) -> list[Style]:
    """``n`` clearly distinct styles (genre presets spread over tempo, key/mode, timbre, drums,
    density, loudness and brightness).

    The first 20 are different genres; beyond that genres repeat with another tempo, key,
    timbre and brightness. Deterministic for a given ``seed``.
    """
    if n < 0:
        raise SonicmapError(f"n={n!r}: expected a non-negative number of styles")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 7919])
    keys = rng.permutation(12)
    styles = []
    for i in range(n):
        (
            genre,
            (lo, hi),
            timbres,
            drums,
            dens,
            loud,
            bright,
            mode,
            meter,
            swing,
            speech,
            noise,
            bass,
        ) = _ARCHETYPES[i % len(_ARCHETYPES)]
        rnd = i // len(_ARCHETYPES)  # > 0: a variation of an archetype already used
        bpm = float(rng.uniform(lo, hi))
        timbre = timbres[int(rng.integers(len(timbres)))]
        if rnd:
            bpm = float(np.clip(bpm * rng.choice((0.85, 1.15)), 60.0, 190.0))
            timbre = (
                ("sine", "organ", "saw", "supersaw", "square", "epiano", "bell", "pluck")[
                    int(rng.integers(8))
                ]
                if timbre not in ("guitar", "pad")
                else timbre
            )
            bright = float(np.clip(bright + rng.uniform(-0.15, 0.15), 0.05, 0.97))
            loud = float(np.clip(loud + rng.uniform(-2.0, 2.0), -28.0, -7.0))
        if mode is None or rnd:
            mode = ("major", "minor")[int(rng.integers(2))]
        key = int(keys[(i + rnd * 5) % 12])
        styles.append(
            Style(
                bpm=round(bpm, 1),
                key=key,
                mode=mode,
                timbre=timbre,
                drums=drums,
                swing=swing,
                meter=meter,
                density=dens,
                loudness_db=loud,
                brightness=bright,
                bass=bass,
                genre=genre,
                speech_like=speech,
                noise=noise,
            )
        )
    return styles
