"""Read and write tags with mutagen: MP3/WAV/AIFF (ID3), FLAC/Ogg/Opus (Vorbis comments),
MP4/M4A (iTunes atoms incl. ``----:com.apple.iTunes:`` freeform), WMA (ASF attributes).

Reading and its rules: :mod:`sonicmap.library.tags.read`; writing:
:mod:`sonicmap.library.tags.write`. Every public name is importable from here.
"""

from sonicmap.library.tags.read import (
    AB_BPM,
    AB_HIGHLEVEL,
    AB_KEY,
    AB_SCALE,
    BPM_TAGS,
    KEY_TAGS,
    UFID_OWNER,
    Tags,
    TagValue,
    parse_number,
    read_tags,
)
from sonicmap.library.tags.write import write_tags

__all__ = [
    "AB_BPM",
    "AB_HIGHLEVEL",
    "AB_KEY",
    "AB_SCALE",
    "BPM_TAGS",
    "KEY_TAGS",
    "UFID_OWNER",
    "TagValue",
    "Tags",
    "parse_number",
    "read_tags",
    "write_tags",
]
