"""Render a :class:`~sonicmap.synth.style.Style` to a float32 signal with numpy only.

The music is simple but musically plausible, so that MIR descriptors are well-posed:

* an 8-bar chord loop in the key, with the tonic chord on at least three of the eight bars
  (major: I-V-vi-IV-I-IV-V-I and variants; minor: i-iv-V-i-i-VI-iv-V and variants, with the
  harmonic-minor V chord so that the mode is audible);
* a bass line on the chord roots, on every beat (on beats 1 and 3 with halftime/breakbeat drums);
* a melody drawn from the scale, chord tones on strong beats, ``density`` notes per beat;
* synthesized drums (pitched-sine kick, noise+tone snare, noise hi-hats) in one of several patterns,
  with optional swing of the off-beat eighths;
* an optional speech-like layer (syllabic ~4 Hz amplitude-modulated formant buzz) and noise;
* a low-pass set by ``brightness`` (applied to each cached note and drum sound), RMS
  normalisation to ``loudness_db`` and a soft limiter so the result never clips.

Everything is vectorised per note and the per-(timbre, pitch, length) note waveforms are cached
within a render call, so 30 s of stereo audio takes well under 0.5 s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from sonicmap.errors import SonicmapError
from sonicmap.synth.drums import DRUM_GAIN, drum_kit, drum_pattern, swing_beats
from sonicmap.synth.speech import speech_layer
from sonicmap.synth.style import Style
from sonicmap.synth.voices import (
    SUSTAINED,
    TWO_PI,
    NoteCache,
    karplus_strong,
    midi_to_hz,
    next_fast_len,
)

# re-exported: imported from here before the instruments moved to voices.py
__all__ = [
    "TWO_PI",
    "brightness_cutoff_hz",
    "karplus_strong",
    "midi_to_hz",
    "next_fast_len",
    "render",
]

log = logging.getLogger(__name__)

_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

# chord = (root offset from the tonic in semitones, intervals above the root)
_MAJ = (0, 4, 7)
_MIN = (0, 3, 7)
_MAJOR_CHORDS = {"I": (0, _MAJ), "ii": (2, _MIN), "IV": (5, _MAJ), "V": (7, _MAJ), "vi": (9, _MIN)}
_MINOR_CHORDS = {
    "i": (0, _MIN),
    "III": (3, _MAJ),
    "iv": (5, _MIN),
    "V": (7, _MAJ),
    "VI": (8, _MAJ),
    "VII": (10, _MAJ),
}
_MAJOR_PROGRESSIONS = (
    ("I", "V", "vi", "IV", "I", "IV", "V", "I"),
    ("I", "IV", "I", "V", "I", "vi", "IV", "V"),
    ("I", "vi", "IV", "V", "I", "IV", "I", "V"),
    ("I", "ii", "V", "I", "I", "IV", "V", "I"),
)
_MINOR_PROGRESSIONS = (
    ("i", "iv", "V", "i", "i", "VI", "iv", "V"),
    ("i", "VI", "iv", "V", "i", "iv", "i", "V"),
    ("i", "iv", "i", "V", "i", "VI", "iv", "V"),
    ("i", "VI", "iv", "V", "i", "iv", "V", "i"),
)


def _pan_gains(pan: float) -> tuple[float, float]:
    """Equal-power pan: -1 = left, 0 = centre, 1 = right."""
    a = (pan + 1.0) * np.pi / 4.0
    return float(np.cos(a)), float(np.sin(a))


def brightness_cutoff_hz(brightness: float) -> float | None:
    """Low-pass cutoff in Hz for a brightness 0-1 (``None``: no filter)."""
    if brightness >= 0.98:
        return None
    return 400.0 * 2.0 ** (brightness * 5.6)


def render(
    style: Style,
    *,
    duration_s: float,
    sr: int = 44100,
    seed: int = 0,
    channels: int = 2,
) -> np.ndarray:
    """Render ``duration_s`` seconds of music in ``style``.

    Parameters
    ----------
    style : Style
        What to play.
    duration_s : float
        Length in seconds (> 0).
    sr : int
        Sample rate in Hz (8000-192000).
    seed : int
        Seed of the melody, progression choice and noise; same inputs give identical output.
    channels : int
        1 (mono) or 2 (stereo: chords left, melody right, bass and drums centred).

    Returns
    -------
    y : np.ndarray [shape=(channels, n) or (n,) when channels == 1, float32]
        Samples in [-1, 1] with peak <= 0.99, RMS near ``style.loudness_db`` dBFS
        (``n = round(duration_s * sr)``).
    """
    if not duration_s > 0 or not np.isfinite(duration_s):
        raise SonicmapError(f"duration_s={duration_s!r}: expected a positive number of seconds")
    if not 8000 <= int(sr) <= 192000:
        raise SonicmapError(f"sr={sr!r}: expected a sample rate of 8000-192000 Hz")
    if channels not in (1, 2):
        raise SonicmapError(f"channels={channels!r}: expected 1 or 2")
    sr = int(sr)
    n = int(round(duration_s * sr))
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, style.key, int(style.bpm * 100)])
    cache = NoteCache(sr, brightness_cutoff_hz(style.brightness))
    spb = 60.0 / style.bpm  # [s/beat]
    meter = style.meter
    n_bars = int(np.ceil(duration_s / (spb * meter))) + 1

    # buses: name -> (mono signal, pan)
    buses: dict[str, tuple[np.ndarray, float]] = {
        "chords": (np.zeros(n, np.float32), -0.45),
        "melody": (np.zeros(n, np.float32), 0.4),
        "bass": (np.zeros(n, np.float32), 0.0),
        "drums": (np.zeros(n, np.float32), 0.0),
        "hats": (np.zeros(n, np.float32), 0.3),
    }

    def place(bus: str, start_s: float, wave: np.ndarray, gain: float) -> None:
        s = int(round(start_s * sr))
        if s >= n or s + len(wave) <= 0:
            return
        a = max(0, -s)
        e = min(len(wave), n - s)
        buses[bus][0][s + a : s + e] += np.float32(gain) * wave[a:e]

    minor = style.mode == "minor"
    chords = _MINOR_CHORDS if minor else _MAJOR_CHORDS
    progs = _MINOR_PROGRESSIONS if minor else _MAJOR_PROGRESSIONS
    prog = progs[int(rng.integers(len(progs)))]
    scale = _MINOR_SCALE if minor else _MAJOR_SCALE
    tonic = style.key
    tonic_triad = (0, 3, 7) if minor else (0, 4, 7)
    timbre = style.timbre
    swing: Callable = lambda p: swing_beats(p, style.swing)  # noqa: E731

    # melody pitch pool: scale tones between MIDI 57 and 84
    pool = np.array([m for m in range(57, 85) if (m - tonic) % 12 in scale])
    step_beats = min(
        (4.0, 2.0, 1.0, 0.5, 1.0 / 3.0, 0.25), key=lambda s: abs(1.0 / s - style.density)
    )
    mel_idx = int(np.argmin(np.abs(pool - (72 + tonic % 12 - 12 * (tonic % 12 > 6)))))
    drum_sounds = (
        {k: cache.filtered(v) for k, v in drum_kit(sr, rng).items()} if style.drums else {}
    )
    pattern = drum_pattern(style.drums, meter) if style.drums else []
    sustained = timbre in SUSTAINED

    for bar in range(n_bars):
        bar_t = bar * meter * spb
        if bar_t >= duration_s:
            break
        name = prog[bar % len(prog)]
        off, ivs = chords[name]
        root_pc = (tonic + off) % 12
        root = 48 + root_pc  # chord root MIDI in 48-59
        chord_pcs = {(root_pc + i) % 12 for i in ivs}
        # ---- chords
        if style.chords:
            if timbre == "guitar":
                # low root + fifth (power chord) with the third on top so the mode is audible
                voices = [root - 12, root - 5, root + ivs[1]]
                voices = [v if v >= 40 else v + 12 for v in voices]
                hits = [(i * 0.5, 0.45 * spb) for i in range(2 * meter)]  # palm-muted eighths
            elif sustained:
                voices = [root + i for i in ivs] + [root + 12]
                hits = [(0.0, meter * spb * 1.02)]
            else:
                voices = [root + i for i in ivs]
                hits = [(float(b), 0.9 * spb) for b in range(meter)]
            g = 0.32 / np.sqrt(len(voices))
            for pos, dur in hits:
                vel = 1.0 if pos == 0 else 0.75
                nn = int(dur * sr)
                for v in voices:
                    place(
                        "chords",
                        bar_t + float(swing(pos)) * spb,
                        cache.note(timbre, v, nn),
                        g * vel,
                    )
        # ---- bass
        if style.bass:
            broot = 36 + root_pc if root_pc < 8 else 24 + root_pc  # 28-43
            if style.drums in ("halftime", "breakbeat") and meter == 4:
                bhits = [(0.0, 1.8), (2.0, 1.8)]
            else:
                bhits = [(float(b), 0.85) for b in range(meter)]
            for pos, dur in bhits:
                vel = 1.0 if pos == 0 else 0.8
                place(
                    "bass",
                    bar_t + float(swing(pos)) * spb,
                    cache.bass(broot, int(dur * spb * sr)),
                    0.3 * vel,
                )
        # ---- melody
        pos = 0.0
        while pos < meter - 1e-6:
            if rng.random() < 0.15 and pos > 0:
                pos += step_beats
                continue
            if abs(pos - round(pos)) < 1e-6:  # on the beat: nearest chord tone (tonic at bar start)
                in_chord = np.array([(int(m) % 12) in chord_pcs for m in pool])
                in_tonic = np.isin((pool - tonic) % 12, tonic_triad)
                if rng.random() < 0.6 and np.any(in_chord & in_tonic):
                    in_chord &= in_tonic  # lean on the tonic triad: keeps the key unambiguous
                cands = np.nonzero(in_chord)[0]
                if bar % 4 == 0 and pos == 0:
                    cands = np.nonzero((pool - tonic) % 12 == 0)[0]
                near = cands[np.argsort(np.abs(cands - mel_idx))[:2]]
                mel_idx = int(near[int(rng.integers(len(near)))])
            else:
                mel_idx = int(
                    np.clip(mel_idx + rng.choice((-2, -1, -1, 1, 1, 2)), 0, len(pool) - 1)
                )
            midi = int(pool[mel_idx])
            if minor and name == "V" and (midi - tonic) % 12 == 10:
                midi += 1  # leading tone over the harmonic-minor V
            dur = step_beats * (1.5 if sustained else 0.9) * spb
            vel = 1.0 if abs(pos - round(pos)) < 1e-6 else 0.8
            mtimbre = {"pad": "sine", "guitar": "saw"}.get(timbre, timbre)
            place(
                "melody",
                bar_t + float(swing(pos)) * spb,
                cache.note(mtimbre, midi, int(dur * sr)),
                0.3 * vel,
            )
            pos += step_beats
        # ---- drums
        for pos, sound, vel in pattern:
            bus = "hats" if sound in ("hat", "ohat") else "drums"
            vel *= float(rng.uniform(0.9, 1.0))
            place(bus, bar_t + float(swing(pos)) * spb, drum_sounds[sound], DRUM_GAIN[sound] * vel)

    # ---- mix
    if channels == 2:
        y = np.zeros((2, n), dtype=np.float32)
        for sig, pan in buses.values():
            gl, gr = _pan_gains(pan)
            y[0] += gl * sig
            y[1] += gr * sig
    else:
        y = np.zeros((1, n), dtype=np.float32)
        for sig, _ in buses.values():
            y[0] += sig
    music_rms = float(np.sqrt(np.mean(y**2))) or 1e-3
    if style.speech_like:
        voice = speech_layer(n, sr, rng) * np.float32(music_rms / 0.1 * 1.2)
        y += voice[None, :] * (0.7 if channels == 2 else 1.0)
    if style.noise > 0:
        noise = rng.standard_normal(y.shape).astype(np.float32)
        y += np.float32(style.noise * music_rms) * noise
    return _normalise(y if channels == 2 else y[0], style.loudness_db)


def _normalise(y: np.ndarray, target_db: float, *, ceiling: float = 0.99) -> np.ndarray:
    """Scale to ``target_db`` dBFS RMS, soft-limit peaks, guarantee ``|y| <= ceiling``."""
    target = 10.0 ** (target_db / 20.0)
    knee = 0.7
    for _ in range(4):
        rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float32))))
        if rms <= 0:
            return y.astype(np.float32)
        y = y * np.float32(target / rms)
        peak = float(np.max(np.abs(y)))
        if peak <= ceiling:
            break
        # soft limiter: linear below the knee, tanh above it, never above `ceiling`
        over = np.abs(y) > knee
        y = np.where(
            over,
            np.sign(y) * (knee + (ceiling - knee) * np.tanh((np.abs(y) - knee) / (ceiling - knee))),
            y,
        ).astype(np.float32)
    peak = float(np.max(np.abs(y)))
    if peak > ceiling:
        y = y * np.float32(ceiling / peak)
    return y.astype(np.float32)
