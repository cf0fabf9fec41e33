"""Build the people-written tempo/key development set (rendered once, cached outside the repo).

    python bench/tempo_key_set.py [--cache DIR] [--jobs 2] [--seconds 30] [--install]

Two sources of music written by people, rendered with FluidSynth and the Fluid R3 GM soundfont
(Debian ``fluidsynth``, ``fluid-soundfont-gm``):

* **MMA grooves** (Debian ``mma``, Musical MIDI Accompaniment): one song per groove library file
  (``stdlib``, ``casio``, ``zoom``, ``yamaha``, ``kara``, ``pflib``, ``alexis``; the file's first
  groove that is not an intro, ending, fill or break), its patterns hand-written by the MMA
  authors; we choose the tempo, the key and the chords. Tempo: log-uniform in a range read from
  the groove's name (``slow``/``ballad``/``lullaby``/``hymn``… 60–100 BPM, ``fast``/``quick``/
  ``bebop``/``polka``… 140–200, waltzes 90–180, the rest 80–160). Key: the 24 keys in turn (a
  seeded shuffle), one of four progressions per mode (major: I–vi–IV–V, I–IV–I–V, I–ii7–V7–I,
  I–V–vi–IV; minor: i–iv–V7–i, i–VI–iv–V, i–VII–VI–V, i–iv–i–V7) repeated for ``--seconds``.
  Drum-only grooves (no chord, bass, walk, arpeggio, scale, plectrum, aria, solo or melody
  track: the whole ``zoom`` library) count for tempo only.
  Grooves in 5, 6/8 or 12/8 time and the metronomes are left out (their beat level is ambiguous).
  Where the groove's own documentation (its ``Begin Doc`` block, written by its author) tells,
  unconditionally, to double the tempo (``stdlib`` ``broadway``, ``bwmarch``, ``fastswing``,
  ``march``, ``merengue``, ``polka``, ``quickstep``, ``ragtime``, ``samba``, ``ska``: "a 2/4
  pattern written in 4", "really in 2/2 time but we notate with 4 chords/bar … so double the
  tempo!"), the notated quarter is the eighth of the music the pattern plays, and the truth is
  MMA's tempo / 2 (the song is rendered at the drawn tempo as before; only the reference
  follows the author's metre), unless that falls below 50 BPM (then the notated quarter stays).
* **MIDI scores shipped in Debian packages** (``MIDI_PACKAGES``, fetched with ``apt-get download``
  into the cache and unpacked with ``dpkg-deb -x``): tempo from the file's first tempo meta
  event, key from its first key-signature meta event. A file without a tempo event is skipped;
  one without a key signature counts for tempo only; compound metres (6/8, 6/4, 9/8, 12/8) are
  skipped. The excerpt starts at the first note and stops before ``--seconds`` or at the first
  tempo change of more than 1 % or key change, whichever comes first; excerpts under 20 s are
  skipped.

Every clip is rendered at 44.1 kHz stereo and stored as FLAC in ``--cache`` (default
``~/.cache/sonicmap-bench/tempo-key``) with ``manifest.json`` (clip, source, truth, half) and
``sources.txt`` (the Debian packages and versions used). A clip already rendered is not
rendered again. Half the groove library files and half the MIDI files (by a hash of their name,
so the variants of one file stay together) form the **tuning** half, the rest the **test** half:
estimators are tuned on the first, figures reported on the second (``bench/tempo_key.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

TOOLS = {"mma": "mma", "fluidsynth": "fluidsynth"}
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RENDER_PACKAGES = ("mma", "fluidsynth", "fluid-soundfont-gm")
MMA_LIB = Path("/usr/share/mma/lib")
MMA_LIBS = ("stdlib", "casio", "zoom", "yamaha", "kara", "pflib", "alexis")
MIDI_PACKAGES = ("openttd-openmsx",)
DEFAULT_CACHE = Path.home() / ".cache" / "sonicmap-bench" / "tempo-key"
SR = 44100
MIN_EXCERPT_S = 20.0
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# progressions as (semitones above the tonic, chord suffix) per bar
PROGRESSIONS = {
    "major": (
        ((0, ""), (9, "m"), (5, ""), (7, "")),
        ((0, ""), (5, ""), (0, ""), (7, "")),
        ((0, "maj7"), (2, "m7"), (7, "7"), (0, "maj7")),
        ((0, ""), (7, ""), (9, "m"), (5, "")),
    ),
    "minor": (
        ((0, "m"), (5, "m"), (7, "7"), (0, "m")),
        ((0, "m"), (8, ""), (5, "m"), (7, "")),
        ((0, "m"), (10, ""), (8, ""), (7, "")),
        ((0, "m"), (5, "m"), (0, "m"), (7, "7")),
    ),
}
SLOW = re.compile(r"slow|ballad|lullaby|hymn|spiritual|mellow|relax|blues$", re.I)
PITCHED = re.compile(
    r"^\s*(Begin\s+)?(Chord|Bass|Walk|Arpeggio|Scale|Plectrum|Aria|Solo|Melody)\b", re.M | re.I
)
"""A line that defines or sets a pitched MMA track (a file without one plays drums only)."""
DOUBLE_TEMPO = re.compile(r"double(?: up on)? the tempo", re.I)
"""A groove's documentation telling to double the tempo: its notated beat is half the music's."""
CONDITIONAL = re.compile(r"\bif you have\b", re.I)
FAST = re.compile(r"fast|quick|bebop|polka|jive|charleston|ska|dixie|bluegrass|march", re.I)


def missing_tools() -> list[str]:
    """Debian packages still needed to render the set (empty when everything is there)."""
    need = [pkg for pkg, tool in TOOLS.items() if shutil.which(tool) is None]
    if not SOUNDFONT.exists():
        need.append("fluid-soundfont-gm")
    return need


def ensure_tools(install: bool) -> None:
    need = missing_tools()
    if not need:
        return
    if not install:
        sys.exit(
            "missing: "
            + ", ".join(need)
            + "\ninstall with: apt-get install -y "
            + " ".join(need)
            + "\n(or run this script with --install, as root)"
        )
    subprocess.run(["apt-get", "install", "-y", "-q", *need], check=True)


def _half(group: str) -> str:
    return "tune" if hashlib.sha1(group.encode()).digest()[-1] % 2 == 0 else "test"


def _tempo_range(name: str, beats: int) -> tuple[float, float]:
    if SLOW.search(name):
        return 60.0, 100.0
    if FAST.search(name):
        return 140.0, 200.0
    if beats == 3:
        return 90.0, 180.0
    return 80.0, 160.0


def doubled_by_doc(text: str) -> bool:
    """True when the groove file's ``Begin Doc`` … ``End`` block tells, unconditionally, to
    double the tempo (see ``build``)."""
    m = re.search(r"^\s*Begin\s+Doc\b(.*?)^\s*End\b", text, re.S | re.I | re.M)
    doc = " ".join(m.group(1).split()) if m else ""
    return bool(DOUBLE_TEMPO.search(doc)) and not CONDITIONAL.search(doc)


def mma_grooves() -> list[tuple[str, Path, str, int, bool]]:
    """(group, library file, groove name, beats per bar, pitched) for one usable groove per
    file; ``pitched`` is False for the drum-only grooves (the ``zoom`` library), whose clips
    count for tempo only."""
    out = []
    for lib in MMA_LIBS:
        for f in sorted((MMA_LIB / lib).glob("*.mma")):
            text = f.read_text(errors="replace")
            times = re.findall(r"^\s*Time\s+(\d+)", text, re.M | re.I)
            beats = int(times[0]) if times else 4
            stem = f.stem.lower()
            if beats not in (2, 3, 4) or re.search(r"68|128|metronome|^none", stem):
                continue
            names = re.findall(r"^\s*DefGroove\s+(\S+)", text, re.M | re.I)
            main = [n for n in names if not re.search(r"intro|end|fill|break", n, re.I)]
            if main:
                out.append((f"mma:{lib}/{f.stem}", f, main[0], beats, bool(PITCHED.search(text))))
    return out


def mma_song(
    lib_file: Path,
    groove: str,
    bpm: float,
    tonic: int,
    mode: str,
    prog: int,
    beats: int,
    seconds: float,
) -> str:
    bars = max(8, math.ceil(seconds * bpm / 60.0 / beats))
    chords = PROGRESSIONS[mode][prog]
    lines = [f"Use {lib_file}", f"Tempo {bpm:.1f}", f"Groove {groove}"]
    for b in range(bars):
        step, suffix = chords[b % len(chords)]
        lines.append(f"{b + 1} {NAMES[(tonic + step) % 12]}{suffix}")
    return "\n".join(lines) + "\n"


def _vlq(b: bytes, i: int) -> tuple[int, int]:
    v = 0
    while True:
        c = b[i]
        i += 1
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            return v, i


def midi_meta(data: bytes) -> dict:
    """Tempo, key-signature and time-signature meta events and the first note of a MIDI file.

    Returns ``{"division": ticks per quarter, "tempo": [(tick, bpm)], "key": [(tick, sf, mi)],
    "time": [(tick, numerator, denominator)], "first_note": tick or None, "onsets": [(tick,
    velocity)]}`` (``first_note``: pitched notes only; ``onsets``: every note-on, drums too).
    """
    if data[:4] != b"MThd":
        raise ValueError("not a standard MIDI file")
    hlen, _fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    if division & 0x8000:
        raise ValueError("SMPTE time division")
    out: dict = {
        "division": division,
        "tempo": [],
        "key": [],
        "time": [],
        "first_note": None,
        "onsets": [],
    }
    i = 8 + hlen
    for _ in range(ntracks):
        if data[i : i + 4] != b"MTrk":
            break
        end = i + 8 + struct.unpack(">I", data[i + 4 : i + 8])[0]
        j, tick, status = i + 8, 0, 0
        while j < end:
            delta, j = _vlq(data, j)
            tick += delta
            c = data[j]
            if c == 0xFF:
                kind = data[j + 1]
                n, k = _vlq(data, j + 2)
                body, j = data[k : k + n], k + n
                if kind == 0x51 and n == 3:
                    out["tempo"].append((tick, 60e6 / int.from_bytes(body, "big")))
                elif kind == 0x59 and n == 2:
                    out["key"].append((tick, struct.unpack("b", body[:1])[0], body[1]))
                elif kind == 0x58 and n >= 2:
                    out["time"].append((tick, body[0], 2 ** body[1]))
            elif c in (0xF0, 0xF7):
                n, k = _vlq(data, j + 1)
                j = k + n
            else:
                if c & 0x80:
                    status, j = c, j + 1
                hi = status & 0xF0
                if hi == 0x90 and data[j + 1] > 0:
                    out["onsets"].append((tick, data[j + 1]))
                    if (status & 0x0F) != 9:
                        fn = out["first_note"]
                        out["first_note"] = tick if fn is None else min(fn, tick)
                j += 1 if hi in (0xC0, 0xD0) else 2
        i = end
    for k in ("tempo", "key", "time"):
        out[k].sort()
    return out


HALF_NOTE_TACTUS = 0.2
"""Velocity on beats 2 and 4 (relative to beats 1 and 3) below which the tactus is the half note."""


SLOWEST_TACTUS = 50.0


def tactus_factor(meta: dict, start_tick: int, stop_tick: int, bpm: float) -> float:
    """0.5 when the notated quarter note is not articulated in [start_tick, stop_tick), else 1.

    In duple metres (2 or 4 beats a bar), the velocities of every note-on (drums included) that
    falls within 1/20 of a quarter of a quarter-note position are summed separately for the
    odd quarters (beats 1 and 3) and the even ones (2 and 4). When the even quarters carry less
    than ``HALF_NOTE_TACTUS`` of the odd ones, nothing marks the quarter-note level: the music
    moves in half notes and a listener taps those (MMA's ``march`` groove says so in its own
    documentation: "the sequences assume 4 chords per bar, but most marches are in 2/4 time.
    So, double the tempo"). The truth is then the half-note tempo — unless that is below
    ``SLOWEST_TACTUS`` (the bottom of the tempo range sonicmap and the MIREX-style sets search),
    where the quarter note stays the beat (a slow hymn in half-note chords).
    """
    if any(num not in (2, 4) for _, num, _ in meta["time"]):
        return 1.0
    div, odd, even = meta["division"], 0.0, 0.0
    for tick, vel in meta["onsets"]:
        if not start_tick <= tick < stop_tick:
            continue
        q = tick / div
        if abs(q - round(q)) <= 0.05:
            if round(q) % 2 == 0:
                odd += vel
            else:
                even += vel
    half = odd > 0 and even < HALF_NOTE_TACTUS * odd and bpm / 2 >= SLOWEST_TACTUS
    return 0.5 if half else 1.0


def _tick_seconds(tempo: list[tuple[int, float]], division: int, tick: int) -> float:
    t, last_tick, bpm = 0.0, 0, tempo[0][1] if tempo else 120.0
    for tk, b in tempo:
        if tk >= tick:
            break
        t += (tk - last_tick) * 60.0 / (bpm * division)
        last_tick, bpm = tk, b
    return t + (tick - last_tick) * 60.0 / (bpm * division)


def midi_excerpt(meta: dict, seconds: float) -> dict | None:
    """Truth and excerpt bounds (s) of a MIDI file, or None when it is not usable (see module)."""
    if not meta["tempo"] or meta["first_note"] is None:
        return None
    if any(num % 3 == 0 and num > 3 for _, num, _ in meta["time"]):
        return None
    start_tick, div = meta["first_note"], meta["division"]
    before = [b for tk, b in meta["tempo"] if tk <= start_tick]
    bpm = before[-1] if before else meta["tempo"][0][1]
    start = _tick_seconds(meta["tempo"], div, start_tick)
    stop = start + seconds
    for tk, b in meta["tempo"]:
        if tk > start_tick and abs(b - bpm) > 0.01 * bpm:
            stop = min(stop, _tick_seconds(meta["tempo"], div, tk))
            break
    key = None
    keys = [(tk, sf, mi) for tk, sf, mi in meta["key"] if tk <= start_tick] or meta["key"][:1]
    if keys:
        _, sf, mi = keys[-1]
        tonic = (7 * sf) % 12 if mi == 0 else (7 * sf + 9) % 12
        key = f"{PITCH_CLASSES[tonic]} {'minor' if mi else 'major'}"
        for tk, sf2, mi2 in meta["key"]:
            if tk > start_tick and (sf2, mi2) != (sf, mi):
                stop = min(stop, _tick_seconds(meta["tempo"], div, tk))
                break
    if stop - start < MIN_EXCERPT_S:
        return None
    stop_tick = start_tick + int((stop - start) * bpm / 60.0 * div)
    factor = tactus_factor(meta, start_tick, stop_tick, bpm)
    return {
        "bpm": round(bpm * factor, 3),
        "bpm_notated": round(bpm, 3),
        "key": key,
        "start": start,
        "stop": stop,
    }


def fetch_packages(cache: Path) -> dict[str, str]:
    """apt-get download + dpkg-deb -x each of ``MIDI_PACKAGES`` into the cache; {package: version}."""
    debs, root = cache / "debs", cache / "packages"
    debs.mkdir(parents=True, exist_ok=True)
    versions = {}
    for pkg in MIDI_PACKAGES:
        found = sorted(debs.glob(f"{pkg}_*.deb"))
        if not found:
            subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True)
            found = sorted(debs.glob(f"{pkg}_*.deb"))
        deb = found[-1]
        versions[pkg] = deb.name.split("_")[1]
        dest = root / pkg
        if not dest.exists():
            tmp = root / f".{pkg}.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
            tmp.rename(dest)
    return versions


def _render(midi: Path, out: Path, start: float, stop: float) -> None:
    """FluidSynth render of ``midi`` cut to [start, stop] s, stored as 44.1 kHz FLAC."""
    import soundfile as sf

    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "render.wav"
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", str(SR), str(SOUNDFONT), str(midi)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        y, sr = sf.read(wav, dtype="float32", always_2d=True)
    y = y[int(start * sr) : int(stop * sr)]
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak > 0:
        y *= 0.9 / peak
    tmp = out.with_suffix(".tmp.flac")
    sf.write(tmp, y, sr, subtype="PCM_16")
    os.replace(tmp, out)


def plan(cache: Path, seconds: float, seed: int) -> list[dict]:
    """Every clip of the set with its truth (nothing rendered)."""
    rng = random.Random(seed)
    clips = []
    grooves = mma_grooves()
    keys = [(k, m) for m in ("major", "minor") for k in range(12)]
    order = []
    while len(order) < len(grooves):
        rng.shuffle(keys)
        order.extend(keys)
    for (group, f, groove, beats, pitched), (tonic, mode) in zip(grooves, order, strict=False):
        lo, hi = _tempo_range(f.stem + groove, beats)
        bpm = round(math.exp(rng.uniform(math.log(lo), math.log(hi))), 1)
        prog = rng.randrange(len(PROGRESSIONS[mode]))
        clips.append(
            {
                "id": re.sub(r"[^\w.-]", "_", group[4:]),
                "source": group,
                "groove": groove,
                "bpm": bpm,
                "beats": beats,
                "key": f"{PITCH_CLASSES[tonic]} {mode}" if pitched else None,
                "progression": prog,
                "song": mma_song(f, groove, bpm, tonic, mode, prog, beats, seconds),
                "doubled": doubled_by_doc(f.read_text(errors="replace")),
                "half": _half(group),
            }
        )
    for pkg in MIDI_PACKAGES:
        for f in sorted((cache / "packages" / pkg).rglob("*.mid")):
            try:
                ex = midi_excerpt(midi_meta(f.read_bytes()), seconds * 1.5)
            except (ValueError, IndexError):
                continue
            if ex is None:
                continue
            group = f"midi:{pkg}/{f.name}"
            clips.append(
                {
                    "id": f"{pkg}_{f.stem}",
                    "source": group,
                    "midi": str(f),
                    **ex,
                    "half": _half(group),
                }
            )
    return clips


def build(cache: Path, seconds: float, seed: int, jobs: int) -> list[dict]:
    audio, midis = cache / "audio", cache / "midi"
    audio.mkdir(parents=True, exist_ok=True)
    midis.mkdir(exist_ok=True)
    clips = plan(cache, seconds, seed)

    def one(c: dict) -> dict | None:
        out = audio / f"{c['id']}.flac"
        if "song" in c:
            midi = midis / f"{c['id']}.mid"
            if not midi.exists():
                with tempfile.TemporaryDirectory() as d:
                    song, tmp = Path(d) / "song.mma", Path(d) / "song.mid"
                    song.write_text(c["song"])
                    r = subprocess.run(["mma", "-f", str(tmp), str(song)], capture_output=True)
                    if r.returncode != 0 or not tmp.exists():
                        return None
                    shutil.move(tmp, midi)
            if c.pop("doubled") and c["bpm"] / 2 >= SLOWEST_TACTUS:
                factor, c["tactus"] = 0.5, "documented"
            else:
                factor = tactus_factor(midi_meta(midi.read_bytes()), 0, sys.maxsize, c["bpm"])
                c["tactus"] = "onsets" if factor != 1.0 else "notated"
            c["bpm_notated"], c["bpm"] = c["bpm"], round(c["bpm"] * factor, 3)
            if not out.exists():
                _render(midi, out, 0.0, 10_000.0)
        elif not out.exists():
            _render(Path(c["midi"]), out, c["start"], c["stop"])
        c = {k: v for k, v in c.items() if k not in ("song", "midi")}
        c["path"] = str(out.relative_to(cache))
        return c

    with ThreadPoolExecutor(jobs) as ex:  # each job waits on a subprocess
        done = [c for c in ex.map(one, clips) if c is not None]
    return done


def load(cache: Path = DEFAULT_CACHE) -> list[dict]:
    """The manifest's clips with absolute ``path``s (bench/tempo_key.py)."""
    clips = json.loads((cache / "manifest.json").read_text())["clips"]
    for c in clips:
        c["path"] = str(cache / c["path"])
    return clips


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--seconds", type=float, default=30.0, help="MMA song length (MIDI: ×1.5)")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--install", action="store_true", help="apt-get install what is missing")
    a = ap.parse_args()
    ensure_tools(a.install)
    a.cache.mkdir(parents=True, exist_ok=True)
    versions = fetch_packages(a.cache)
    for pkg in RENDER_PACKAGES:
        r = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True
        )
        versions[pkg] = r.stdout.strip() or "?"
    clips = build(a.cache, a.seconds, a.seed, a.jobs)
    (a.cache / "manifest.json").write_text(json.dumps({"seed": a.seed, "clips": clips}, indent=1))
    lines = [f"{pkg} {v}" for pkg, v in sorted(versions.items())]
    lines += [f"{c['id']}\t{c['source']}\t{c.get('groove', '')}" for c in clips]
    (a.cache / "sources.txt").write_text("\n".join(lines) + "\n")
    for half in ("tune", "test"):
        sel = [c for c in clips if c["half"] == half]
        n_key = sum(c["key"] is not None for c in sel)
        n_mma = sum(c["source"].startswith("mma:") for c in sel)
        print(
            f"{half}: {len(sel)} clips ({n_mma} MMA grooves, {len(sel) - n_mma} MIDI; "
            f"{n_key} with a key)"
        )
    print(f"cache: {a.cache}")


if __name__ == "__main__":
    main()
