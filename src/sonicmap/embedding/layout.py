"""The 64-D embedding layout: one table (index, name, block, formula, range, neutral).

Every dimension is a documented formula over the named descriptors of
:mod:`sonicmap.analysis` (see ``docs/contracts.md``) or over the genre tags. The table below is
the single source of truth: :mod:`sonicmap.embedding.track` evaluates it, and
``docs/embedding.md`` is generated from it by
:func:`sonicmap.embedding.docpage.render_markdown`.

Principles
----------
* **Centred encodings.** Each formula maps its input onto roughly ``[-1, 1]`` around a *typical*
  value (the dimension's *neutral* input), so that cosine similarity compares deviations from a
  typical track rather than raw magnitudes.
* **Missing is neutral, never zero.** A missing, ``None`` or non-finite input gets the neutral
  input, which encodes to ``0.0``: an unknown loudness is "typical loudness" (-14 LUFS), never
  "silent"; an unknown tempo sits at the centre of the tempo circle (equally far from every
  tempo), never "0 bpm"; an unknown mode sits between major and minor.
* **Musical geometry.** Tempo is placed on a circle of ``log2(bpm)`` with a period of one octave,
  so half/double-tempo confusions land on the same point and only differ in a small coarse
  linear dimension. Keys are placed on the circle of fifths with each minor key at the position of
  its relative major plus a small mode dimension, so relative keys and keys a fifth apart are close
  and a tritone is farthest.
* **Block weights.** Dimensions belong to six blocks. The final vector multiplies every dimension
  of block ``b`` by ``w_b / sqrt(n_b)`` (``n_b`` = dimensions in the block), so a block's share of
  the distance is set by its weight, not by how many dimensions it happens to have; then each track
  vector is L2-normalised. Weights are configurable (``weights=`` of
  :func:`sonicmap.embedding.embed_tracks`); :data:`DEFAULT_WEIGHTS` holds the defaults.

Bump :data:`LAYOUT_VERSION` on any change to this table, the genre taxonomy or the default
weights: stored vectors of another version are then recomputed from the stored descriptors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sonicmap.errors import SonicmapError

LAYOUT_VERSION: int = 5
"""Version of the layout; stored with every track and artist vector."""

DIM: int = 64
"""Number of dimensions."""

BLOCKS: tuple[str, ...] = (
    "tempo_rhythm",
    "key_tonality",
    "core",
    "timbre",
    "scores",
    "genre",
)
"""The blocks, in layout order."""

BLOCK_TITLES: dict[str, str] = {
    "tempo_rhythm": "Tempo & rhythm",
    "key_tonality": "Key & tonality",
    "core": "Core features (loudness, spectrum)",
    "timbre": "Timbre (MFCC Gaussian, spectral valleys)",
    "scores": "Derived MIR scores",
    "genre": "Genre",
}

DEFAULT_WEIGHTS: dict[str, float] = {
    "tempo_rhythm": 1.0,
    "key_tonality": 1.0,
    "core": 1.0,
    "timbre": 1.0,
    "scores": 1.0,
    "genre": 1.0,
}
"""Default per-block weights (the block's share of the vector norm before L2 normalisation).

All 1: the balance between the audio dimensions is set by their per-dimension weights, chosen on
real recordings (:data:`TUNING`); the genre block keeps weight 1 (genre tags are absent from the
tuning set, and a track without genre encodes the whole block to 0, so it never dilutes)."""

TUNING_FILE = Path(__file__).with_name("tuning.json")
"""Centres, scales and per-dimension weights chosen on real recordings by
``bench/tune_embedding.py`` (committed constants, never statistics of the user's library)."""


def _load_tuning() -> dict[str, Any]:
    try:
        return dict(json.loads(TUNING_FILE.read_text(encoding="utf-8")))
    except FileNotFoundError:  # pragma: no cover - the file ships with the package
        return {}


TUNING_META: dict[str, Any] = _load_tuning()
"""The whole ``tuning.json`` (provenance, the chosen exponent and scale factor, the scores)."""
TUNING: dict[str, dict[str, float]] = dict(TUNING_META.get("dims", {}))
"""Dimension name → {"c", "s", "weight"} overriding the defaults in :func:`_build`."""

GENRE_PARENTS: tuple[str, ...] = (
    "rock",
    "metal",
    "pop",
    "electronic",
    "hip_hop",
    "rnb_soul",
    "jazz",
    "blues",
    "classical",
    "folk_country",
    "reggae",
    "latin_world",
)
"""Parent genres, one dimension each; ``genres.yaml`` maps sub-genres onto them."""

TEMPO_REF_BPM = 120.0
"""Tempo at phase 0 of the tempo circle and centre of the coarse tempo dimension (bpm)."""
TEMPO_OCTAVE_WEIGHT = 0.75
"""Scale of the coarse (non-circular) tempo dimension relative to the circle's radius 1."""
MODE_HALF_GAP = 0.5
"""Major encodes to +0.5, minor to -0.5: relative keys differ by 1.0 < tritone's 2.0."""
# Harte, Sandler & Gasser (2006) tonal centroid: circles of minor and major thirds (the circle of
# fifths is already covered by the key position).
TONNETZ_CIRCLES: dict[str, tuple[float, float]] = {
    # name: (angle step per semitone [rad], radius)
    "minor3": (3.0 * math.pi / 2.0, 1.0),
    "major3": (2.0 * math.pi / 3.0, 0.5),
}
TONNETZ_GAIN = 2.0
"""Tonal-centroid components are divided by the circle radius, times this gain, then ``tanh``."""


@dataclass(frozen=True)
class Dim:
    """One dimension of the layout.

    Attributes
    ----------
    index : int
        Position 0-63.
    name : str
        Unique snake_case name.
    block : str
        One of :data:`BLOCKS`.
    source : str
        The descriptor the dimension reads (``docs/contracts.md`` name) or ``"genres"``.
    kind : str
        Transform family evaluated by :mod:`sonicmap.embedding.track`.
    params : dict
        Transform constants (centre ``c``, scale ``s``, list ``item``, ...).
    unit : str
        Unit of the source descriptor.
    weight : float
        Per-dimension weight (before the block scale), from :data:`TUNING`.
    """

    index: int
    name: str
    block: str
    source: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    unit: str = ""
    weight: float = 1.0

    @property
    def formula(self) -> str:
        """Human-readable formula (``x`` = the source value)."""
        p, src = self.params, self.source
        k = self.kind
        if k == "score":
            return f"2·clip({src}, 0, 1) − 1"
        if k == "tanh":
            return f"tanh(({src} − {_num(p['c'])}) / {_num(p['s'])})"
        if k == "tanh_log2":
            return f"tanh(log2({src} / {_num(p['c'])}) / {_num(p['s'])})"
        if k == "tanh_log10":
            return f"tanh(log10({src} / {_num(p['c'])}) / {_num(p['s'])})"
        if k == "item_tanh":
            return f"tanh(({src}[{p['item']}] − {_num(p['c'])}) / {_num(p['s'])})"
        if k == "item_tanh_log2":
            return f"tanh(log2({src}[{p['item']}] / {_num(p['c'])}) / {_num(p['s'])})"
        if k == "band_tanh":
            return (
                f"tanh((mean of {src} over band group {p['group']} of {p.get('groups', 3)} − "
                f"{_num(p['c'])}) / {_num(p['s'])})"
            )
        if k == "tempo_cos":
            return f"cos(2π·log2(bpm / {_num(TEMPO_REF_BPM)}))"
        if k == "tempo_sin":
            return f"sin(2π·log2(bpm / {_num(TEMPO_REF_BPM)}))"
        if k == "tempo_octave":
            return f"{_num(TEMPO_OCTAVE_WEIGHT)}·tanh(log2(bpm / {_num(TEMPO_REF_BPM)}))"
        if k in ("key_cos", "key_sin"):
            fn = "cos" if k == "key_cos" else "sin"
            return (
                f"{fn}(2π·q/12), q = 7·r mod 12 (circle of fifths), r = key_index for major, "
                "(key_index + 3) mod 12 (the relative major) for minor; unknown mode: the mean "
                "of both placements"
            )
        if k == "mode":
            return f"+{_num(MODE_HALF_GAP)} if mode = major, −{_num(MODE_HALF_GAP)} if minor"
        if k == "tonnetz":
            step, radius = TONNETZ_CIRCLES[p["circle"]]
            fn = p["fn"]
            return (
                f"tanh({_num(TONNETZ_GAIN)}·Σ_l chroma[l]·{fn}(l·{_angle(step)}) / "
                f"{_num(radius)}), chroma normalised to sum 1"
            )
        if k == "chroma_clarity":
            return (
                f"tanh((1 − H(chroma)/log 12 − {_num(p['c'])}) / {_num(p['s'])}), "
                "H = Shannon entropy of the sum-normalised chroma"
            )
        if k == "genre":
            return (
                f"share of the track's known genres whose parent is '{p['parent']}' "
                f"− 1/{len(GENRE_PARENTS)} (shares sum to 1; see genres.yaml)"
            )
        raise SonicmapError(f"unknown dimension kind {k!r} for {self.name!r}")

    @property
    def range(self) -> tuple[float, float]:
        """Closed bounds of the encoded value (before block weighting)."""
        k = self.kind
        if k == "tempo_octave":
            return (-TEMPO_OCTAVE_WEIGHT, TEMPO_OCTAVE_WEIGHT)
        if k == "mode":
            return (-MODE_HALF_GAP, MODE_HALF_GAP)
        if k == "genre":
            return (-1.0 / len(GENRE_PARENTS), 1.0 - 1.0 / len(GENRE_PARENTS))
        return (-1.0, 1.0)

    @property
    def neutral(self) -> str:
        """The input assumed when the source is missing (always encodes to 0.0)."""
        k, p = self.kind, self.params
        u = f" {self.unit}" if self.unit else ""
        if k == "score":
            return f"{self.source} = 0.5"
        if k in ("tanh", "tanh_log2", "tanh_log10"):
            return f"{self.source} = {_num(p['c'])}{u}"
        if k in ("item_tanh", "item_tanh_log2", "band_tanh"):
            return f"{self.source} value {_num(p['c'])}{u}"
        if k in ("tempo_cos", "tempo_sin"):
            return "centre of the tempo circle (equally far from every tempo)"
        if k == "tempo_octave":
            return f"{_num(TEMPO_REF_BPM)} bpm"
        if k in ("key_cos", "key_sin"):
            return "centre of the circle of fifths (equally far from every key)"
        if k == "mode":
            return "half-way between major and minor"
        if k == "tonnetz":
            return "flat chroma (centroid at the origin)"
        if k == "chroma_clarity":
            return f"clarity {_num(p['c'])}"
        if k == "genre":
            return "no known genre: equal shares 1/12 (no genre information)"
        raise SonicmapError(f"unknown dimension kind {k!r} for {self.name!r}")


def _num(x: float) -> str:
    return f"{x:g}"


def _angle(step: float) -> str:
    frac = step / math.pi
    return {1.5: "3π/2", 2.0 / 3.0: "2π/3"}.get(round(frac, 6), f"{frac:g}π")


def _build() -> tuple[Dim, ...]:
    rows: list[tuple[str, str, str, str, dict[str, Any], str]] = []

    def add(name: str, block: str, source: str, kind: str, unit: str = "", **params: Any) -> None:
        rows.append((name, block, source, kind, params, unit))

    # --- tempo & rhythm (9)
    b = "tempo_rhythm"
    add("tempo_circle_cos", b, "bpm", "tempo_cos", "bpm")
    add("tempo_circle_sin", b, "bpm", "tempo_sin", "bpm")
    add("tempo_octave", b, "bpm", "tempo_octave", "bpm")
    add("pulse_strength", b, "pulse_strength", "tanh", "", c=0.5, s=0.4)
    add("onset_rate", b, "onset_rate", "tanh_log2", "onsets/s", c=2.5, s=1.0)
    add("danceability_dfa", b, "dfa_danceability", "tanh", "", c=2.0, s=0.7)
    add("syllabic_modulation", b, "speech_modulation", "tanh", "", c=0.4, s=0.25)
    add("fluctuation_gravity", b, "fluctuation_gravity_hz", "tanh_log2", "Hz", c=3.0, s=1.0)
    add("fluctuation_strength", b, "fluctuation_strength", "tanh_log2", "", c=1.0, s=1.0)
    # --- key & tonality (6)
    b = "key_tonality"
    add("key_fifths_cos", b, "key_index", "key_cos")
    add("key_fifths_sin", b, "key_index", "key_sin")
    add("mode", b, "mode", "mode")
    add("tonnetz_minor3_sin", b, "chroma", "tonnetz", circle="minor3", fn="sin")
    add("tonnetz_minor3_cos", b, "chroma", "tonnetz", circle="minor3", fn="cos")
    add("chroma_clarity", b, "chroma", "chroma_clarity", c=0.15, s=0.1)
    # --- core: loudness and spectrum (20)
    b = "core"
    add("loudness", b, "loudness_lufs", "tanh", "LUFS", c=-14.0, s=8.0)
    add("loudness_range", b, "loudness_range_lu", "tanh", "LU", c=4.0, s=4.0)
    add("dynamic_complexity", b, "dynamic_complexity", "tanh", "LU", c=2.0, s=2.0)
    add("spectral_centroid", b, "spectral_centroid_hz", "tanh_log2", "Hz", c=1000.0, s=1.0)
    add(
        "spectral_centroid_spread", b, "spectral_centroid_std_hz", "tanh_log2", "Hz", c=250.0, s=1.5
    )
    add("spectral_bandwidth", b, "spectral_bandwidth_hz", "tanh_log2", "Hz", c=900.0, s=1.0)
    add("spectral_rolloff", b, "spectral_rolloff_hz", "tanh_log2", "Hz", c=600.0, s=1.5)
    add("spectral_flatness", b, "spectral_flatness", "tanh_log10", "", c=0.003, s=1.0)
    add("spectral_flux", b, "spectral_flux", "tanh_log2", "dB/frame", c=1.2, s=1.5)
    add("zero_crossing_rate", b, "zcr", "tanh_log2", "1/sample", c=0.07, s=1.0)
    # native-rate high bands (above the analysis band: brightness, air, the encoder's low-pass)
    for i, name in enumerate(
        ("5k5_8k", "8k_11k", "11k_13k", "13k_15k", "15k_16k5", "16k5_18k", "18k_19k5", "19k5_21k")
    ):
        add(f"high_band_{name}", b, "hf_profile_db", "item_tanh", "dB", item=i, c=-50.0, s=20.0)
    for g, name in enumerate(("low", "mid", "high")):
        if name == "low":
            continue
        add(
            f"spectral_contrast_{name}",
            b,
            "spectral_contrast",
            "band_tanh",
            "dB",
            group=g,
            c=27.0,
            s=8.0,
        )
    # --- timbre: the MFCC Gaussian (means, deviations, one correlation) and valleys (14)
    b = "timbre"
    for i in range(1, 9):
        add(f"mfcc_mean_{i}", b, "mfcc_mean", "item_tanh", "", item=i, c=0.0, s=4.0)
    for i in range(1, 4):
        add(f"mfcc_std_{i}", b, "mfcc_std", "item_tanh_log2", "", item=i, c=4.0, s=1.0)
    add("mfcc_corr_1_2", b, "mfcc_corr", "item_tanh", "", item=0, c=0.0, s=0.5)
    for g, name in enumerate(("low", "mid", "high")):
        if name == "low":
            continue
        add(
            f"spectral_valley_{name}",
            b,
            "spectral_valley",
            "band_tanh",
            "dB",
            group=g,
            c=-30.0,
            s=15.0,
        )
    # --- derived MIR scores (3)
    for sc in ("energy", "acousticness", "mood_aggressive"):
        add(sc, "scores", sc, "score")
    # --- genre (12)
    for parent in GENRE_PARENTS:
        add(f"genre_{parent}", "genre", "genres", "genre", parent=parent)

    dims = []
    for i, (n, blk, src, k, prm, u) in enumerate(rows):
        tuned = TUNING.get(n, {})
        prm = dict(prm)
        for key in ("c", "s"):
            if key in tuned and key in prm:
                prm[key] = float(tuned[key])
        weight = float(tuned.get("weight", 1.0))
        dims.append(
            Dim(index=i, name=n, block=blk, source=src, kind=k, params=prm, unit=u, weight=weight)
        )
    return tuple(dims)


LAYOUT: tuple[Dim, ...] = _build()
"""The 64 dimensions in order."""

BLOCK_SLICES: dict[str, slice] = {}
for _b in BLOCKS:
    _idx = [d.index for d in LAYOUT if d.block == _b]
    BLOCK_SLICES[_b] = slice(_idx[0], _idx[-1] + 1)
del _b, _idx


def check_layout() -> None:
    """Raise :class:`SonicmapError` unless the table is consistent (64 dims, unique names,
    blocks contiguous and in :data:`BLOCKS` order)."""
    if len(LAYOUT) != DIM:
        raise SonicmapError(f"layout has {len(LAYOUT)} dimensions, expected {DIM}")
    names = [d.name for d in LAYOUT]
    if len(set(names)) != DIM:
        raise SonicmapError("layout dimension names are not unique")
    order = [d.block for d in LAYOUT]
    if sorted(order, key=BLOCKS.index) != order:
        raise SonicmapError("layout blocks are not contiguous in BLOCKS order")


check_layout()


def block_scale(weights: Mapping[str, float] | None = None) -> Any:
    """Per-dimension multiplier ``w_d · w_b / sqrt(n_b)`` (dimension weight × block weight over
    the square root of the block's size).

    Parameters
    ----------
    weights : mapping block → weight ≥ 0, optional
        Missing blocks take :data:`DEFAULT_WEIGHTS`.

    Returns
    -------
    np.ndarray [shape=(64,), float32]
    """
    import numpy as np

    w = dict(DEFAULT_WEIGHTS)
    if weights:
        for key, value in weights.items():
            if key not in BLOCKS:
                raise SonicmapError(
                    f"unknown embedding block {key!r} in weights; expected one of {', '.join(BLOCKS)}"
                )
            v = float(value)
            if not math.isfinite(v) or v < 0:
                raise SonicmapError(
                    f"embedding weight for {key!r} must be a finite number >= 0, got {value!r}"
                )
            w[key] = v
    scale = np.empty(DIM, dtype=np.float32)
    for b, sl in BLOCK_SLICES.items():
        n = sl.stop - sl.start
        scale[sl] = w[b] / math.sqrt(n)
    scale *= np.array([d.weight for d in LAYOUT], dtype=np.float32)
    return scale
