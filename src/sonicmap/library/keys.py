"""Musical key names: parse what tags contain, format pitch classes.

Accepted notations (case-insensitive where unambiguous, surrounding spaces ignored):

* note names with an optional accidental (``#``, ``b``, ``♯``, ``♭``) and an optional mode word:
  ``"A"``, ``"Am"``, ``"A minor"``, ``"F#m"``, ``"Gb"``, ``"Bbmaj"``, ``"C#min"``, ``"D major"``,
  ``"Ebm"``, ``"A-moll"`` style suffixes ``moll``/``dur``. No mode means major (the usual meaning
  of a bare note name in key tags). A bare ``"M"`` suffix means major, ``"m"`` minor.
* Open Key ``"1d"`` ... ``"12d"`` (major) and ``"1m"`` ... ``"12m"`` (minor): ``1d`` = C major,
  ``1m`` = A minor, each step up the wheel is a fifth up.
* Camelot ``"1B"`` ... ``"12B"`` (major) and ``"1A"`` ... ``"12A"`` (minor): ``8B`` = C major,
  ``8A`` = A minor, ``1B`` = B major, ``1A`` = A♭ minor, each step a fifth up.

Anything else (``""``, ``"o"`` for off-key, ``"13A"``, ``"H"``, garbage) gives ``None``.
"""

from __future__ import annotations

import re

PITCH_NAMES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
"""Pitch-class names with sharps, index = pitch class (0 = C)."""

_LETTER_PC = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_WHEEL = re.compile(r"^(\d{1,2})\s*([abdm])$", re.IGNORECASE)
_NOTE = re.compile(r"^([a-g])\s*([#b♯♭]?)\s*[-_ ]?\s*([a-z]*)\.?$", re.IGNORECASE)
_MINOR_WORDS = {"m", "min", "minor", "moll", "mi", "mn"}
_MAJOR_WORDS = {"", "maj", "major", "dur", "ma", "mj"}


def parse_key(text: str | None) -> tuple[int, str] | None:
    """Parse a key name into ``(pitch_class, mode)``.

    Parameters
    ----------
    text : str
        Key as found in a tag (see the module docs for the notations).

    Returns
    -------
    (pitch_class 0-11, "major" | "minor"), or ``None`` when the text is not a key.
    """
    if not text:
        return None
    s = str(text).strip().replace("\u266f", "#").replace("\u266d", "b")
    if not s or len(s) > 20:
        return None
    m = _WHEEL.match(s)
    if m:
        n = int(m.group(1))
        if not 1 <= n <= 12:
            return None
        letter = m.group(2).lower()
        if letter in ("d", "m"):  # Open Key: 1d = C major, 1m = A minor
            base = 0 if letter == "d" else 9
            return (base + 7 * (n - 1)) % 12, "major" if letter == "d" else "minor"
        # Camelot: 8B = C major, 8A = A minor
        base = 0 if letter == "b" else 9
        return (base + 7 * (n - 8)) % 12, "major" if letter == "b" else "minor"
    m = _NOTE.match(s)
    if not m:
        return None
    pc = _LETTER_PC[m.group(1).lower()]
    acc = m.group(2)
    if acc == "#":
        pc += 1
    elif acc == "b":
        pc -= 1
    word = m.group(3)
    if word == "M":
        mode = "major"
    elif word.lower() in _MINOR_WORDS:
        mode = "minor"
    elif word.lower() in _MAJOR_WORDS:
        mode = "major"
    else:
        return None
    return pc % 12, mode


def key_name(pc: int) -> str:
    """Pitch-class name with sharps: 0 -> ``"C"``, 1 -> ``"C#"`` ... 11 -> ``"B"``."""
    if int(pc) != pc or not 0 <= pc <= 11:
        raise ValueError(f"pitch class {pc!r}: expected an integer 0-11")
    return PITCH_NAMES[int(pc)]


def format_key(pc: int, mode: str) -> str:
    """Short key name as written in tags: ``"C"``, ``"F#m"``."""
    if mode not in ("major", "minor"):
        raise ValueError(f"mode {mode!r}: expected 'major' or 'minor'")
    return key_name(pc) + ("m" if mode == "minor" else "")


def camelot(pc: int, mode: str) -> str:
    """Camelot code of a key: C major -> ``"8B"``, A minor -> ``"8A"``."""
    key_name(pc)
    base = 0 if mode == "major" else 9
    n = ((pc - base) * 7) % 12  # fifths above the wheel's reference (7 * 7 = 49 = 1 mod 12)
    return f"{(n + 7) % 12 + 1}{'B' if mode == 'major' else 'A'}"


def open_key(pc: int, mode: str) -> str:
    """Open Key code of a key: C major -> ``"1d"``, A minor -> ``"1m"``."""
    key_name(pc)
    base = 0 if mode == "major" else 9
    n = ((pc - base) * 7) % 12
    return f"{n + 1}{'d' if mode == 'major' else 'm'}"
