"""Helpers of the scan tests: generated libraries, configs, CLI runner (imported by name)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonicmap.config import AppConfig, GmmConfig, Settings

FORMATS = ("wav", "flac", "mp3", "ogg", "opus", "m4a", "aiff")
SR = 22050


def tone(seed: int, duration_s: float, *, sr: int = SR) -> np.ndarray:
    """A short, distinct signal per seed: two partials + a little noise + clicks.

    Returns ``np.ndarray [shape=(2, n), float32]`` in [-1, 1] (stereo: the native Vorbis
    encoder of FFmpeg takes only stereo).
    """
    rng = np.random.default_rng(seed)
    n = int(duration_s * sr)
    t = np.arange(n, dtype=np.float32) / sr
    f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
    y = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.15 * np.sin(2 * np.pi * 1.5 * f0 * t)
    y += 0.05 * rng.standard_normal(n)
    period = int(sr * 60 / rng.uniform(70, 170))
    y[::period] += 0.5
    y = np.clip(y, -1, 1).astype(np.float32)
    return np.stack([y, 0.8 * y])


def write_track(path: Path, seed: int, duration_s: float, **tags: object) -> Path:
    from sonicmap.synth.writer import write_audio

    return write_audio(path, tone(seed, duration_s), SR, tags=tags or None)


@dataclass
class Library:
    root: Path
    good: list[Path]
    bad: dict[Path, str]  # path -> expected fragment of the failure reason
    outside: Path  # a folder outside the root that must never be read


def generate_library(
    base: Path,
    *,
    n_files: int,
    duration_s: float,
    formats: tuple[str, ...] = FORMATS,
    bad: bool = True,
) -> Library:
    root = base / "lib"
    outside = base / "outside"
    good: list[Path] = []
    n_artists = max(2, n_files // 8)
    for i in range(n_files):
        a = i % n_artists
        ext = formats[i % len(formats)]
        artist = f"Artist {a:02d}" if a % 5 else f"Ärtïst Ünïcødé {a:02d}"
        name = f"{i:03d} track {i}.{ext}" if i % 7 else f"{i:03d} mélodie ✓ {i}.{ext}"
        path = root / artist / f"Album {a % 3}" / name
        write_track(
            path,
            seed=1000 + i,
            duration_s=duration_s,
            title=f"Track {i}",
            artist=artist if i % 11 else artist.lower() + " ",  # same artist, other spelling
            album=f"Album {a % 3}",
            genre=["electronic", "rock", "jazz"][a % 3],
        )
        good.append(path)
    outside.mkdir(parents=True, exist_ok=True)
    write_track(outside / "secret.mp3", seed=7, duration_s=duration_s, artist="Outside")
    if not bad:
        return Library(root, good, {}, outside)
    bad_files: dict[Path, str] = {}
    junk = root / "Junk"
    junk.mkdir(parents=True, exist_ok=True)
    (junk / "zero.mp3").write_bytes(b"")
    bad_files[junk / "zero.mp3"] = "empty"
    rng = np.random.default_rng(3)
    (junk / "random bytes.flac").write_bytes(rng.integers(0, 256, 40_000, dtype=np.uint8).tobytes())
    bad_files[junk / "random bytes.flac"] = ""
    (junk / "notes.ogg").write_text("this is a text file with the wrong extension\n" * 50)
    bad_files[junk / "notes.ogg"] = ""
    good_mp3 = next(p for p in good if p.suffix == ".mp3")
    data = good_mp3.read_bytes()
    (junk / "truncated header.m4a").write_bytes(data[:300])
    bad_files[junk / "truncated header.m4a"] = ""
    unreadable = junk / "unreadable.wav"
    shutil.copy(next(p for p in good if p.suffix == ".wav"), unreadable)
    unreadable.chmod(0)
    bad_files[unreadable] = "ermission denied"
    os.mkfifo(junk / "pipe.mp3")
    bad_files[junk / "pipe.mp3"] = "not a regular file"
    (junk / "broken link.flac").symlink_to(junk / "does not exist.flac")
    bad_files[junk / "broken link.flac"] = "broken symlink"
    (junk / "leak.mp3").symlink_to(outside / "secret.mp3")
    bad_files[junk / "leak.mp3"] = "outside the library roots"
    (junk / "loop").symlink_to(root)  # symlink loop: must not recurse
    (root / ".hidden").mkdir()
    write_track(root / ".hidden" / "hidden.wav", seed=9, duration_s=1.0)  # skipped, not failed
    return Library(root, good, bad_files, outside)


def copy_library(lib: Library, dest: Path) -> Library:
    """Copy a generated library (symlinks, FIFOs and modes preserved; links re-pointed)."""

    def moved(p: Path) -> Path:
        return dest / p.relative_to(lib.root.parent)

    def ignore_special(src: str, names: list[str]) -> list[str]:
        return [n for n in names if Path(src, n).is_fifo()]

    shutil.copytree(lib.root.parent, dest, symlinks=True, ignore=ignore_special)
    for p in lib.bad:
        q = moved(p)
        if p.is_fifo():
            os.mkfifo(q)
        elif q.is_symlink():
            target = os.readlink(q)
            if os.path.isabs(target) and target.startswith(str(lib.root.parent)):
                q.unlink()
                q.symlink_to(dest / Path(target).relative_to(lib.root.parent))
    loop = moved(lib.root / "Junk" / "loop")
    if loop.is_symlink():
        loop.unlink()
        loop.symlink_to(moved(lib.root))
    return Library(
        moved(lib.root),
        [moved(p) for p in lib.good],
        {moved(p): r for p, r in lib.bad.items()},
        moved(lib.outside),
    )


def make_config(
    roots: list[Path],
    db_url: str,
    *,
    batch_size: int = 500,
    jobs: int = 1,
    data_dir: Path | None = None,
) -> AppConfig:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        library_roots=roots,
        database_url=db_url,
        jobs=jobs,
        data_dir=data_dir or roots[0].parent / "data",
        broker_url=None,
    )
    gmm = GmmConfig.model_validate({"gmm_clustering": {"auto_queue": {"batch_size": batch_size}}})
    return AppConfig(settings=settings, gmm=gmm)


def cli_env(root: Path, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONICMAP_")}
    env.update(
        SONICMAP_LIBRARY_ROOTS=str(root),
        SONICMAP_DATABASE_URL=db_url,
        SONICMAP_DATA_DIR=str(root.parent / "data"),
        SONICMAP_LOG_LEVEL="INFO",
        **extra,
    )
    return env


def sonicmap_cmd(*args: str, drop_dac: bool = False) -> list[str]:
    """The CLI command line; with ``drop_dac`` as root, without the capabilities that let root
    read files whose permissions forbid it (so an unreadable file is unreadable, as for users)."""
    cmd = [str(Path(sys.executable).parent / "sonicmap"), *args]
    if drop_dac and os.geteuid() == 0 and shutil.which("setpriv"):
        caps = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--", *cmd]
    return cmd


def run_cli(
    *args: str, env: dict[str, str], drop_dac: bool = False, timeout: float = 240
) -> subprocess.CompletedProcess:
    return subprocess.run(
        sonicmap_cmd(*args, drop_dac=drop_dac),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
