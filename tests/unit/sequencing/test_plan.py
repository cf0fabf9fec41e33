"""Path and mix planners: the rules hold for any library (hypothesis), and paths are smooth."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonicmap.sequencing import Pool, plan_mix, plan_path, waypoints
from sonicmap.sequencing.pool import NONE


@st.composite
def libraries(draw: st.DrawFn) -> Pool:
    """Small libraries: 1-40 tracks in 1-6 artists (single-artist ones included), a few albums,
    some duplicate recordings, vectors in a low dimension (ties and near-ties likely)."""
    n = draw(st.integers(1, 40))
    dim = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_artists = draw(st.integers(1, 6))
    artist = rng.integers(0, n_artists, n)
    album = artist * 10 + rng.integers(0, 3, n)
    recording = np.where(rng.random(n) < 0.2, rng.integers(0, 5, n), NONE)
    vectors = rng.normal(size=(n, dim))
    if draw(st.booleans()):
        vectors = np.round(vectors)  # many identical vectors
        vectors[np.all(vectors == 0, axis=1), 0] = 1.0
    return Pool(np.arange(100, 100 + n), vectors, artist, album, recording)


caps_st = st.one_of(st.none(), st.integers(1, 4))


def check_rules(pool: Pool, rows: list[int], max_a: int | None, max_b: int | None, forced: int):
    """No track or recording twice; caps hold except for the first ``forced`` rows' excess."""
    rec = pool.recording_keys()
    assert len(set(rows)) == len(rows)
    middle = rows[1:-1] if forced == 2 else rows
    seen = Counter(int(rec[r]) for r in rows)
    assert all(seen[int(rec[r])] == 1 for r in middle)
    for col, cap in ((pool.artist, max_a), (pool.album, max_b)):
        if cap is None:
            continue
        counts = Counter(int(col[r]) for r in rows)
        for r in middle:
            forced_n = sum(int(col[e]) == int(col[r]) for e in (rows[0], rows[-1])) if forced else 0
            assert counts[int(col[r])] <= max(cap, forced_n)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(libraries(), st.data(), st.integers(2, 30), caps_st, caps_st)
def test_path_rules_hold_for_any_library(pool, data, count, max_a, max_b) -> None:
    n = len(pool)
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(0, n - 1))
    plan = plan_path(pool, start, end, count, max_per_artist=max_a, max_per_album=max_b)
    rows = plan.rows.tolist()
    assert rows[0] == start and rows[-1] == end
    if start == end:
        assert rows == [start]
        return
    assert 2 <= len(rows) <= count
    check_rules(pool, rows, max_a, max_b, forced=2)
    # shorter than asked only if no other eligible track could have been added
    if len(rows) < count:
        rec = pool.recording_keys()
        used = {int(rec[r]) for r in rows}
        spare = [i for i in range(n) if int(rec[i]) not in used]
        for i in spare:
            extra = rows[:-1] + [i] + rows[-1:]
            ok = True
            for col, cap in ((pool.artist, max_a), (pool.album, max_b)):
                if cap is not None:
                    c = Counter(int(col[r]) for r in extra)
                    ends = sum(int(col[e]) == int(col[i]) for e in (start, end))
                    ok &= c[int(col[i])] <= max(cap, ends)
            assert not ok, f"track row {i} could have been added"
    assert plan.distances[0] == pytest.approx(0.0, abs=1e-9)
    assert np.all((plan.steps >= 0) & (plan.steps <= 2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(libraries(), st.data(), st.integers(1, 30), caps_st, caps_st)
def test_mix_rules_hold_for_any_library(pool, data, count, max_a, max_b) -> None:
    n = len(pool)
    n_seeds = data.draw(st.integers(1, 3))
    seed_rows = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n_seeds))
    excl = data.draw(st.lists(st.integers(0, n - 1), max_size=5))
    never = set(seed_rows) | set(excl)
    plan = plan_mix(
        pool,
        np.asarray(pool.vectors)[seed_rows],
        count,
        exclude=never,
        max_per_artist=max_a,
        max_per_album=max_b,
    )
    rows = plan.rows.tolist()
    assert len(rows) <= count
    rec = pool.recording_keys()
    banned = {int(rec[i]) for i in never}
    assert not any(int(rec[r]) in banned for r in rows)
    check_rules(pool, rows, max_a, max_b, forced=0)
    if len(rows) < count:  # nothing left that passes the rules
        used = {int(rec[r]) for r in rows} | banned
        a, b = Counter(int(pool.artist[r]) for r in rows), Counter(int(pool.album[r]) for r in rows)
        for i in range(n):
            if int(rec[i]) in used:
                continue
            assert (max_a is not None and a[int(pool.artist[i])] >= max_a) or (
                max_b is not None and b[int(pool.album[i])] >= max_b
            )


def test_waypoints_even_angles_and_exact_ends() -> None:
    a, b = np.eye(4)[0] * 3, np.eye(4)[1] + np.eye(4)[0]
    w = waypoints(a, b, 6)
    np.testing.assert_allclose(w[0], a / 3)
    np.testing.assert_allclose(w[-1], b / np.linalg.norm(b))
    ang = np.arccos(np.clip(np.einsum("ij,ij->i", w[1:], w[:-1]), -1, 1))
    np.testing.assert_allclose(ang, np.pi / 4 / 5)
    opp = waypoints(np.eye(3)[0], -np.eye(3)[0], 5)  # opposite ends: a fixed turn, still unit
    np.testing.assert_allclose(np.linalg.norm(opp, axis=1), 1.0)
    assert opp[2] @ np.eye(3)[0] == pytest.approx(0.0, abs=1e-12)


def test_path_follows_evenly_spaced_tracks() -> None:
    """Tracks evenly spaced on the line and one off it: the path is the line, in order."""
    t = np.linspace(0, np.pi / 2, 11)
    line = np.c_[np.cos(t), np.sin(t), np.zeros(11)]
    lure = np.array([[np.cos(t[5]), np.sin(t[5]), 0.0]]) * 0.9 + [[0, 0, 0.44]]
    pool = Pool.of(np.arange(12), np.r_[line, lure])
    rows = plan_path(pool, 0, 10, 11).rows.tolist()
    assert rows == list(range(11))


def test_mix_round_robin_over_seeds() -> None:
    t = np.linspace(0, np.pi / 2, 40)
    pool = Pool.of(np.arange(40), np.c_[np.cos(t), np.sin(t)])
    plan = plan_mix(pool, pool.vectors[[0, 39]], 6, exclude=[0, 39])
    assert plan.rows.tolist() == [1, 38, 2, 37, 3, 36]
    assert plan.seed.tolist() == [0, 1, 0, 1, 0, 1]
