"""The :class:`Style` of a synthetic track: everything that makes two artists sound different."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from sonicmap.errors import SonicmapError

TIMBRES: tuple[str, ...] = (
    "sine",
    "organ",
    "saw",
    "supersaw",
    "square",
    "epiano",
    "bell",
    "pluck",
    "pad",
    "guitar",
)
"""Instruments :func:`sonicmap.synth.render` knows (lead and chords use the same timbre)."""

DRUMS: tuple[str | None, ...] = (
    None,
    "four_on_floor",
    "backbeat",
    "breakbeat",
    "halftime",
    "blast",
    "waltz",
)
"""Drum patterns; ``None`` means no drums."""

MODES: tuple[str, ...] = ("major", "minor")

PITCH_NAMES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class Style:
    """How a synthetic track sounds.

    Attributes
    ----------
    bpm : float
        Tempo in beats per minute (the quarter-note pulse), 30-300.
    key : int
        Tonic pitch class, 0 = C ... 11 = B.
    mode : str
        ``"major"`` or ``"minor"`` (minor uses the harmonic-minor V chord so that the mode is
        audible).
    timbre : str
        One of :data:`TIMBRES`.
    drums : str | None
        One of :data:`DRUMS`.
    swing : float
        0 = straight, 1 = full triplet swing of the off-beat eighths.
    meter : int
        Beats per bar, 3 or 4.
    density : float
        Melody notes per beat (0.25-4); the chords and the bass follow the beat.
    loudness_db : float
        Target RMS level of the mix in dBFS (roughly LUFS for full-band music), e.g. -24 (quiet)
        to -8 (loud, limited).
    brightness : float
        0 (dark: low-pass near 400 Hz) to 1 (bright: no low-pass, hiss-rich) — moves the spectral
        centroid.
    bass : bool
        Whether a bass line plays the chord roots.
    genre : str
        Free text written as the genre tag.
    speech_like : bool
        Add a syllabic (~4 Hz) amplitude-modulated formant voice, like rap or spoken word.
    noise : float
        Level of added broadband noise relative to the music, 0-1.
    chords : bool
        Whether chords are played (a melody-only style has ``chords=False``).
    """

    bpm: float = 120.0
    key: int = 0
    mode: str = "major"
    timbre: str = "saw"
    drums: str | None = "four_on_floor"
    swing: float = 0.0
    meter: int = 4
    density: float = 2.0
    loudness_db: float = -14.0
    brightness: float = 0.6
    bass: bool = True
    genre: str = "electronic"
    speech_like: bool = False
    noise: float = 0.0
    chords: bool = True

    def __post_init__(self) -> None:
        problems = []
        if not 30.0 <= float(self.bpm) <= 300.0:
            problems.append(f"bpm={self.bpm!r} (expected 30-300)")
        if int(self.key) != self.key or not 0 <= self.key <= 11:
            problems.append(f"key={self.key!r} (expected a pitch class 0-11)")
        if self.mode not in MODES:
            problems.append(f"mode={self.mode!r} (expected 'major' or 'minor')")
        if self.timbre not in TIMBRES:
            problems.append(f"timbre={self.timbre!r} (expected one of {', '.join(TIMBRES)})")
        if self.drums not in DRUMS:
            problems.append(f"drums={self.drums!r} (expected None or one of {DRUMS[1:]})")
        if self.meter not in (3, 4):
            problems.append(f"meter={self.meter!r} (expected 3 or 4)")
        if not 0.0 <= self.swing <= 1.0:
            problems.append(f"swing={self.swing!r} (expected 0-1)")
        if not 0.125 <= self.density <= 8.0:
            problems.append(f"density={self.density!r} (expected 0.125-8 notes per beat)")
        if not -60.0 <= self.loudness_db <= -3.0:
            problems.append(f"loudness_db={self.loudness_db!r} (expected -60 to -3 dBFS)")
        if not 0.0 <= self.brightness <= 1.0:
            problems.append(f"brightness={self.brightness!r} (expected 0-1)")
        if not 0.0 <= self.noise <= 1.0:
            problems.append(f"noise={self.noise!r} (expected 0-1)")
        if problems:
            raise SonicmapError("invalid Style: " + "; ".join(problems))

    @property
    def key_name(self) -> str:
        """Tonic as a pitch-class name with sharps, e.g. ``"F#"``."""
        return PITCH_NAMES[self.key]

    def with_(self, **changes: Any) -> Style:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of all fields."""
        return asdict(self)
