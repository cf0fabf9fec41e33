"""``sonicmap analyze``: JSON lines per file, errors per file, exit status, readable table."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.unit.analysis.conftest import click_track, sine, write_pcm
from typer.testing import CliRunner

from sonicmap.cli import app


def _files(tmp_path):
    sr = 22050
    y = click_track(120, 8, sr) + sine(440, 8, sr, dbfs=-20)
    good = write_pcm(tmp_path / "good one.wav", np.stack([y, y]), sr)
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio")
    return good, bad


def test_json_lines_one_per_file_and_continues_after_a_bad_file(tmp_path, clean_env):
    good, bad = _files(tmp_path)
    res = CliRunner().invoke(app, ["analyze", "--json", str(bad), str(good)])
    assert res.exit_code == 1  # at least one file failed
    lines = [json.loads(line) for line in res.stdout.strip().splitlines()]
    assert [r["path"] for r in lines] == [str(bad), str(good)]
    assert lines[0]["error"] and "bad.mp3" in lines[0]["error"] and lines[0]["features"] is None
    ok = lines[1]
    assert ok["error"] is None
    f = ok["features"]
    assert abs(f["bpm"] - 120) < 3 and f["key"] == "A" and f["mode"] in ("major", "minor")
    assert isinstance(f["loudness_lufs"], float) and abs(f["duration_s"] - 8) < 0.05
    assert ok["sources"]["bpm"] == "signal"
    assert ok["embedding"] is None or (
        len(ok["embedding"]) == 64 and all(isinstance(v, float) for v in ok["embedding"])
    )


def test_exit_zero_when_all_succeed_and_table_without_json(tmp_path, clean_env):
    good, _ = _files(tmp_path)
    res = CliRunner().invoke(app, ["analyze", str(good)])
    assert res.exit_code == 0, res.output
    assert "BPM" in res.stdout and "good one.wav" in res.stdout and "120" in res.stdout


def test_max_seconds_option(tmp_path, clean_env):
    good, _ = _files(tmp_path)
    res = CliRunner().invoke(app, ["analyze", "--json", "--max-seconds", "3", str(good)])
    rec = json.loads(res.stdout)
    assert rec["features"]["truncated"] is True and rec["features"]["analysed_s"] == 3.0


def test_an_unreadable_file_is_one_error_record_in_a_batch(tmp_path, clean_env):
    """Run as a user who may not read one file (root: without its override capabilities): that
    file gets its error object, every other file its result, exit status 1 — no usage error."""
    good, _ = _files(tmp_path)
    locked = tmp_path / "locked.wav"
    shutil.copy(good, locked)
    locked.chmod(0)
    other = tmp_path / "other.wav"
    shutil.copy(good, other)
    cli = [str(Path(sys.executable).with_name("sonicmap")), "analyze", "--json"]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot drop the read override")
        drop = "-dac_override,-dac_read_search"
        cli = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", "--", *cli]
    res = subprocess.run(
        [*cli, str(good), str(locked), str(other)],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=120,
    )
    assert res.returncode == 1, res.stderr
    recs = [json.loads(line) for line in res.stdout.strip().splitlines()]
    assert [r["path"] for r in recs] == [str(good), str(locked), str(other)]
    assert recs[1]["features"] is None
    assert recs[1]["error"] == f"{locked}: cannot read the file (Permission denied)"
    assert recs[0]["error"] is None and recs[2]["error"] is None
    assert recs[0]["features"]["bpm"] == recs[2]["features"]["bpm"]
    assert "analysed 2, 1 failed" in res.stderr
