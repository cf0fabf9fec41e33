"""The real-music development set: recorded game soundtracks shipped in Debian packages.

The audio is never committed: ``build`` fetches the packages with ``apt-get download``, unpacks
them with ``dpkg-deb -x`` into a cache folder outside the repository and writes the committed
manifest ``bench/realmusic_manifest.tsv`` (one row per track: artist, album, split, package,
version, path inside the package, bytes, duration). ``check`` verifies that the cached files
match the manifest; :func:`load` gives the tracks to the benches.

* **Artist** = the package (each ships one game's soundtrack, mostly by one composer or team).
* **Album** = the file's ``ALBUM`` tag when it has one (case and spacing folded), else its folder
  inside the package (the SuperTux soundtrack's world folders, MegaGlest's factions).
* Only recordings (Ogg Vorbis) of at least ``MIN_SECONDS``; at most ``MAX_PER_ARTIST`` tracks per
  artist (the first ones by a hash of the path, so a large soundtrack does not dominate).
* **Split** by artist, deterministic: artists ordered by track count (ties by name) are dealt
  alternately (ABBA) to the ``tune`` and ``test`` halves, so both halves hold similar counts.
  Weights and constants are chosen on ``tune`` only; figures are reported on ``test``.

Reserved for independent checks and never used here: asc-music, drascula-music,
hyperrogue-music, nexuiz-music, planetblupi-music-ogg, singularity-music, ufoai-music,
warzone2100-music and every wesnoth*-music.

Usage::

    python bench/realmusic.py build [--cache DIR]   # download, unpack, (re)write the manifest
    python bench/realmusic.py fetch [--cache DIR]   # download and unpack the manifest's packages
    python bench/realmusic.py check [--cache DIR]

The cache folder: ``--cache``, else ``$SONICMAP_BENCH_CACHE``, else
``$XDG_CACHE_HOME/sonicmap-bench`` (``~/.cache/sonicmap-bench``); the set lives in its
``realmusic/`` subfolder.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).with_name("realmusic_manifest.tsv")
MIN_SECONDS = 30.0
MAX_PER_ARTIST = 24
MIN_PER_ARTIST = 5

RESERVED = (
    "asc-music",
    "drascula-music",
    "hyperrogue-music",
    "nexuiz-music",
    "planetblupi-music-ogg",
    "singularity-music",
    "ufoai-music",
    "warzone2100-music",
    "wesnoth*-music",
)

# package → glob patterns (fnmatch, relative to the unpacked package root) of its music files
PACKAGES: dict[str, tuple[str, ...]] = {
    "ardentryst": ("usr/share/games/ardentryst/Music/*.ogg",),
    "btanks-data": ("usr/share/games/btanks/data/tunes/*.ogg",),
    "colobot-common-sounds": ("usr/share/games/colobot/music/*.ogg",),
    "extremetuxracer-data": ("usr/share/games/etr/music/*.ogg",),
    "fillets-ng-data": ("usr/share/games/fillets-ng/music/*.ogg",),
    "flare-game": ("usr/share/games/flare/mods/fantasycore/music/*.ogg",),
    "freedroidrpg-data": ("usr/share/freedroidrpg/data/sound/music/*.ogg",),
    "hedgewars-data": ("usr/share/games/hedgewars/Data/Music/*.ogg",),
    "marsshooter-data": ("usr/share/games/marsshooter/audio/music/*.ogg",),
    "megaglest-data": ("usr/share/games/megaglest/*/music/*.ogg",),
    "naev-data": ("usr/share/naev/dat/snd/music/*.ogg",),
    "openclonk-data": ("usr/share/games/openclonk/Music.ocg/*.ogg",),
    "pushover-data": ("usr/share/pushover/themes/*.ogg",),
    "supertux-data": ("usr/share/games/supertux2/music/*/*.ogg",),
    "warmux-data": ("usr/share/games/warmux/music/*/*.ogg",),
    "xmoto-data": ("usr/share/games/xmoto/Textures/Musics/*.ogg",),
}


@dataclass(frozen=True)
class Track:
    artist: str
    album: str
    split: str
    package: str
    version: str
    path: str  # inside the unpacked package
    bytes: int
    duration_s: float

    @property
    def key(self) -> str:
        """A stable id of the track (package and path)."""
        return f"{self.package}/{self.path}"

    def file(self, cache: Path) -> Path:
        return set_dir(cache) / "unpacked" / self.package / self.path


def cache_dir(arg: str | None = None) -> Path:
    """The bench cache folder (see the module docstring)."""
    if arg:
        return Path(arg).expanduser()
    env = os.environ.get("SONICMAP_BENCH_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sonicmap-bench"


def set_dir(cache: Path) -> Path:
    return cache / "realmusic"


def _reserved(package: str) -> bool:
    return any(fnmatch.fnmatch(package, pat) for pat in RESERVED)


def _deb_version(deb: Path) -> str:
    out = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def fetch(cache: Path, packages: list[str]) -> dict[str, str]:
    """Download (``apt-get download``) and unpack (``dpkg-deb -x``) ``packages``; their versions."""
    debs = set_dir(cache) / "debs"
    unpacked = set_dir(cache) / "unpacked"
    debs.mkdir(parents=True, exist_ok=True)
    unpacked.mkdir(parents=True, exist_ok=True)
    versions: dict[str, str] = {}
    for pkg in packages:
        if _reserved(pkg):
            raise SystemExit(f"{pkg} is reserved for independent checks")
        have = sorted(debs.glob(f"{pkg}_*.deb"))
        if not have:
            print(f"downloading {pkg}", file=sys.stderr)
            subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True)
            have = sorted(debs.glob(f"{pkg}_*.deb"))
        deb = have[-1]
        versions[pkg] = _deb_version(deb)
        dest = unpacked / pkg
        stamp = dest / ".version"
        if not (stamp.exists() and stamp.read_text() == versions[pkg]):
            shutil.rmtree(dest, ignore_errors=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
            stamp.write_text(versions[pkg])
    return versions


def _duration(path: Path) -> float:
    import mutagen

    m = mutagen.File(str(path))
    return float(m.info.length) if m is not None else 0.0


def _album(path: Path, rel: str) -> str:
    import mutagen

    m = mutagen.File(str(path))
    tags = getattr(m, "tags", None) or {}
    album = tags.get("album") if hasattr(tags, "get") else None
    name = " ".join(str(album[0]).split()).lower() if album else ""
    if name and name not in ("n/a", "unknown"):
        return name
    return Path(rel).parent.as_posix()


def _split(counts: dict[str, int]) -> dict[str, str]:
    order = sorted(counts, key=lambda a: (-counts[a], a))
    # ABBA dealing: 0 → tune, 1 → test, 2 → test, 3 → tune, ...
    return {a: ("tune" if (i % 4) in (0, 3) else "test") for i, a in enumerate(order)}


def build(cache: Path) -> list[Track]:
    versions = fetch(cache, sorted(PACKAGES))
    rows: list[dict] = []
    for pkg, patterns in sorted(PACKAGES.items()):
        root = set_dir(cache) / "unpacked" / pkg
        found = []
        for f in sorted(root.rglob("*")):
            rel = f.relative_to(root).as_posix()
            if f.is_file() and any(fnmatch.fnmatch(rel, p) for p in patterns):
                dur = _duration(f)
                if dur >= MIN_SECONDS:
                    found.append((hashlib.sha1(rel.encode()).hexdigest(), rel, f, dur))
        found.sort()
        for _, rel, f, dur in found[:MAX_PER_ARTIST]:
            rows.append(
                {
                    "artist": pkg,
                    "album": _album(f, rel),
                    "package": pkg,
                    "version": versions[pkg],
                    "path": rel,
                    "bytes": f.stat().st_size,
                    "duration_s": round(dur, 2),
                }
            )
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["artist"]] = counts.get(r["artist"], 0) + 1
    keep = {a for a, n in counts.items() if n >= MIN_PER_ARTIST}
    split = _split({a: counts[a] for a in keep})
    tracks = [
        Track(split=split[r["artist"]], **r)  # type: ignore[arg-type]
        for r in rows
        if r["artist"] in keep
    ]
    tracks.sort(key=lambda t: (t.artist, t.path))
    write_manifest(tracks)
    return tracks


FIELDS = ("artist", "album", "split", "package", "version", "path", "bytes", "duration_s")


def write_manifest(tracks: list[Track], path: Path = MANIFEST) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(FIELDS)
        for t in tracks:
            w.writerow([getattr(t, k) for k in FIELDS])


def load(path: Path = MANIFEST) -> list[Track]:
    """The tracks of the committed manifest."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [
        Track(
            artist=r["artist"],
            album=r["album"],
            split=r["split"],
            package=r["package"],
            version=r["version"],
            path=r["path"],
            bytes=int(r["bytes"]),
            duration_s=float(r["duration_s"]),
        )
        for r in rows
    ]


def check(cache: Path, tracks: list[Track]) -> list[str]:
    """Problems with the cached files (missing, other size); empty when the set is complete."""
    bad = []
    for t in tracks:
        f = t.file(cache)
        if not f.is_file():
            bad.append(f"missing {t.key}")
        elif f.stat().st_size != t.bytes:
            bad.append(f"size differs {t.key}")
    return bad


def ensure(cache: Path) -> list[Track]:
    """The manifest's tracks, fetching the packages when files are missing."""
    tracks = load()
    if check(cache, tracks):
        versions = fetch(cache, sorted({t.package for t in tracks}))
        for t in tracks:
            if versions.get(t.package) != t.version:
                print(
                    f"warning: {t.package} {versions.get(t.package)} differs from the manifest's "
                    f"{t.version}",
                    file=sys.stderr,
                )
                break
        problems = check(cache, tracks)
        if problems:
            raise SystemExit("real-music set incomplete:\n" + "\n".join(problems[:20]))
    return tracks


def summary(tracks: list[Track]) -> str:
    lines = []
    for split in ("tune", "test"):
        sub = [t for t in tracks if t.split == split]
        artists = sorted({t.artist for t in sub})
        hours = sum(t.duration_s for t in sub) / 3600
        lines.append(
            f"{split}: {len(sub)} tracks, {len(artists)} artists, "
            f"{len({(t.artist, t.album) for t in sub})} albums, {hours:.1f} h: {', '.join(artists)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("command", choices=("build", "fetch", "check"))
    ap.add_argument("--cache", help="cache folder (default: $SONICMAP_BENCH_CACHE or ~/.cache)")
    args = ap.parse_args(argv)
    cache = cache_dir(args.cache)
    if args.command == "build":
        tracks = build(cache)
    elif args.command == "fetch":
        tracks = ensure(cache)
    else:
        tracks = load()
        problems = check(cache, tracks)
        if problems:
            print("\n".join(problems))
            return 1
    print(summary(tracks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
