"""Real processes: SIGKILL during training, two trainings at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gmmdb import add_artists
from sqlalchemy import func, select

from sonicmap.clustering.synthetic import correlated_mixture
from sonicmap.pipeline import clustering as pc
from sonicmap.store.schema import ArtistCluster, GmmModel

# Child: train with a progress hook that reports its stage on stdout and may sleep in one.
CHILD = r"""
import sys, time
from sonicmap.store.db import open_store
from sonicmap.pipeline import clustering as pc
from gmmdb import make_cfg

url, stage, pause, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
store = open_store(url, check=False, init_if_new=False)

def progress(name, info):
    print(name, flush=True)
    if name == stage:
        time.sleep(pause)

res = pc.train(store, make_cfg(), force=True, seed=seed, n_components=3, progress=progress)
print("done", res.model_id, flush=True)
"""


def _spawn(tmp_path: Path, url: str, stage: str, pause: float, seed: int) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, str(script), url, stage, str(pause), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(proc: subprocess.Popen, word: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"child ended before {word!r}: {proc.stderr.read()[-2000:]}")
        if line.split()[0] == word:
            return
    raise AssertionError(f"child did not reach {word!r}")


def _state(store) -> tuple[list[tuple[int, str]], dict[int, int]]:
    # a read session: a write session would queue behind the paused child's write lock
    with store.read_session() as s:
        models = [
            tuple(r) for r in s.execute(select(GmmModel.id, GmmModel.status).order_by(GmmModel.id))
        ]
        counts = dict(
            s.execute(
                select(ArtistCluster.model_id, func.count()).group_by(ArtistCluster.model_id)
            ).all()
        )
    return models, counts


@pytest.mark.slow
def test_sigkill_during_training_keeps_previous_model(store, cfg, db_url, tmp_path) -> None:
    X, _ = correlated_mixture(6000, 3, seed=1)  # > one assignment batch
    add_artists(store, X)
    first = pc.train(store, cfg, n_components=3).model_id
    child = _spawn(tmp_path, db_url, "assignments", 60.0, 5)
    try:
        _wait_for(child, "assignments")  # inside the write transaction, first batch written
        models, _ = _state(store)
        assert (first, "active") in models and any(st == "training" for _, st in models)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    models, counts = _state(store)
    killed = [m for m, st in models if st == "training"]
    assert len(killed) == 1 and (first, "active") in models
    assert counts == {first: 6000}  # the half-written assignments were rolled back
    # The next training marks the dead row failed, then trains normally.
    nxt = pc.train(store, cfg, n_components=3, force=True, now=datetime.now(UTC)).model_id
    models, counts = _state(store)
    assert dict(models) == {first: "archived", killed[0]: "failed", nxt: "active"}
    assert counts == {first: 6000, nxt: 6000}


@pytest.mark.slow
def test_two_concurrent_trainings_leave_one_active_model(store, cfg, db_url, tmp_path) -> None:
    X, _ = correlated_mixture(600, 3, seed=2)
    add_artists(store, X)
    first = pc.train(store, cfg, n_components=3).model_id
    # Both children pause after reading, so both fit against the same active model and then
    # race to write and switch.
    kids = [_spawn(tmp_path, db_url, "fitting", 1.5, seed) for seed in (1, 2)]
    outs = [k.communicate(timeout=120) for k in kids]
    for k, (out, err) in zip(kids, outs, strict=True):
        assert k.returncode == 0, err[-2000:]
        assert "done" in out
    models, counts = _state(store)
    status = dict(models)
    assert list(status.values()).count("active") == 1
    assert sorted(status.values()) == ["active", "archived", "archived"]
    assert status[first] == "archived"
    assert all(counts[m] == 600 for m in status)
    with store.session() as s:
        assert s.scalar(select(func.count()).where(GmmModel.active_flag.is_(True))) == 1
