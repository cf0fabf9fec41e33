"""Synthetic music with known properties, for tests, benchmarks and ``sonicmap demo``.

Runtime needs numpy (rendering) and PyAV + mutagen (writing files) only.

* :class:`Style` — what a track sounds like (tempo, key/mode, timbre, drums, density, loudness, ...).
* :func:`render` — a float32 signal of a style.
* :func:`write_audio` — encode to wav/flac/mp3/ogg/opus/m4a/aiff by extension, then tag.
* :func:`demo_styles` / :func:`generate_library` — distinct artists and a tagged library with
  ground truth (:class:`GeneratedTrack`).
"""

from sonicmap.synth.archetypes import demo_styles
from sonicmap.synth.library import DEFAULT_FORMATS, GeneratedTrack, generate_library, safe_filename
from sonicmap.synth.render import brightness_cutoff_hz, render
from sonicmap.synth.style import DRUMS, MODES, PITCH_NAMES, TIMBRES, Style
from sonicmap.synth.voices import midi_to_hz
from sonicmap.synth.writer import WRITABLE_EXTENSIONS, available_formats, write_audio

__all__ = [
    "DEFAULT_FORMATS",
    "DRUMS",
    "MODES",
    "PITCH_NAMES",
    "TIMBRES",
    "WRITABLE_EXTENSIONS",
    "GeneratedTrack",
    "Style",
    "available_formats",
    "brightness_cutoff_hz",
    "demo_styles",
    "generate_library",
    "midi_to_hz",
    "render",
    "safe_filename",
    "write_audio",
]
