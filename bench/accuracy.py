"""Tempo and key accuracy on the generated ground-truth set, per seed (held-out seeds included).

Each seed generates the set of ``tests/unit/analysis/groundtruth.py`` (48 clips of 15 s by
default: tempi log-spread over 60-190 BPM, a third without drums, all 24 keys, ten timbres, six
formats) and analyses it with ``sonicmap.analysis.analyze_file``. MIREX definitions as
``mir_eval``: tempo Accuracy1 (±4 %), Accuracy2 (also ×2, ×3, ½, ⅓), key weighted score.
``--time-tempo`` also times the tempo estimate alone on the onset envelopes of a 3-minute track.

    python bench/accuracy.py [--seeds 7 2026 1 42 99] [--n 48] [--jobs 2] [--failures]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_seed(seed: int, n: int, duration_s: float) -> dict:
    from tests.unit.analysis.groundtruth import evaluate, generate

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        r = evaluate(generate(Path(d), n=n, duration_s=duration_s, seed=seed))
    r["seed"], r["seconds"] = seed, time.perf_counter() - t0
    return r


def time_tempo(repeat: int = 20) -> float:
    """Mean seconds of ``tempo.estimate_tempo`` on the envelopes of a 3-minute rendered track."""
    import numpy as np

    from sonicmap.analysis import analyze_file, tempo
    from sonicmap.synth import Style, render, write_audio

    seen: list[tuple] = []
    real = tempo.estimate_tempo

    def spy(onset, fps, **kw):
        seen.append((onset, fps, kw))
        return real(onset, fps, **kw)

    with tempfile.TemporaryDirectory() as d:
        y = render(Style(bpm=128.0, drums="breakbeat"), duration_s=180.0, sr=44100, seed=1)
        p = write_audio(Path(d) / "track.wav", y, 44100)
        tempo.estimate_tempo = spy
        try:
            analyze_file(p, tags=None)
        finally:
            tempo.estimate_tempo = real
    onset, fps, kw = seen[0]
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        real(np.asarray(onset), fps, **kw)
        t.append(time.perf_counter() - t0)
    return float(np.median(t))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 2026, 1, 42, 99])
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--failures", action="store_true", help="list the clips that miss")
    ap.add_argument("--time-tempo", action="store_true")
    a = ap.parse_args()
    print("| seed | tempo Acc1 | tempo Acc2 | key (MIREX) | time |")
    print("|---:|---:|---:|---:|---:|")
    tot = {"acc1": 0.0, "acc2": 0.0, "key": 0.0}
    with ProcessPoolExecutor(a.jobs) as ex:
        futs = [ex.submit(run_seed, s, a.n, a.duration) for s in a.seeds]
        for f in futs:
            r = f.result()
            for k in tot:
                tot[k] += r[k] / len(a.seeds)
            print(
                f"| {r['seed']} | {r['acc1']:.3f} | {r['acc2']:.3f} | {r['key']:.3f} "
                f"| {r['seconds']:.0f} s |",
                flush=True,
            )
            if a.failures:
                for row in r["rows"]:
                    if not row[5] or row[9] < 1:
                        name, drums, timbre, bpm, est, _, ok2, ref, est_key, _ = row
                        print(
                            f"|  | {name} {drums} {timbre}: {bpm:.1f} → {est:.1f} BPM"
                            f"{'' if ok2 else ' (not ×2 ×3 ½ ⅓)'}; {ref} → {est_key} |  |  |  |"
                        )
    print(f"| mean | {tot['acc1']:.3f} | {tot['acc2']:.3f} | {tot['key']:.3f} |  |")
    if a.time_tempo:
        print(f"estimate_tempo on a 3-minute track: {1000 * time_tempo():.1f} ms")


if __name__ == "__main__":
    main()
