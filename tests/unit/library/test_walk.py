"""Walking library roots: extensions, hidden folders, symlinks, loops, roots; fingerprints."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

from sonicmap.errors import PathNotAllowedError
from sonicmap.library.walk import (
    check_paths_allowed,
    content_fingerprint,
    scan_targets,
    walk,
)


def touch(p: Path, data: bytes = b"x") -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def paths(entries) -> set[str]:
    return {e.path for e in entries}


def test_walk_finds_audio_by_extension_and_skips_hidden(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    want = {
        touch(root / "a.mp3"),
        touch(root / "B.FLAC"),
        touch(root / "sub" / "c.ogg"),
        touch(root / "sub" / "deep" / "d.m4a"),
        touch(root / "e.aiff"),
        touch(root / "f.wma"),
        touch(root / "Ünïcødé ✓.opus"),
    }
    touch(root / "cover.jpg")
    touch(root / "notes.txt")
    touch(root / ".hidden.mp3")
    touch(root / ".cache" / "x.mp3")
    got = list(walk([root]))
    assert paths(got) == {str(p) for p in want}
    entry = next(e for e in got if e.path.endswith("a.mp3"))
    st = os.stat(root / "a.mp3")
    assert (entry.size, entry.mtime, entry.problem) == (st.st_size, st.st_mtime, None)


def test_walk_follows_symlinks_without_looping(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    touch(root / "a" / "1.mp3")
    (root / "a" / "loop").symlink_to(root)  # link to an ancestor
    (root / "self").symlink_to(root / "self")  # dangling self-loop
    (root / "alias").symlink_to(root / "a")  # second path to the same folder
    got = list(walk([root]))
    # the folder is walked once, whichever path reached it first
    assert len([e for e in got if e.path.endswith("1.mp3")]) == 1


def test_walk_never_reads_outside_roots(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    outside = tmp_path / "outside"
    touch(outside / "secret.mp3")
    touch(outside / "dir" / "inner.mp3")
    touch(root / "ok.mp3")
    (root / "leak.mp3").symlink_to(outside / "secret.mp3")
    (root / "leakdir").symlink_to(outside / "dir")
    (root / "inside.mp3").symlink_to(root / "ok.mp3")
    got = {e.path: e for e in walk([root])}
    assert set(got) == {str(root / "ok.mp3"), str(root / "leak.mp3"), str(root / "inside.mp3")}
    assert got[str(root / "leak.mp3")].problem and "outside" in got[str(root / "leak.mp3")].problem
    assert got[str(root / "leak.mp3")].size == 0  # not even stat'ed through the link
    assert got[str(root / "inside.mp3")].problem is None


def test_walk_reports_special_and_broken_files_without_opening(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    os.mkfifo(root / "pipe.mp3")  # opening it would block forever
    (root / "broken.flac").symlink_to(root / "nowhere.flac")
    (root / "folder.mp3").mkdir()  # a folder named like a file is walked as a folder
    touch(root / "folder.mp3" / "in.wav")
    got = {os.path.basename(e.path): e.problem for e in walk([root])}
    assert got["pipe.mp3"] and "regular" in got["pipe.mp3"]
    assert got["broken.flac"] == "broken symlink"
    assert got["in.wav"] is None
    assert "folder.mp3" not in got


def test_explicit_paths_must_lie_inside_roots(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    assert check_paths_allowed([root / "sub"], [str(root)]) == [str(root / "sub")]
    with pytest.raises(PathNotAllowedError, match="outside the library roots"):
        check_paths_allowed([tmp_path / "other"], [str(root)])
    (root / "escape").symlink_to(tmp_path / "other")
    with pytest.raises(PathNotAllowedError, match="escape"):
        check_paths_allowed([root / "escape"], [str(root)])
    with pytest.raises(PathNotAllowedError, match="outside"):
        check_paths_allowed([root / ".." / "other"], [str(root)])


def test_scan_targets_rules(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert scan_targets([a, b], None) == ([str(a), str(b)], [str(a), str(b)])
    assert scan_targets([], [a]) == ([str(a)], [str(a)])  # paths become the roots
    assert scan_targets([tmp_path], [a]) == ([str(a)], [str(tmp_path)])
    with pytest.raises(PathNotAllowedError, match="SONICMAP_LIBRARY_ROOTS"):
        scan_targets([], None)


def _write(path: Path, y: np.ndarray, codec: str, fmt: str) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=22050, layout="mono")
        frame = av.AudioFrame.from_ndarray(y.reshape(1, -1), format=fmt, layout="mono")
        frame.sample_rate = 22050
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)


@pytest.mark.parametrize(
    ("ext", "codec", "fmt"), [("mp3", "libmp3lame", "fltp"), ("flac", "flac", "s16")]
)
def test_fingerprint_ignores_tags_but_not_audio(
    tmp_path: Path, ext: str, codec: str, fmt: str
) -> None:
    import mutagen

    rng = np.random.default_rng(0)
    y = rng.standard_normal(22050 * 2).astype(np.float32) * 0.1
    if fmt == "s16":
        y = (y * 20000).astype(np.int16)
    a, b = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
    _write(a, y, codec, fmt)
    _write(b, y[::-1].copy(), codec, fmt)
    fp = content_fingerprint(a)
    assert fp is not None and fp.startswith("1:")
    before = a.read_bytes()
    f = mutagen.File(a, easy=True)
    if f.tags is None:
        f.add_tags()
    f["title"] = "A much longer title than before " * 4
    f["artist"] = "Somebody"
    f.save()
    assert a.read_bytes() != before  # the file did change...
    assert content_fingerprint(a) == fp  # ...but not its audio
    assert content_fingerprint(b) != fp


def test_fingerprint_of_garbage_is_none(tmp_path: Path) -> None:
    assert content_fingerprint(touch(tmp_path / "x.mp3", b"")) is None
    assert content_fingerprint(touch(tmp_path / "y.mp3", b"not audio at all" * 100)) is None
