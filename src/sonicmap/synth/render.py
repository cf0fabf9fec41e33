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
from sonicmap.synth.style import Style

log = logging.getLogger(__name__)

TWO_PI = np.float32(2.0 * np.pi)

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

# timbre -> (attack s, decay s, sustain level 0-1, release s)
_ENVELOPES: dict[str, tuple[float, float, float, float]] = {
    "sine": (0.01, 0.4, 0.6, 0.05),
    "organ": (0.005, 1.0, 0.95, 0.03),
    "saw": (0.004, 0.25, 0.55, 0.04),
    "supersaw": (0.01, 0.4, 0.7, 0.08),
    "square": (0.004, 0.2, 0.5, 0.04),
    "epiano": (0.002, 0.6, 0.0, 0.05),
    "bell": (0.001, 0.9, 0.0, 0.1),
    "pluck": (0.001, 0.5, 0.0, 0.03),
    "pad": (0.25, 1.5, 0.85, 0.3),
    "guitar": (0.003, 0.6, 0.6, 0.04),
}
_SUSTAINED = {"pad", "organ"}


def midi_to_hz(midi: float) -> float:
    """Equal-tempered frequency in Hz of a MIDI note number (69 = A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def next_fast_len(n: int) -> int:
    """Smallest 5-smooth integer (2^a 3^b 5^c) >= n, a fast FFT length."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


# ----------------------------------------------------------------------------------- oscillators
def _phase(f: float, n: int, sr: int) -> np.ndarray:
    """Phase in cycles, wrapped to [0, 1). Returns float32 [shape=(n,)]."""
    return ((f / sr) * np.arange(n, dtype=np.float64) % 1.0).astype(np.float32)


def _saw(f: float, n: int, sr: int) -> np.ndarray:
    return 2.0 * _phase(f, n, sr) - 1.0


def karplus_strong(f: float, n: int, sr: int, *, loss: float = 0.996) -> np.ndarray:
    """Plucked string by Karplus-Strong, computed one period at a time (vectorised per period).

    The delay line has an integer length ``P``; the two-tap average adds half a sample, so the
    string sounds at ``sr / (P + 0.5)``. The result is read back with linear interpolation at the
    rate that puts it exactly on ``f``. The initial noise burst is seeded from ``f`` (deterministic).

    Parameters
    ----------
    f : float
        Pitch in Hz.
    n : int
        Number of output samples.
    sr : int
        Sample rate in Hz.
    loss : float
        Gain per period (< 1); lower decays faster.

    Returns
    -------
    np.ndarray [shape=(n,), float32], peak about 1.
    """
    period = max(2, int(sr / f))
    rate = f * (period + 0.5) / sr  # KS samples per output sample
    needed = int(np.ceil(n * rate)) + 2
    n_blocks = max(2, -(-needed // period))
    rng = np.random.default_rng(int(f * 1000) & 0xFFFFFFFF)
    buf = np.empty(n_blocks * period, dtype=np.float32)
    burst = rng.uniform(-1.0, 1.0, period).astype(np.float32)
    buf[:period] = burst - burst.mean()
    before = np.float32(0.0)  # y[s - P - 1]: the last sample of the block before the previous
    gain = np.float32(0.5 * loss)
    for k in range(1, n_blocks):
        prev = buf[(k - 1) * period : k * period]
        shifted = np.empty_like(prev)
        shifted[0] = before
        shifted[1:] = prev[:-1]
        buf[k * period : (k + 1) * period] = gain * (prev + shifted)
        before = prev[-1]
    pos = np.arange(n, dtype=np.float64) * rate
    return np.interp(pos, np.arange(len(buf)), buf).astype(np.float32)


def _osc(timbre: str, f: float, n: int, sr: int) -> np.ndarray:
    """One note's raw waveform (before the envelope). Returns float32 [shape=(n,)] in about [-1, 1]."""
    if timbre == "sine":
        p = _phase(f, n, sr)
        return np.sin(TWO_PI * p) + 0.15 * np.sin(2 * TWO_PI * p)
    if timbre == "organ":
        p = _phase(f, n, sr)
        return (
            np.sin(TWO_PI * p)
            + 0.5 * np.sin(2 * TWO_PI * p)
            + 0.3 * np.sin(3 * TWO_PI * p)
            + 0.15 * np.sin(4 * TWO_PI * p)
        ) / 1.6
    if timbre == "saw":
        return _saw(f, n, sr)
    if timbre in ("supersaw", "pad"):
        return (_saw(f, n, sr) + _saw(f * 1.006, n, sr) + _saw(f * 0.994, n, sr)) / 2.2
    if timbre == "square":
        return np.where(_phase(f, n, sr) < 0.5, 0.8, -0.8).astype(np.float32)
    if timbre in ("epiano", "bell"):
        # 1:1 FM (all harmonics, brightness decaying with the index); the bell adds a slowly
        # decaying partial two octaves up.
        index, tau = (1.8, 0.25) if timbre == "epiano" else (3.0, 0.8)
        t = np.arange(n, dtype=np.float32) / np.float32(sr)
        p = _phase(f, n, sr)
        carrier = TWO_PI * p
        out = np.sin(carrier + index * np.exp(-t / tau) * np.sin(carrier))
        if timbre == "bell":
            out += 0.5 * np.sin(4 * carrier) * np.exp(-t / 0.4)
        return out
    if timbre == "pluck":
        return karplus_strong(f, n, sr)
    if timbre == "guitar":
        x = _saw(f, n, sr) + _saw(f * 1.003, n, sr)
        return np.tanh(4.0 * x) * 0.8
    raise SonicmapError(f"unknown timbre {timbre!r}")


def _envelope(timbre: str, n: int, sr: int) -> np.ndarray:
    """ADSR-like envelope, float32 [shape=(n,)], peak 1."""
    a, d, s, r = _ENVELOPES[timbre]
    t = np.arange(n, dtype=np.float32) / np.float32(sr)
    env = np.minimum(t / np.float32(a), 1.0) * (s + (1.0 - s) * np.exp(-t / np.float32(d)))
    nr = min(int(r * sr), n // 2)
    if nr > 0:
        env[n - nr :] *= np.linspace(1.0, 0.0, nr, dtype=np.float32)
    return env.astype(np.float32)


class _NoteCache:
    """Memoise note waveforms within one render (loops repeat the same notes).

    Each new waveform is low-passed at ``cutoff_hz`` here, once: filtering is linear, so the sum
    of filtered notes is the filtered mix, at a fraction of the cost of filtering the whole track.
    """

    def __init__(self, sr: int, cutoff_hz: float | None) -> None:
        self.sr = sr
        self.cutoff_hz = cutoff_hz
        self._cache: dict[tuple[str, int, int], np.ndarray] = {}

    def filtered(self, w: np.ndarray) -> np.ndarray:
        """``w`` low-passed at the brightness cutoff (unchanged when there is none)."""
        if self.cutoff_hz is None:
            return w.astype(np.float32)
        return _lowpass(w, self.sr, self.cutoff_hz)

    def note(self, timbre: str, midi: int, n: int) -> np.ndarray:
        key = (timbre, midi, n)
        w = self._cache.get(key)
        if w is None:
            w = self.filtered(
                _osc(timbre, midi_to_hz(midi), n, self.sr) * _envelope(timbre, n, self.sr)
            )
            self._cache[key] = w
        return w

    def bass(self, midi: int, n: int) -> np.ndarray:
        key = ("_bass", midi, n)
        w = self._cache.get(key)
        if w is None:
            f = midi_to_hz(midi)
            p = _phase(f, n, self.sr)
            raw = np.sin(TWO_PI * p) + 0.35 * np.sin(2 * TWO_PI * p) + 0.15 * (2.0 * p - 1.0)
            w = self.filtered(raw * _envelope("saw", n, self.sr))
            self._cache[key] = w
        return w


# ----------------------------------------------------------------------------------------- drums
def _drum_sounds(sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
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


_DRUM_GAIN = {"kick": 0.9, "snare": 0.5, "hat": 0.22, "ohat": 0.18}


def _drum_pattern(name: str, meter: int) -> list[tuple[float, str, float]]:
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


def _swing(pos: np.ndarray | float, swing: float) -> np.ndarray | float:
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


# -------------------------------------------------------------------------------- speech layer
_VOWELS = (  # formants F1, F2, F3 in Hz
    (730.0, 1090.0, 2440.0),
    (270.0, 2290.0, 3010.0),
    (530.0, 1840.0, 2480.0),
    (300.0, 870.0, 2240.0),
    (570.0, 840.0, 2410.0),
)


def _speech(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Speech-like layer: syllables at ~4 Hz of formant-filtered buzz with fricative onsets.

    Returns float32 [shape=(n,)], RMS about 0.1 while speaking.
    """
    out = np.zeros(n, dtype=np.float32)
    pos = int(rng.uniform(0.05, 0.3) * sr)
    count = 0
    while pos < n:
        length = int(rng.uniform(0.14, 0.30) * sr)
        m = min(length, n - pos)
        if m < 64:
            break
        f0 = rng.uniform(100.0, 150.0)
        mlen = next_fast_len(m)
        t = np.arange(m, dtype=np.float32) / np.float32(sr)
        f0c = f0 * (1.0 + 0.08 * np.sin(TWO_PI * t * rng.uniform(1.0, 3.0)))
        src = 2.0 * (np.cumsum(f0c / sr) % 1.0) - 1.0
        src = src.astype(np.float32) + 0.05 * rng.standard_normal(m).astype(np.float32)
        spec = np.fft.rfft(src, mlen)
        freqs = np.fft.rfftfreq(mlen, 1.0 / sr)
        formants = _VOWELS[int(rng.integers(len(_VOWELS)))]
        gain = np.zeros_like(freqs)
        for i, fc in enumerate(formants):
            bw = 80.0 + 40.0 * i
            gain += (0.5**i) * np.exp(-0.5 * ((freqs - fc) / bw) ** 2)
        voiced = np.fft.irfft(spec * gain, mlen)[:m].astype(np.float32)
        env = np.sin(np.pi * np.arange(m, dtype=np.float32) / m) ** 0.7
        seg = voiced * env
        # fricative onset (s/t/k): 20-50 ms of high-passed noise
        nf = min(m, int(rng.uniform(0.02, 0.05) * sr))
        if rng.random() < 0.6:
            hiss = np.diff(rng.standard_normal(nf + 1)).astype(np.float32) * 0.25
            seg[:nf] += hiss * np.linspace(1.0, 0.0, nf, dtype=np.float32) * np.abs(voiced).max()
        out[pos : pos + m] += seg
        count += 1
        gap = rng.uniform(0.01, 0.06)
        if count % int(rng.integers(4, 9)) == 0:
            gap += rng.uniform(0.25, 0.6)  # a pause between phrases
        pos += m + int(gap * sr)
    rms = float(np.sqrt(np.mean(out**2))) if n else 0.0
    if rms > 0:
        out *= np.float32(0.1 / rms)
    return out


# --------------------------------------------------------------------------------------- render
def _lowpass(y: np.ndarray, sr: int, cutoff_hz: float) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth-magnitude low-pass by FFT over the last axis."""
    n = y.shape[-1]
    m = next_fast_len(n + 256)  # a little room so the filter's ringing does not wrap around
    spec = np.fft.rfft(y, m, axis=-1)
    f = np.fft.rfftfreq(m, 1.0 / sr)
    spec *= 1.0 / np.sqrt(1.0 + (f / cutoff_hz) ** 4)
    return np.fft.irfft(spec, m, axis=-1)[..., :n].astype(np.float32)


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
    cache = _NoteCache(sr, brightness_cutoff_hz(style.brightness))
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
    swing: Callable = lambda p: _swing(p, style.swing)  # noqa: E731

    # melody pitch pool: scale tones between MIDI 57 and 84
    pool = np.array([m for m in range(57, 85) if (m - tonic) % 12 in scale])
    step_beats = min(
        (4.0, 2.0, 1.0, 0.5, 1.0 / 3.0, 0.25), key=lambda s: abs(1.0 / s - style.density)
    )
    mel_idx = int(np.argmin(np.abs(pool - (72 + tonic % 12 - 12 * (tonic % 12 > 6)))))
    drum_sounds = (
        {k: cache.filtered(v) for k, v in _drum_sounds(sr, rng).items()} if style.drums else {}
    )
    pattern = _drum_pattern(style.drums, meter) if style.drums else []
    sustained = timbre in _SUSTAINED

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
            place(bus, bar_t + float(swing(pos)) * spb, drum_sounds[sound], _DRUM_GAIN[sound] * vel)

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
        voice = _speech(n, sr, rng) * np.float32(music_rms / 0.1 * 1.2)
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
