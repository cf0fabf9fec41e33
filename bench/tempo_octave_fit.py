"""Fit the tempo octave decision's weights (``tempo.OCTAVE_WEIGHTS``) on the tuning half.

    python bench/tempo_octave_fit.py [--cache DIR] [--lam 0.1]

For every clip of the **tuning** half of the people-written set (``bench/tempo_key_set.py``) the
onset envelopes sonicmap computes are captured once (cached beside the set, ``envelopes/``);
``tempo.tempo_octave_candidates`` gives the candidates (the salience-based estimate × ½, ⅔, 1,
3⁄2, 2) and their 10 features. A linear score w·x is fitted by multinomial logistic regression
(softmax over a clip's candidates, the target spread evenly over the candidates within 4 % of the
truth; clips with none are left out; features standardised; L2 penalty ``--lam``; 3,000 steps of
gradient descent from zero, so the result is deterministic). ``--lam 0.1`` is the best
tuning-half Accuracy1 among 0.01, 0.1 and 0.3 that keeps the generated-set regression tests
(``tests/unit/analysis/test_accuracy.py``) passing; 0.01 fits the tuning half a little better but
drops one generated seed below 0.90. The weights are printed in raw
feature units (w / σ: the standardisation's offset adds the same to every candidate and does not
change the argmax), ready for ``OCTAVE_WEIGHTS``, with Accuracy1 on the tuning half before and
after. The test half is never read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tempo_key_set import DEFAULT_CACHE, load  # noqa: E402


def envelopes(path: str, cache: Path) -> tuple[np.ndarray, np.ndarray | None, float]:
    """(onset, bass onset or None, fps) of a clip as ``analyze_file`` hands them to the tempo
    estimate; cached as ``cache/<clip>.npz``."""
    out = cache / (Path(path).stem + ".npz")
    if not out.exists():
        from sonicmap.analysis import analyze_file, tempo

        seen = {}
        real = tempo.estimate_tempo

        def spy(onset, fps, **kw):
            seen.update(onset=np.asarray(onset), fps=fps, bass=kw.get("low_onset"))
            return real(onset, fps, **kw)

        tempo.estimate_tempo = spy
        try:
            analyze_file(Path(path), tags=None)
        finally:
            tempo.estimate_tempo = real
        bass = seen["bass"] if seen["bass"] is not None else np.zeros(0)
        np.savez(out, onset=seen["onset"], bass=bass, fps=seen["fps"])
    d = np.load(out)
    return d["onset"], (d["bass"] if d["bass"].size else None), float(d["fps"])


def within(est: float, ref: float) -> bool:
    return abs(est - ref) <= 0.04 * ref


def fit(data: list[tuple[np.ndarray, np.ndarray]], lam: float, steps: int = 3000) -> np.ndarray:
    """Raw-unit weights of the softmax regression over (features [k, 12], target [k]) pairs."""
    x_all = np.concatenate([x for x, _ in data])
    mu, sd = x_all.mean(axis=0), x_all.std(axis=0) + 1e-9
    train = [((x - mu) / sd, y / y.sum()) for x, y in data if y.any()]
    w = np.zeros(x_all.shape[1])
    for _ in range(steps):
        g = lam * w
        for z, t in train:
            s = z @ w
            p = np.exp(s - s.max())
            g += z.T @ (p / p.sum() - t) / len(train)
        w -= 0.1 * g
    return w / sd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--lam", type=float, default=0.1)
    a = ap.parse_args()
    from sonicmap.analysis import tempo

    env_dir = a.cache / "envelopes"
    env_dir.mkdir(exist_ok=True)
    rows = []
    for c in load(a.cache):
        if c["half"] != "tune":
            continue
        onset, bass, fps = envelopes(c["path"], env_dir)
        cands, feats = tempo.tempo_octave_candidates(onset, fps, low_onset=bass)
        if cands.size:
            rows.append((c["bpm"], cands, feats))
    data = [(x, np.array([within(b, ref) for b in cands], dtype=float)) for ref, cands, x in rows]
    w = fit(data, a.lam)
    # the estimate itself is the candidate whose last feature ("differs from the estimate") is 0
    before = np.mean([within(cands[int(np.argmin(x[:, -1]))], ref) for ref, cands, x in rows])
    after = np.mean([within(cands[int(np.argmax(x @ w))], ref) for ref, cands, x in rows])
    print(
        f"tuning half: {len(rows)} clips; Accuracy1 of the salience estimate {before:.3f}, "
        f"after the octave decision {after:.3f}"
    )
    print("OCTAVE_WEIGHTS = np.array([" + ", ".join(f"{v:.4f}" for v in w) + "])")


if __name__ == "__main__":
    main()
