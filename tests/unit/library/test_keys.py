"""Key-name parsing in every notation taggers use, for all 24 keys (table-driven)."""

from __future__ import annotations

import pytest

from sonicmap.library.keys import camelot, format_key, key_name, open_key, parse_key

SHARPS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
FLATS = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]
ALL_KEYS = [(pc, mode) for pc in range(12) for mode in ("major", "minor")]

# Written out from the published wheels, not from the formula under test.
CAMELOT = {
    "1B": "B", "2B": "F#", "3B": "Db", "4B": "Ab", "5B": "Eb", "6B": "Bb",
    "7B": "F", "8B": "C", "9B": "G", "10B": "D", "11B": "A", "12B": "E",
    "1A": "Abm", "2A": "Ebm", "3A": "Bbm", "4A": "Fm", "5A": "Cm", "6A": "Gm",
    "7A": "Dm", "8A": "Am", "9A": "Em", "10A": "Bm", "11A": "F#m", "12A": "Dbm",
}  # fmt: skip
OPEN_KEY = {
    "1d": "C", "2d": "G", "3d": "D", "4d": "A", "5d": "E", "6d": "B",
    "7d": "F#", "8d": "Db", "9d": "Ab", "10d": "Eb", "11d": "Bb", "12d": "F",
    "1m": "Am", "2m": "Em", "3m": "Bm", "4m": "F#m", "5m": "C#m", "6m": "G#m",
    "7m": "D#m", "8m": "Bbm", "9m": "Fm", "10m": "Cm", "11m": "Gm", "12m": "Dm",
}  # fmt: skip


@pytest.mark.parametrize(("pc", "mode"), ALL_KEYS)
def test_note_names_in_every_spelling(pc: int, mode: str) -> None:
    minor = mode == "minor"
    spellings = []
    for name in {SHARPS[pc], FLATS[pc]}:
        if minor:
            spellings += [
                f"{name}m",
                f"{name} minor",
                f"{name}min",
                f"{name} Minor",
                f" {name.lower()}m ",
            ]
        else:
            spellings += [name, f"{name} major", f"{name}maj", f"{name} Major", f"{name}M"]
        spellings.append(name.replace("#", "♯").replace("b", "♭") + ("m" if minor else ""))
    for s in spellings:
        assert parse_key(s) == (pc, mode), s


WHEELS = [(code, name, camelot) for code, name in sorted(CAMELOT.items())] + [
    (code, name, open_key) for code, name in sorted(OPEN_KEY.items())
]


@pytest.mark.parametrize(("code", "name", "formatter"), WHEELS)
def test_camelot_and_open_key(code: str, name: str, formatter) -> None:
    expected = parse_key(name)
    assert expected is not None
    assert parse_key(code) == expected
    assert parse_key(code.lower()) == expected
    assert parse_key(code.upper()) == expected
    assert formatter(*expected) == code


def test_wheels_cover_all_24_keys_once() -> None:
    assert sorted(parse_key(c) for c in CAMELOT) == sorted(ALL_KEYS)
    assert sorted(parse_key(c) for c in OPEN_KEY) == sorted(ALL_KEYS)


@pytest.mark.parametrize(("pc", "mode"), ALL_KEYS)
def test_format_round_trips(pc: int, mode: str) -> None:
    assert parse_key(format_key(pc, mode)) == (pc, mode)
    assert parse_key(camelot(pc, mode)) == (pc, mode)
    assert parse_key(open_key(pc, mode)) == (pc, mode)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "o", "H", "13A", "0B", "12x", "C##", "Cx", "fast", "A minorish", None, "128"],
)
def test_garbage_is_not_a_key(text: str | None) -> None:
    assert parse_key(text) is None


def test_key_name_uses_sharps_and_rejects_bad_pitch_classes() -> None:
    assert [key_name(i) for i in range(12)] == SHARPS
    for bad in (-1, 12, 1.5):
        with pytest.raises(ValueError, match="0-11"):
            key_name(bad)  # type: ignore[arg-type]
