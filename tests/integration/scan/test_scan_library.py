"""Must-show scans with the real analysis engine, through the real CLI, on SQLite and PostgreSQL.

* a generated library of 210 files in 7 formats with bad files mixed in (corrupt, zero-byte,
  wrong extension, truncated, unreadable permissions, FIFO, broken link, link outside the root,
  symlink loop, non-ASCII names);
* a rescan after a tag edit, an audio replacement, a rename, a delete and an add;
* ``kill -9`` of a real ``sonicmap scan`` half-way, then a rescan: same final state as an
  uninterrupted scan.

As root, the CLI runs without the DAC capabilities (``setpriv``) so that a ``chmod 000`` file is
really unreadable, as it is for a normal user.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scan_helpers import Library, cli_env, run_cli, sonicmap_cmd, write_track
from sqlalchemy import select

from sonicmap.store import migrate
from sonicmap.store.db import Store, make_engine
from sonicmap.store.schema import (
    Album,
    Artist,
    ArtistEmbedding,
    ScanSession,
    Track,
    TrackEmbedding,
    TrackFeatures,
)

pytestmark = pytest.mark.slow

REQUIRED_FEATURES = ("bpm", "key", "mode", "loudness_lufs", "duration_s")


def scan_json(
    lib: Library, db_url: str, *extra: str, env_extra: dict[str, str] | None = None
) -> dict[str, Any]:
    env = cli_env(lib.root, db_url, **(env_extra or {}))
    proc = run_cli("scan", "--json", "--jobs", "2", *extra, env=env, drop_dac=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def snapshot(store: Store, root: Path) -> dict[str, Any]:
    """Everything a scan produces, keyed by path relative to ``root`` (ids excluded)."""
    with store.session() as s:
        artists = {a.id: a.name for a in s.scalars(select(Artist))}
        albums = {a.id: a.title for a in s.scalars(select(Album))}
        feats = {f.track_id: f for f in s.scalars(select(TrackFeatures))}
        vecs = {e.track_id: e.vector for e in s.scalars(select(TrackEmbedding))}
        tracks = {}
        for t in s.scalars(select(Track)):
            f = feats.get(t.id)
            tracks[os.path.relpath(t.path, root)] = (
                t.status,
                t.size,
                t.mtime,
                t.fingerprint,
                t.last_error,
                artists.get(t.artist_id),
                albums.get(t.album_id),
                t.title,
                json.dumps(f.features, sort_keys=True) if f else None,
                f.analysis_version if f else None,
                vecs.get(t.id),
            )
        # artist vectors are sums over tracks in id order: equal up to float rounding
        art_vecs = {
            artists[e.artist_id]: (e.n_tracks, np.frombuffer(e.vector, "<f4"))
            for e in s.scalars(select(ArtistEmbedding))
        }
    return {"tracks": tracks, "artists": sorted(artists.values()), "artist_vectors": art_vecs}


def test_big_library_scan_and_rescan(store: Store, db_url: str, big_library: Library) -> None:
    lib = big_library
    assert len(lib.good) >= 200 and len({p.suffix for p in lib.good}) >= 5
    first = scan_json(lib, db_url)
    assert first["status"] == "completed"
    assert first["added"] == len(lib.good), [
        f for f in first["failures"] if "Junk" not in f["path"]
    ]
    assert first["failed"] == len(lib.bad)
    assert (first["changed"], first["removed"], first["unchanged"], first["moved"]) == (0, 0, 0, 0)
    reasons = {f["path"]: f["error"] for f in first["failures"]}
    for p, frag in lib.bad.items():
        assert frag.lower() in reasons[str(p)].lower(), (p, reasons[str(p)])
    with store.session() as s:
        rows = {t.path: t for t in s.scalars(select(Track))}
        feats = {f.track_id: f.features for f in s.scalars(select(TrackFeatures))}
    for p in lib.good:
        t = rows[str(p)]
        assert t.status == "analysed" and t.artist_id is not None, (p, t.last_error)
        assert all(feats[t.id].get(k) is not None for k in REQUIRED_FEATURES), p
    for p in lib.bad:
        assert rows[str(p)].status == "failed" and rows[str(p)].last_error
    assert not any(str(lib.outside) in p for p in rows)
    assert not any("/.hidden/" in p for p in rows)

    # --- edits: one of each kind -------------------------------------------------------------
    from sonicmap.library.tags import write_tags

    with store.session() as s:
        before = {
            t.path: (t.id, f.created_at)
            for t, f in s.execute(select(Track, TrackFeatures).join(TrackFeatures))
        }
    tagged, replaced, renamed, deleted = lib.good[10], lib.good[11], lib.good[12], lib.good[13]
    write_tags(tagged, title="Retitled", genre="ambient")
    replaced.unlink()
    write_track(replaced, seed=424242, duration_s=2.0, title="Replaced", artist="Artist 03")
    target = lib.root / "Moved Here ✓" / renamed.name
    target.parent.mkdir()
    shutil.move(renamed, target)
    deleted.unlink()
    added = write_track(
        lib.root / "New Artist" / "new.flac", seed=777, duration_s=2.0, artist="New Artist"
    )

    second = scan_json(lib, db_url)
    got = {k: second[k] for k in ("added", "changed", "removed", "moved", "failed")}
    assert got == {"added": 1, "changed": 2, "removed": 1, "moved": 1, "failed": 0}
    assert second["unchanged"] == len(lib.good) + len(lib.bad) - 4
    assert second["analysed"] == 2  # the new file and the replaced audio only
    with store.session() as s:
        rows = {t.path: t for t in s.scalars(select(Track))}
        created = {f.track_id: f.created_at for f in s.scalars(select(TrackFeatures))}
    moved = rows[str(target)]
    assert (moved.id, created[moved.id]) == before[str(renamed)]  # not re-analysed
    assert created[rows[str(tagged)].id] == before[str(tagged)][1]  # tag edit: audio kept
    assert rows[str(tagged)].title == "Retitled"
    assert created[rows[str(replaced)].id] != before[str(replaced)][1]
    assert str(deleted) not in rows and str(renamed) not in rows
    assert rows[str(added)].status == "analysed"


def test_kill_9_then_rescan_equals_uninterrupted(
    store: Store, db_url: str, big_library: Library, tmp_path: Path
) -> None:
    lib = big_library
    # keep 40 files so the test stays short; the bad files stay
    for p in lib.good[40:]:
        p.unlink()
    lib.good = lib.good[:40]
    gmm_yaml = tmp_path / "gmm.yaml"
    gmm_yaml.write_text("gmm_clustering:\n  auto_queue: {batch_size: 5}\n")
    env = cli_env(lib.root, db_url, SONICMAP_GMM_CONFIG=str(gmm_yaml))
    proc = subprocess.Popen(
        sonicmap_cmd("scan", "--jobs", "1", drop_dac=True),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        committed = 0
        while time.monotonic() < deadline and proc.poll() is None:
            with store.session() as s:
                committed = len(list(s.scalars(select(Track.id).where(Track.status == "analysed"))))
            if committed >= 12:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the scan finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the scan and its analysis workers, like a power cut
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    with store.session() as s:
        half = len(list(s.scalars(select(Track.id).where(Track.status == "analysed"))))
        assert s.scalar(select(ScanSession.status)) == "running"
    assert 12 <= half < len(lib.good)

    resumed = scan_json(lib, db_url, env_extra={"SONICMAP_GMM_CONFIG": str(gmm_yaml)})
    assert resumed["status"] == "completed"
    assert resumed["analysed"] == len(lib.good) - half  # nothing stored was analysed again
    assert resumed["unchanged"] >= half
    with store.session() as s:
        statuses = [x.status for x in s.scalars(select(ScanSession).order_by(ScanSession.id))]
    assert statuses == ["interrupted", "completed"]

    # reference: one uninterrupted scan of the same files into a fresh database
    ref_url = f"sqlite:///{tmp_path / 'reference.db'}"
    ref = Store(make_engine(ref_url))
    migrate.upgrade(ref.engine)
    try:
        r = scan_json(lib, ref_url, env_extra={"SONICMAP_GMM_CONFIG": str(gmm_yaml)})
        assert r["status"] == "completed" and r["added"] == len(lib.good)
        got, want = snapshot(store, lib.root), snapshot(ref, lib.root)
        assert got["tracks"].keys() == want["tracks"].keys()
        diff = {
            k: (got["tracks"][k], want["tracks"][k])
            for k in got["tracks"]
            if got["tracks"][k] != want["tracks"][k]
        }
        assert not diff, diff
        assert got["artists"] == want["artists"]
        gv, wv = got["artist_vectors"], want["artist_vectors"]
        assert gv.keys() == wv.keys()
        for name in gv:
            assert gv[name][0] == wv[name][0], name
            np.testing.assert_allclose(gv[name][1], wv[name][1], rtol=1e-5, atol=1e-6, err_msg=name)
    finally:
        ref.dispose()
