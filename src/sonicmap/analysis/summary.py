"""The end of an analysis: the track's descriptors from the state an :class:`Accumulator` kept.

:func:`track_features` runs once per file, after the last block: tempo, onset rate and
danceability from the per-frame envelopes; key, tuning and chroma from the long-STFT mean
spectrum; loudness from the 100 ms powers; the spectral, fluctuation, high-band and MFCC
statistics from their running sums. The names and units are ``features.FEATURES``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sonicmap.analysis import loudness, rhythm, tempo, texture, tonal
from sonicmap.analysis.accumulator import CHROMA_FMAX, CHROMA_FMIN, FPS, Accumulator
from sonicmap.analysis.scores import danceability_score


def track_features(acc: Accumulator, native_sr: int) -> dict[str, Any]:
    """Every signal descriptor of the track (rounded, JSON-able), in the order of the feature
    table; ``acc`` is flushed first (its last partial chunk and batches processed)."""
    acc.flush()
    f: dict[str, Any] = {}
    onset = acc.onset_envelope()
    _rhythm(acc, onset, f)
    _key(acc, f)
    mono, low = _loudness(acc, native_sr, f)
    _spectral(acc, onset, f)
    tot = float(mono.sum())
    f["hf_ratio"] = round(
        float(np.clip(1.0 - low.sum() / tot, 0.0, 1.0)) if tot > 1e-12 else 0.0, 4
    )
    hf = acc.hf_sum / max(acc.n_hf, 1)
    f["hf_profile_db"] = [round(float(max(10 * np.log10(v + 1e-10), -100.0)), 2) for v in hf]
    f["zcr"] = round(acc.zc / max(acc.n_low, 1), 5)
    band_env = np.concatenate(acc.band_env) if acc.band_env else np.zeros(0)
    f["speech_modulation"] = round(rhythm.modulation_ratio(band_env, FPS), 4)
    _mfcc(acc, f)
    return f


def _rhythm(acc: Accumulator, onset: np.ndarray, f: dict[str, Any]) -> None:
    """Tempo (with its confidence and pulse strength), onset rate, DFA danceability."""
    env = np.concatenate(acc.env) if acc.env else np.zeros(0, np.float32)
    bass = np.concatenate(acc.onset_bass).astype(np.float64) if acc.onset_bass else None
    rate = rhythm.onset_rate(onset, FPS)
    bpm, conf, pulse = tempo.estimate_tempo(onset, FPS, low_onset=bass, rate=rate)
    f["bpm"] = round(bpm, 2)
    f["bpm_confidence"] = round(conf, 4)
    f["pulse_strength"] = round(pulse, 4)
    f["onset_rate"] = round(rate, 4)
    dfa = rhythm.dfa_danceability(env, FPS)
    f["dfa_danceability"] = round(dfa, 4)
    f["danceability"] = round(danceability_score(dfa), 4) if dfa > 0 else 0.0


def _key(acc: Accumulator, f: dict[str, Any]) -> None:
    """Key, mode, key strength, tuning and chroma from the mean long-STFT spectrum."""
    spec = acc.long_sum / max(acc.n_long, 1)
    freqs = acc.long_freqs[acc.long_band]
    pf, pm = tonal.spectral_peaks(spec, freqs, fmin=CHROMA_FMIN, fmax=CHROMA_FMAX)
    tuning = tonal.estimate_tuning(pf, pm)
    chroma = tonal.hpcp(pf, pm, tuning=tuning)
    key, mode, strength = tonal.estimate_key(chroma)
    f["key"] = tonal.PITCH_CLASSES[key]
    f["key_index"] = key
    f["mode"] = mode
    f["key_strength"] = round(strength, 4)
    f["tuning_cents"] = round(100 * tuning, 2)
    f["chroma"] = [
        round(float(v), 5) for v in (chroma if chroma.sum() > 0 else np.full(12, 1 / 12))
    ]


def _loudness(acc: Accumulator, native_sr: int, f: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Integrated loudness, loudness range, dynamic complexity, RMS statistics; returns the
    native mono power and its part inside the analysis band per 100 ms segment."""
    z, mono, low = acc.loudness_powers(native_sr)
    f["loudness_lufs"] = round(loudness.gated_loudness(z), 2)
    f["loudness_range_lu"] = round(loudness.loudness_range(z), 2)
    f["dynamic_complexity"] = round(loudness.dynamic_complexity(z), 3)
    rms_db = 10 * np.log10(np.maximum(mono, 1e-10)) if mono.size else np.array([-100.0])
    f["rms_mean_db"] = round(float(rms_db.mean()), 2)
    f["rms_std_db"] = round(float(rms_db.std()), 2)
    return mono, low


def _spectral(acc: Accumulator, onset: np.ndarray, f: dict[str, Any]) -> None:
    """Spectral centroid, bandwidth, roll-off, flatness, contrast and valleys; the fluctuation
    pattern and the spectral flux of the onset envelope."""
    nd = max(acc.n_desc, 1)

    def mean_std(name: str) -> tuple[float, float]:
        m = acc.desc_sum.get(name, 0.0) / nd
        v = acc.desc_sq.get(name, 0.0) / nd - m * m
        return m, math.sqrt(max(v, 0.0))

    c_m, c_s = mean_std("centroid")
    f["spectral_centroid_hz"] = round(c_m, 2)
    f["spectral_centroid_std_hz"] = round(c_s, 2)
    f["spectral_bandwidth_hz"] = round(mean_std("bandwidth")[0], 2)
    f["spectral_rolloff_hz"] = round(mean_std("rolloff")[0], 2)
    f["spectral_flatness"] = round(mean_std("flatness")[0], 5)
    f["spectral_contrast"] = [round(float(v), 3) for v in acc.contrast_sum / max(acc.n_contrast, 1)]
    f["spectral_valley"] = [round(float(v), 3) for v in acc.valley_sum / max(acc.n_contrast, 1)]
    fp = texture.fluctuation_pattern(onset, FPS)
    f["fluctuation_pattern"] = [round(v, 5) for v in fp["pattern"]]  # type: ignore[attr-defined]
    f["fluctuation_gravity_hz"] = round(float(fp["gravity"]), 4)  # type: ignore[arg-type]
    f["fluctuation_strength"] = round(float(fp["strength"]), 5)  # type: ignore[arg-type]
    f["spectral_flux"] = round(float(onset.mean()) if onset.size else 0.0, 4)


def _mfcc(acc: Accumulator, f: dict[str, Any]) -> None:
    """MFCC means and standard deviations and the MFCC correlations, from the running first and
    second moments of the log-mel vector (the DCT is linear)."""
    nm = max(acc.n_mfcc, 1)
    # MFCC: natural-log mel energies → DCT ([dB] * ln(10) / 10 = [neper])
    dct = acc.dct_db.astype(np.float64)
    mm = dct.T @ (acc.mel_sum / nm)
    # diag(Dᵀ G D) as one product and a column sum (a three-operand einsum costs ~20 µs)
    msq = ((acc.mel_gram / nm) @ dct * dct).sum(axis=0)
    ms = np.sqrt(np.maximum(msq - mm * mm, 0.0))
    f["mfcc_mean"] = [round(float(v), 4) for v in mm]
    f["mfcc_std"] = [round(float(v), 4) for v in ms]
    # single-Gaussian timbre model (Mandel & Ellis 2005): the MFCC covariance Dᵀ Cov(mel) D
    cov = dct.T @ (acc.mel_gram / nm) @ dct - np.outer(mm, mm)
    f["mfcc_corr"] = [round(v, 4) for v in texture.mfcc_correlations(cov)]
