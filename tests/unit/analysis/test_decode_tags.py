"""A file whose tags are not UTF-8 decodes through its usual decoder (no fallback, no refusal)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonicmap.analysis.analyze import analyze_file


def _latin1_tagged_ogg(path: Path) -> Path:
    """An Ogg Vorbis file whose TITLE comment holds a Latin-1 byte (as in older rips)."""
    mutagen_ogg = pytest.importorskip("mutagen.ogg")
    import mutagen.oggvorbis

    y = np.random.default_rng(0).normal(0.0, 0.1, (44100 * 2, 2))
    sf.write(path, y, 44100, format="OGG", subtype="VORBIS")
    tags = mutagen.oggvorbis.OggVorbis(path)
    tags["title"] = "ApnXe"
    tags.save()
    pages = []
    with path.open("rb") as fh:
        while True:
            try:
                pages.append(mutagen_ogg.OggPage(fh))
            except EOFError:
                break
    for page in pages:  # "é" as the single Latin-1 byte 0xE9; the page CRCs are recomputed
        page.packets = [p.replace(b"ApnXe", b"Apn\xe9e") for p in page.packets]
    path.write_bytes(b"".join(page.write() for page in pages))
    return path


def test_latin1_vorbis_comment_does_not_stop_pyav(tmp_path: Path, caplog) -> None:
    p = _latin1_tagged_ogg(tmp_path / "apnee.ogg")
    with caplog.at_level(logging.INFO, logger="sonicmap.analysis.decode"):
        a = analyze_file(p, tags=None)
    assert a.features["duration_s"] == pytest.approx(2.0, abs=0.01)
    assert not [r for r in caplog.records if "fallback" in r.getMessage()]
