"""Reused work arrays (decode.scratch) never leak between analyses: the same features whether files
are analysed one after another, from several threads at once, or with their block generators
interleaved; and the features do not depend on the block or chunk sizes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from tests.unit.analysis.conftest import click_track, noise, sine, write_pcm

import sonicmap.analysis.accumulator as accumulator_mod
import sonicmap.analysis.decode as decode_mod
from sonicmap.analysis import analyze_file
from sonicmap.analysis.decode import iter_blocks


@pytest.fixture
def files(tmp_path):
    sr = 44100
    a = click_track(100, 21, sr) + sine(330, 21, sr, dbfs=-26)
    b = noise(17, sr, rms_db=-30, pink=True, seed=3) + sine(523, 17, sr, dbfs=-22)
    return [
        write_pcm(tmp_path / "a.wav", np.stack([a, 0.5 * a]), sr),
        write_pcm(tmp_path / "b.wav", b, sr),  # mono: a different scratch shape
    ]


def _features(p):
    return analyze_file(p, max_duration_s=None, tags=None).features


def test_threads_give_the_sequential_features(files):
    ref = [_features(p) for p in files]
    with ThreadPoolExecutor(max_workers=2) as ex:
        got = list(ex.map(_features, files * 3))
    assert got == ref * 3


def test_interleaved_block_generators_give_the_same_blocks(files):
    alone = [[b.mono for b in iter_blocks(p)] for p in files]
    gens = [iter_blocks(p) for p in files]
    mixed: list[list[np.ndarray]] = [[], []]
    live = [True, True]
    while any(live):
        for i, g in enumerate(gens):
            if live[i]:
                try:
                    mixed[i].append(next(g).mono)
                except StopIteration:
                    live[i] = False
    for x, y in zip(alone, mixed, strict=True):
        np.testing.assert_array_equal(np.concatenate(x), np.concatenate(y))


@pytest.mark.parametrize(("block_s", "chunk_s"), [(1, 2), (3, 12)])
def test_features_do_not_depend_on_block_and_chunk_sizes(files, monkeypatch, block_s, chunk_s):
    ref = _features(files[0])
    monkeypatch.setattr(decode_mod, "BLOCK_S", block_s)
    monkeypatch.setattr(accumulator_mod, "_CHUNK", chunk_s * accumulator_mod.ANALYSIS_SR)
    got = _features(files[0])
    for k, v in ref.items():
        if isinstance(v, float):
            assert got[k] == pytest.approx(v, rel=1e-3, abs=1e-3), k
        elif isinstance(v, list):
            np.testing.assert_allclose(got[k], v, rtol=1e-3, atol=1e-3, err_msg=k)
        else:
            assert got[k] == v, k
