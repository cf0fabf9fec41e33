"""Tempo and key accuracy on the people-written set, sonicmap next to librosa, in one run.

    python bench/tempo_key.py [--cache DIR] [--half test|tune|all] [--jobs 2] [--failures]

The set (MMA grooves and Debian-shipped MIDI scores rendered with FluidSynth) is built once by
``bench/tempo_key_set.py``; figures are reported on its **test** half unless ``--half`` says
otherwise (estimators are tuned on the ``tune`` half only). Methods, on the same files:

* ``sonicmap`` — ``sonicmap.analysis.analyze_file`` (``bpm``, ``key``, ``mode``);
* ``librosa``  — ``librosa.load(sr=22050, mono)``; tempo from ``librosa.beat.beat_track``; key:
  Krumhansl–Schmuckler (Pearson correlation of the mean ``feature.chroma_cqt`` with the 24
  rotations of the Krumhansl–Kessler profiles). Its estimates are cached in the set's folder
  (keyed by librosa's version), as they do not change while sonicmap is tuned.

Metrics as MIREX / ``mir_eval``: tempo Accuracy1 (within 4 % of the truth), Accuracy2 (within
4 % of ×1, ×2, ×3, ½ or ⅓ of it); key: the weighted score (1 same key, 0.5 fifth, 0.3 relative,
0.2 parallel, 0 otherwise; ``mir_eval.key.weighted_score``), with the count of each error kind.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tempo_key_set import DEFAULT_CACHE, load  # noqa: E402

PITCH = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
KK = (
    (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
    (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
)


def run_sonicmap(path: str) -> tuple[float, str]:
    from sonicmap.analysis import analyze_file

    f = analyze_file(Path(path), tags=None).features
    return float(f["bpm"]), f"{f['key']} {f['mode']}"


def run_librosa(path: str) -> tuple[float, str]:
    import librosa
    import numpy as np

    y, sr = librosa.load(path, sr=22050, mono=True)
    tempo, _ = librosa.beat.beat_track(y=y, sr=sr)
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr).mean(axis=1)
    c = (chroma - chroma.mean()) / (np.linalg.norm(chroma - chroma.mean()) or 1.0)
    best = (-2.0, "C major")
    for m, prof in enumerate(KK):
        p = np.asarray(prof) - np.mean(prof)
        p /= np.linalg.norm(p)
        for k in range(12):
            r = float(np.roll(p, k) @ c)
            if r > best[0]:
                best = (r, f"{PITCH[k]} {('major', 'minor')[m]}")
    return float(np.atleast_1d(tempo)[0]), best[1]


def tempo_ok(est: float, ref: float, factors: tuple[float, ...]) -> bool:
    return est > 0 and any(abs(est - ref * f) <= 0.04 * ref * f for f in factors)


KEY_KINDS = {1.0: "same", 0.5: "fifth", 0.3: "relative", 0.2: "parallel", 0.0: "other"}


def score(clips: list[dict], est: dict[str, tuple[float, str]]) -> dict:
    import mir_eval

    a1 = [tempo_ok(est[c["id"]][0], c["bpm"], (1.0,)) for c in clips]
    a2 = [tempo_ok(est[c["id"]][0], c["bpm"], (1.0, 2.0, 3.0, 0.5, 1 / 3)) for c in clips]
    keyed = [c for c in clips if c["key"]]
    ks = [mir_eval.key.weighted_score(c["key"], est[c["id"]][1]) for c in keyed]
    kinds = {v: sum(1 for s in ks if abs(s - k) < 1e-9) for k, v in KEY_KINDS.items()}
    return {
        "n": len(clips),
        "acc1": sum(a1) / len(clips),
        "acc2": sum(a2) / len(clips),
        "n_key": len(keyed),
        "key": sum(ks) / len(ks) if ks else float("nan"),
        "kinds": kinds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--half", choices=("test", "tune", "all"), default="test")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--failures", action="store_true", help="list sonicmap's misses")
    ap.add_argument("--no-librosa", action="store_true", help="sonicmap only (tuning runs)")
    a = ap.parse_args()
    clips = [c for c in load(a.cache) if a.half == "all" or c["half"] == a.half]
    if not clips:
        sys.exit(f"no clips in {a.cache}: run bench/tempo_key_set.py first")
    paths = [c["path"] for c in clips]
    methods = {}
    with ProcessPoolExecutor(a.jobs) as ex:
        methods["sonicmap"] = dict(
            zip([c["id"] for c in clips], ex.map(run_sonicmap, paths), strict=True)
        )
        if not a.no_librosa:
            import librosa

            cache_file = a.cache / f"librosa-{librosa.__version__}.json"
            cached = json.loads(cache_file.read_text()) if cache_file.exists() else {}
            todo = [c for c in clips if c["id"] not in cached]
            for c, r in zip(todo, ex.map(run_librosa, [c["path"] for c in todo]), strict=True):
                cached[c["id"]] = list(r)
            if todo:
                cache_file.write_text(json.dumps(cached, indent=0))
            methods["librosa"] = {c["id"]: tuple(cached[c["id"]]) for c in clips}
    print(f"{a.half} half: {len(clips)} clips")
    print(
        "| method | tempo Acc1 | tempo Acc2 | key (MIREX) | same / fifth / relative / "
        "parallel / other |"
    )
    print("|---|---:|---:|---:|---|")
    for name, est in methods.items():
        s = score(clips, est)
        k = s["kinds"]
        print(
            f"| {name} | {s['acc1']:.3f} | {s['acc2']:.3f} | {s['key']:.3f} "
            f"| {k['same']} / {k['fifth']} / {k['relative']} / {k['parallel']} / {k['other']} "
            f"(of {s['n_key']}) |"
        )
    if a.failures:
        est = methods["sonicmap"]
        for c in clips:
            bpm, key = est[c["id"]]
            t_bad = not tempo_ok(bpm, c["bpm"], (1.0,))
            k_bad = c["key"] and key != c["key"]
            if t_bad or k_bad:
                print(
                    f"  {c['id']} ({c.get('groove', '')}): tempo {c['bpm']:.1f} → {bpm:.1f}"
                    f"{' *' if t_bad else ''}; key {c['key']} → {key}{' *' if k_bad else ''}"
                )


if __name__ == "__main__":
    main()
