"""Walking library roots, and the audio content fingerprint used to recognise moved files.

The walk is a plain iterative ``os.scandir`` traversal:

* audio files are recognised by extension (:data:`AUDIO_EXTENSIONS`, case-insensitive);
* hidden entries (name starting with ``.``) are skipped, folders and files alike;
* symbolic links are followed, but a folder is entered at most once (visited
  ``(st_dev, st_ino)`` pairs), so a link loop or a link to an ancestor cannot recurse;
* nothing outside the roots is read: a symlink whose resolved target lies outside every root is
  reported as a problem (:attr:`FileEntry.problem`) and never opened, a symlinked folder whose
  target lies outside every root is not entered;
* a non-regular file with an audio extension (FIFO, socket, device) is reported as a problem and
  never opened (opening a FIFO would block the scan forever).

Each yielded file costs exactly one ``stat`` (``DirEntry.stat()``, which follows symlinks); the
scan compares ``(size, mtime)`` against the stored values and does nothing more for unchanged
files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sonicmap.errors import PathNotAllowedError

log = logging.getLogger(__name__)

#: Extensions (lower case, without the dot) the walk treats as audio.
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {"mp3", "flac", "ogg", "oga", "opus", "m4a", "mp4", "aac", "wav", "aif", "aiff", "wma"}
)

#: Version of :func:`content_fingerprint`; part of every fingerprint string.
FINGERPRINT_VERSION = 1
#: Encoded audio bytes hashed at most (longer files: the rest is counted, not hashed).
FINGERPRINT_MAX_HASHED_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One audio file found by :func:`walk`.

    ``path`` is absolute and lexical (the root joined with the names walked, symlinks not
    resolved): it is what the user sees and what the store keys tracks on. ``size`` in bytes,
    ``mtime`` in seconds since the epoch (``st_mtime``, float). ``problem`` is ``None`` for a
    readable regular file, else the reason the file must not be opened (it is then recorded as
    failed without being read).
    """

    path: str
    size: int
    mtime: float
    problem: str | None = None


def extension(path: str) -> str:
    """Lower-case extension without the dot (``"Song.FLAC"`` → ``"flac"``; none → ``""``)."""
    _, dot, ext = path.rpartition(".")
    return ext.lower() if dot else ""


def is_audio_name(name: str) -> bool:
    return extension(name) in AUDIO_EXTENSIONS


def normalise_roots(roots: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Absolute, normalised (lexical) roots, de-duplicated, nested roots dropped."""
    out: list[str] = []
    for r in sorted({os.path.abspath(os.path.expanduser(os.fspath(r))) for r in roots}):
        if not any(is_within(r, o) for o in out):
            out.append(r)
    return out


def is_within(path: str, root: str) -> bool:
    """True when ``path`` equals ``root`` or lies below it (both absolute, normalised)."""
    if path == root:
        return True
    prefix = root if root.endswith(os.sep) else root + os.sep
    return path.startswith(prefix)


def confined_path(
    path: str | os.PathLike[str], roots: Sequence[str | os.PathLike[str]]
) -> str | None:
    """The one path-confinement rule of scans (the API, the CLI and the worker all apply it).

    ``path`` (absolute, or relative to the working folder) is inside the library when its real
    location (every symlink followed) lies inside a root's real location: a symlink that points
    out of the library never lets a scan read elsewhere. Returns the path as the scan names its
    files — absolute, below the root as configured, through no symlink inside the library
    (``/music`` → ``/srv/music`` as root: ``/srv/music/A``, ``/music/A`` and ``/music/link-to-A``
    all give ``/music/A``) — or ``None`` when it lies outside every root.
    """
    rp = os.path.realpath(os.path.abspath(os.path.expanduser(os.fspath(path))))
    for root in normalise_roots(roots):
        real_root = os.path.realpath(root)
        if is_within(rp, real_root):
            rel = os.path.relpath(rp, real_root)
            return root if rel == "." else os.path.join(root, rel)
    return None


def check_paths_allowed(paths: Sequence[str | os.PathLike[str]], roots: Sequence[str]) -> list[str]:
    """Normalise explicit scan ``paths`` (:func:`confined_path`) and refuse any outside every
    root: :class:`PathNotAllowedError` naming the path and the roots."""
    roots_n = normalise_roots(roots)
    out = []
    for p in paths:
        inside = confined_path(p, roots_n)
        if inside is None:
            ap = os.path.abspath(os.path.expanduser(os.fspath(p)))
            raise PathNotAllowedError(
                f"path {ap!r} is outside the library roots {roots_n}; expected a path inside one "
                "of them (set SONICMAP_LIBRARY_ROOTS)"
            )
        out.append(inside)
    return normalise_roots(out)


def walk(
    paths: Sequence[str | os.PathLike[str]],
    *,
    roots: Sequence[str | os.PathLike[str]] | None = None,
) -> Iterator[FileEntry]:
    """Yield every audio file below ``paths`` (folders, or single files).

    Parameters
    ----------
    paths : folders or files to walk (absolute or relative; normalised).
    roots : the library roots that bound what may be read (default: ``paths`` themselves).
        Symlink targets are resolved and must lie inside one of the roots' resolved forms.

    Yields
    ------
    FileEntry, in no particular order. A root that does not exist raises ``FileNotFoundError``;
    unreadable sub-folders are logged and skipped.
    """
    starts = normalise_roots(paths)
    bound = normalise_roots(roots) if roots is not None else starts
    real_roots = [os.path.realpath(r) for r in bound]
    visited: set[tuple[int, int]] = set()

    def inside(real: str) -> bool:
        return any(is_within(real, r) for r in real_roots)

    stack: list[str] = []
    for start in starts:
        st = os.stat(start)  # FileNotFoundError for a missing root: the caller decides
        if stat.S_ISDIR(st.st_mode):
            stack.append(start)
        elif is_audio_name(start):
            yield _file_entry(start, st, os.path.islink(start), inside)

    while stack:
        folder = stack.pop()
        try:
            fst = os.stat(folder)
        except OSError as exc:
            log.warning("cannot stat folder path=%s error=%s", folder, exc)
            continue
        key = (fst.st_dev, fst.st_ino)
        if key in visited:
            log.debug("folder already walked (symlink loop or alias) path=%s", folder)
            continue
        visited.add(key)
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            log.warning("cannot list folder path=%s error=%s", folder, exc)
            continue
        subdirs: list[str] = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_link, is_dir = True, False
            if is_dir:
                if is_link and not inside(os.path.realpath(entry.path)):
                    log.warning("not following folder link outside the roots path=%s", entry.path)
                    continue
                subdirs.append(entry.path)
                continue
            if not is_audio_name(name):
                continue
            if is_link:
                real = os.path.realpath(entry.path)
                if not inside(real):
                    yield FileEntry(
                        entry.path, 0, 0.0, "symlink target is outside the library roots; not read"
                    )
                    continue
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError as exc:
                reason = "broken symlink" if is_link else (exc.strerror or str(exc))
                yield FileEntry(entry.path, 0, 0.0, reason)
                continue
            yield _file_entry(entry.path, st, False, inside)
        stack.extend(sorted(subdirs, reverse=True))


def _file_entry(
    path: str, st: os.stat_result, check_link: bool, inside: Callable[[str], bool]
) -> FileEntry:
    if check_link and not inside(os.path.realpath(path)):
        return FileEntry(path, 0, 0.0, "symlink target is outside the library roots; not read")
    if not stat.S_ISREG(st.st_mode):
        return FileEntry(path, 0, st.st_mtime, "not a regular file (FIFO, socket or device)")
    return FileEntry(path, st.st_size, st.st_mtime)


def content_fingerprint(path: str | os.PathLike[str]) -> str | None:
    """A hash of the encoded audio payload of ``path`` that ignores tags; ``None`` if undemuxable.

    The container is *demuxed* with PyAV (no decoding): the audio stream's codec name, sample
    rate and channel count, the number of packets, their total size, and the bytes of the packets
    (the first :data:`FINGERPRINT_MAX_HASHED_BYTES`) go into a BLAKE2b-128 digest. Tags live
    outside the audio packets in every supported container (ID3v2/ID3v1/APE around MP3 frames,
    Vorbis comments in Ogg/FLAC header blocks, MP4 ``udta``/``ilst`` atoms, WAV ``LIST``/``id3``
    chunks), so a tag edit keeps the fingerprint while any change of the audio changes it. Cost:
    a sequential read of the file (about 20 ms for a 3-minute MP3 here), done only for files that
    are new or changed.

    Returns ``"<version>:<32 hex digits>"``.
    """
    import av  # lazy: keeps walking free of the decoder import

    h = hashlib.blake2b(digest_size=16)
    try:
        with av.open(os.fspath(path), mode="r") as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            ctx = stream.codec_context
            h.update(f"{ctx.name}|{ctx.sample_rate}|{ctx.channels}|".encode())
            n = 0
            total = 0
            for packet in container.demux(stream):
                size = packet.size
                if not size:
                    continue
                n += 1
                if total < FINGERPRINT_MAX_HASHED_BYTES:
                    h.update(bytes(packet))
                total += size
    except Exception as exc:  # noqa: BLE001 - any demux failure means "no fingerprint"
        log.debug("no fingerprint path=%s error=%s", path, exc)
        return None
    if n == 0:
        return None
    h.update(f"|{n}|{total}".encode())
    return f"{FINGERPRINT_VERSION}:{h.hexdigest()}"


def scan_targets(
    library_roots: Sequence[Path | str], paths: Sequence[Path | str] | None
) -> tuple[list[str], list[str]]:
    """Decide what a scan walks and what bounds it: ``(walk_paths, roots)``.

    * no explicit ``paths``: walk every configured root;
    * explicit ``paths`` with roots configured: each must lie inside a root
      (:class:`PathNotAllowedError` otherwise); only they are walked;
    * explicit ``paths`` and no roots configured: the paths become the roots of this scan.
    Raises :class:`PathNotAllowedError` when there is nothing to scan at all.
    """
    roots = normalise_roots(library_roots)
    if paths:
        if roots:
            return check_paths_allowed(paths, roots), roots
        p = normalise_roots(paths)
        return p, p
    if not roots:
        raise PathNotAllowedError(
            "no library roots configured and no PATH given; expected SONICMAP_LIBRARY_ROOTS "
            "(':'-separated folders) or `sonicmap scan PATH`"
        )
    return roots, roots
