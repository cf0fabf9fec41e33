"""The pitched instruments of the synthesizer: oscillators per timbre (incl. a Karplus-Strong
plucked string), their envelopes, and the per-render note cache that low-passes each note once.
"""

from __future__ import annotations

import numpy as np

from sonicmap.errors import SonicmapError

TWO_PI = np.float32(2.0 * np.pi)

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
SUSTAINED = {"pad", "organ"}


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


class NoteCache:
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
        return lowpass(w, self.sr, self.cutoff_hz)

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


def lowpass(y: np.ndarray, sr: int, cutoff_hz: float) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth-magnitude low-pass by FFT over the last axis."""
    n = y.shape[-1]
    m = next_fast_len(n + 256)  # a little room so the filter's ringing does not wrap around
    spec = np.fft.rfft(y, m, axis=-1)
    f = np.fft.rfftfreq(m, 1.0 / sr)
    spec *= 1.0 / np.sqrt(1.0 + (f / cutoff_hz) ** 4)
    return np.fft.irfft(spec, m, axis=-1)[..., :n].astype(np.float32)
