"""The feature table: every descriptor ``analyze_file`` returns, with its unit and meaning."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    """One named descriptor: ``unit`` ("" when dimensionless), ``kind`` (float/int/str/bool/list)."""

    name: str
    unit: str
    kind: str
    description: str


_TABLE = [
    ("duration_s", "s", "float", "Duration of the file (container estimate or decoded length)."),
    ("analysed_s", "s", "float", "Audio actually analysed (≤ duration when the cap applied)."),
    ("truncated", "", "bool", "True when max_duration_s cut the analysis short."),
    ("bpm", "bpm", "float", "Tempo, beats per minute; 0 when no periodic pulse was found."),
    (
        "bpm_confidence",
        "0-1",
        "float",
        "Confidence of the tempo (periodicity of the onsets at the beat period).",
    ),
    (
        "pulse_strength",
        "0-1",
        "float",
        "Normalised autocorrelation of the onset envelope at the beat period.",
    ),
    ("onset_rate", "1/s", "float", "Detected note/percussive onsets per second."),
    ("danceability", "0-1", "float", "Logistic map of dfa_danceability (0.5 at DFA 1.0)."),
    (
        "dfa_danceability",
        "0-3",
        "float",
        "Streich & Herrera DFA danceability: 1 / mean DFA exponent.",
    ),
    ("key", "", "str", "Tonic pitch class name: C, C#, D, D#, E, F, F#, G, G#, A, A#, B."),
    ("key_index", "0-11", "int", "Tonic pitch class, C = 0."),
    ("mode", "", "str", "major or minor."),
    ("key_strength", "0-1", "float", "Correlation of the chroma with the winning key profile."),
    ("tuning_cents", "cents", "float", "Deviation of the tuning from A4 = 440 Hz."),
    ("chroma", "12 × share", "list", "Mean harmonic pitch-class profile, C first, sums to 1."),
    ("loudness_lufs", "LUFS", "float", "Integrated loudness, ITU-R BS.1770-4 (−70 for silence)."),
    ("loudness_range_lu", "LU", "float", "Loudness range, EBU Tech 3342."),
    ("dynamic_complexity", "LU", "float", "Mean absolute deviation of the 400 ms loudness."),
    ("rms_mean_db", "dBFS", "float", "Mean of the 100 ms RMS level of the mono mix (floor −100)."),
    ("rms_std_db", "dB", "float", "Standard deviation of the 100 ms RMS level."),
    (
        "spectral_centroid_hz",
        "Hz",
        "float",
        "Mean spectral centroid (magnitude-weighted, 0-5.5 kHz band).",
    ),
    ("spectral_centroid_std_hz", "Hz", "float", "Standard deviation of the spectral centroid."),
    (
        "spectral_bandwidth_hz",
        "Hz",
        "float",
        "Mean spectral bandwidth (magnitude-weighted spread).",
    ),
    ("spectral_rolloff_hz", "Hz", "float", "Mean frequency below which 85 % of the power lies."),
    (
        "spectral_flatness",
        "0-1",
        "float",
        "Mean Wiener entropy (geometric / arithmetic mean power).",
    ),
    (
        "spectral_contrast",
        "dB × 6",
        "list",
        "Mean octave-band spectral contrast (Jiang 2002), bands up to 200, 400, 800, 1600, 3200, 5512 Hz.",
    ),
    (
        "spectral_valley",
        "dB × 6",
        "list",
        "Mean octave-band spectral valley (Jiang 2002) relative to the frame's mean power, same bands.",
    ),
    (
        "fluctuation_pattern",
        "6 × share",
        "list",
        "Onset-envelope modulation per band 0.5-10 Hz (Pampalk's fluctuation pattern), sums to 1.",
    ),
    (
        "fluctuation_gravity_hz",
        "Hz",
        "float",
        "Centre of gravity of the fluctuation pattern (modulation frequency).",
    ),
    (
        "fluctuation_strength",
        "",
        "float",
        "Weighted 0.5-10 Hz modulation of the onset envelope over its level.",
    ),
    (
        "spectral_flux",
        "dB/frame",
        "float",
        "Mean positive log-mel flux (the onset envelope's mean).",
    ),
    ("hf_ratio", "0-1", "float", "Share of the mono power above 5.5 kHz (native bandwidth)."),
    (
        "hf_profile_db",
        "dB × 8",
        "list",
        "Native-rate power share per band 5.5-8, 8-11, 11-13, 13-15, 15-16.5, 16.5-18, 18-19.5, "
        "19.5-21 kHz (dB, floor −100), one frame every 2 s.",
    ),
    (
        "zcr",
        "1/sample",
        "float",
        "Zero-crossing rate of the analysis-rate (11 025 Hz) mono signal.",
    ),
    (
        "speech_modulation",
        "0-1",
        "float",
        "Share of 2.5-7 Hz (syllable-rate) modulation in the 300-3000 Hz band envelope.",
    ),
    (
        "mfcc_mean",
        "13 × coefficient",
        "list",
        "Mean MFCCs (40 mel bands 30-5000 Hz, natural log, orthonormal DCT-II).",
    ),
    ("mfcc_std", "13 × coefficient", "list", "Standard deviation of the MFCCs."),
    (
        "mfcc_corr",
        "15 × correlation",
        "list",
        "Correlations between MFCC 1-6 (upper triangle, row-major): the timbre Gaussian's shape.",
    ),
    ("energy", "0-1", "float", "Score: perceived intensity (see docs/analysis.md)."),
    ("valence", "0-1", "float", "Score: musical positiveness."),
    (
        "acousticness",
        "0-1",
        "float",
        "Score: likelihood of acoustic (unamplified, unprocessed) sound.",
    ),
    ("instrumentalness", "0-1", "float", "Score: likelihood of no voice."),
    ("speechiness", "0-1", "float", "Score: presence of spoken words."),
    ("mood_happy", "0-1", "float", "Score: happy mood."),
    ("mood_aggressive", "0-1", "float", "Score: aggressive mood."),
    ("mood_party", "0-1", "float", "Score: party mood."),
    ("mood_relaxed", "0-1", "float", "Score: relaxed mood."),
]

FEATURES: dict[str, Feature] = {n: Feature(n, u, k, d) for n, u, k, d in _TABLE}
"""Feature name → :class:`Feature` (unit, kind, description)."""

SCORE_NAMES = (
    "energy",
    "valence",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "mood_happy",
    "mood_aggressive",
    "mood_party",
    "mood_relaxed",
)
