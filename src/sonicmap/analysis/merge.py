"""Precedence between measured (signal) and tag-supplied descriptors.

Rules (``docs/analysis.md`` repeats them):

* **bpm** — the measured tempo stays when it is confident (``bpm_confidence ≥ BPM_CONFIDENT``);
  if the tag's tempo is then an octave relative of it (×2, ×3, ½, ⅓ within 4 %), the tag's value is
  taken (a tag set by a DJ tool or by hand settles the octave our estimator cannot know). When the
  measurement is not confident, the tag wins.
* **key / key_index / mode** — measured when ``key_strength ≥ KEY_CONFIDENT``; otherwise the tag's
  key and mode (the three always come from one source).
* **high-level scores** (``danceability``, ``mood_*``, ``acousticness``, ``instrumentalness``, …)
  — AcousticBrainz classifier probabilities (trained on real music) replace our formula values.
* tag descriptors that we do not measure (e.g. ``mood_sad``) are added; any other measured
  descriptor keeps its signal value.

Every feature's origin is recorded in ``sources``: ``"signal"`` or ``"tag:<tag name>"``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from sonicmap.analysis.features import SCORE_NAMES

logger = logging.getLogger(__name__)

BPM_CONFIDENT = 0.3
KEY_CONFIDENT = 0.5
_TAG_WINS = {"danceability", *SCORE_NAMES}
_OCTAVE_FACTORS = (2.0, 3.0, 0.5, 1.0 / 3.0)


def _unpack(tv: Any) -> tuple[Any, str]:
    value = getattr(tv, "value", tv)
    tag = getattr(tv, "tag", None) or "unknown"
    return value, f"tag:{tag}"


def _number(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def merge_tag_descriptors(
    features: dict[str, Any], sources: dict[str, str], descriptors: Mapping[str, Any]
) -> None:
    """Merge ``descriptors`` (feature name → ``TagValue``) into ``features``/``sources`` in place."""
    if not descriptors:
        return
    d = dict(descriptors)
    # tempo
    if "bpm" in d:
        value, src = _unpack(d.pop("bpm"))
        tag_bpm = _number(value)
        measured = float(features.get("bpm") or 0.0)
        confident = measured > 0 and float(features.get("bpm_confidence") or 0.0) >= BPM_CONFIDENT
        if tag_bpm is not None and tag_bpm > 0:
            octave = confident and any(
                abs(tag_bpm / (measured * f) - 1.0) <= 0.04 for f in _OCTAVE_FACTORS
            )
            if not confident or octave:
                features["bpm"] = round(tag_bpm, 2)
                sources["bpm"] = src
    # key
    key_parts = {k: d.pop(k) for k in ("key", "key_index", "mode") if k in d}
    if key_parts and float(features.get("key_strength") or 0.0) < KEY_CONFIDENT:
        if {"key", "mode"} <= key_parts.keys() or {"key_index", "mode"} <= key_parts.keys():
            for k, tv in key_parts.items():
                value, src = _unpack(tv)
                features[k] = value
                sources[k] = src
            if "key_index" not in key_parts and isinstance(features.get("key"), str):
                from sonicmap.analysis.tonal import PITCH_CLASSES

                if features["key"] in PITCH_CLASSES:
                    features["key_index"] = PITCH_CLASSES.index(features["key"])
                    sources["key_index"] = sources["key"]
    # everything else
    for name, tv in d.items():
        value, src = _unpack(tv)
        num = _number(value)
        if name in _TAG_WINS or name not in features:
            if num is not None and name in _TAG_WINS:
                value = round(min(1.0, max(0.0, num)), 4)
            features[name] = value
            sources[name] = src
