"""Loudness after ITU-R BS.1770-4 / EBU R128, loudness range (EBU Tech 3342), dynamic complexity.

K-weighting
-----------
The two K-weighting biquads (high shelf +4 dB above ~1.7 kHz, RLB high-pass at ~38 Hz) are
specified at 48 kHz; :func:`k_weighting_ba` derives them for any rate from their analog prototypes
(the parametrisation used by libebur128), so the response does not depend on the file's rate.

How we apply it cheaply (documented approximation)
--------------------------------------------------
Per 100 ms segment we know, at the native rate, every channel's mean square ``P_c`` and the mono
mix's mean square ``P_m``; at the analysis rate (11 025 Hz) we have the mix's power spectrum. The
K-weighted power of the mix is the spectrum-weighted ``|K(f)|²`` in the analysed band (< 5.5 kHz)
plus ``|K(f_hi)|²`` (the shelf plateau, ≈ +4 dB) times the power above it (``P_m`` minus the
analysed band's power). The ratio ``r = K-weighted / unweighted`` of the mix is then applied to the
channel-weighted sum ``Σ G_c P_c``, i.e. all channels are assumed to share the mix's spectral
balance within a 100 ms segment. This is exact for mono, for identical channels and for channels
with the same spectrum (e.g. independent noises); it deviates only when channels have very
different spectra (a bass-only left and a treble-only right). LUFS are computed on the original
channels (sum of channel powers, BS.1770 eq. 2), never on the downmix: a -20 dBFS 1 kHz sine in
both channels of a stereo file reads -20 LUFS; in a mono file it reads -23 LUFS.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

LUFS_FLOOR = -70.0
"""Loudness reported for silence (LUFS) — the BS.1770 absolute gate."""

_ABS_GATE = -70.0
_REL_GATE = -10.0
_LRA_REL_GATE = -20.0


def k_weighting_ba(sr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """K-weighting biquads for sample rate ``sr`` (Hz): (b_shelf, a_shelf, b_hp, a_hp), each (3,)."""
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sr)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    b1 = np.array(
        [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
    )
    a1 = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sr)
    d = 1 + k / q + k * k
    b2 = np.array([1.0, -2.0, 1.0])
    a2 = np.array([1.0, 2 * (k * k - 1) / d, (1 - k / q + k * k) / d])
    return b1, a1, b2, a2


def k_power_response(freqs: np.ndarray, sr: float) -> np.ndarray:
    """|K(f)|² (power gain, linear) at ``freqs`` [Hz] for the filters derived at ``sr`` [Hz]."""
    z = np.exp(-2j * np.pi * np.asarray(freqs, dtype=float) / sr)
    b1, a1, b2, a2 = k_weighting_ba(sr)

    def h(b: Any, a: Any) -> np.ndarray:
        resp: np.ndarray = (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
        return resp

    power: np.ndarray = np.abs(h(b1, a1) * h(b2, a2)) ** 2
    return power


@functools.cache
def k_plateau_gain(sr: float, analysis_sr: float) -> float:
    """Mean |K(f)|² (power) between the analysis Nyquist and min(20 kHz, native Nyquist)."""
    lo = analysis_sr / 2
    hi = min(20000.0, sr / 2)
    if hi <= lo:
        return float(k_power_response(np.array([lo * 0.99]), sr)[0])
    f = np.linspace(lo, hi, 64)
    return float(k_power_response(f, sr).mean())


def _lufs(power: float | np.floating[Any] | np.ndarray) -> Any:
    """LUFS of mean-square power (a scalar for a scalar, an array for an array)."""
    return -0.691 + 10 * np.log10(np.maximum(power, 1e-30))


def gated_loudness(z: np.ndarray) -> float:
    """Integrated loudness (LUFS) from K-weighted, channel-summed 100 ms segment powers.

    z : np.ndarray [shape=(n_seg,)] — Σ_c G_c · mean square of the K-weighted channel c.
    Blocks are 400 ms (4 segments) with 75 % overlap; absolute gate −70 LUFS, relative gate −10 LU.
    Returns ``LUFS_FLOOR`` when nothing passes the gates (silence, clips shorter than 400 ms).
    """
    blocks = _blocks(z, 4)
    if blocks.size == 0:
        return LUFS_FLOOR
    lb = _lufs(blocks)
    sel = blocks[lb > _ABS_GATE]
    if sel.size == 0:
        return LUFS_FLOOR
    rel = _lufs(sel.mean()) + _REL_GATE
    sel2 = sel[_lufs(sel) > rel]
    if sel2.size == 0:
        return LUFS_FLOOR
    return float(max(_lufs(sel2.mean()), LUFS_FLOOR))


def _blocks(z: np.ndarray, n: int) -> np.ndarray:
    """Mean of every run of ``n`` consecutive segments (hop 1 segment) → [shape=(len(z)-n+1,)]."""
    if z.size < n:
        return np.zeros(0)
    c = np.concatenate([[0.0], np.cumsum(z, dtype=np.float64)])
    means: np.ndarray = (c[n:] - c[:-n]) / n
    return means


def loudness_range(z: np.ndarray) -> float:
    """Loudness range (LU) after EBU Tech 3342: short-term (3 s) loudness every 100 ms, absolute
    gate −70 LUFS, relative gate −20 LU, spread between the 10th and 95th percentiles. 0 when fewer
    than two short-term values pass the gates."""
    st = _blocks(z, 30)
    if st.size < 2:
        return 0.0
    lst = _lufs(st)
    lst = lst[lst > _ABS_GATE]
    if lst.size < 2:
        return 0.0
    rel = _lufs(np.mean(10 ** ((lst + 0.691) / 10))) + _LRA_REL_GATE
    lst = lst[lst > rel]
    if lst.size < 2:
        return 0.0
    lo, hi = _percentiles(lst, (10.0, 95.0))
    return float(hi - lo)


def _percentiles(x: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """``np.percentile(x, qs)`` (linear interpolation) without its per-call overhead."""
    s = np.sort(x)
    out = []
    for q in qs:
        pos = (s.size - 1) * q / 100.0
        i = int(pos)
        j = min(i + 1, s.size - 1)
        out.append(float(s[i] + (s[j] - s[i]) * (pos - i)))
    return out


def dynamic_complexity(z: np.ndarray) -> float:
    """Dynamic complexity (LU): mean absolute deviation of the 400 ms loudness around its mean, over
    blocks above the absolute gate (after Streich 2007, as in Essentia's DynamicComplexity)."""
    b = _blocks(z, 4)[::2]
    if b.size == 0:
        return 0.0
    lb = _lufs(b)
    lb = lb[lb > _ABS_GATE]
    if lb.size < 2:
        return 0.0
    return float(np.mean(np.abs(lb - lb.mean())))


def lufs_of(z: float) -> float:
    """LUFS of one power value, floored at ``LUFS_FLOOR``."""
    return float(max(_lufs(z), LUFS_FLOOR))
