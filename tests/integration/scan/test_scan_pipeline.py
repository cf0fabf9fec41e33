"""Scan pipeline logic with a fast fake analyser at the seam (real walk, tags, store, pool)."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from scan_helpers import Library, make_config, write_track
from sqlalchemy import select

from sonicmap.errors import ConflictError, PathNotAllowedError, SonicmapError
from sonicmap.pipeline.scan import LOCK_KEY, scan_library
from sonicmap.store.repo import set_state
from sonicmap.store.schema import Artist, ScanFailure, ScanSession, Track, TrackFeatures

FAKE = "scan_fakes:fake_analyze"
CRASH = "scan_fakes:crash_on_marker"


def scan(store, lib: Library, db_url: str, **kw):
    cfg = make_config([lib.root], db_url, batch_size=kw.pop("batch_size", 7))
    kw.setdefault("in_process", True)
    kw.setdefault("analyzer", FAKE)
    kw.setdefault("analysis_version", 1)
    kw.setdefault("post_steps", False)
    return scan_library(store, cfg, **kw)


def tracks(store) -> dict[str, Track]:
    with store.session() as s:
        return {t.path: t for t in s.scalars(select(Track))}


def features(store) -> dict[int, TrackFeatures]:
    with store.session() as s:
        return {f.track_id: f for f in s.scalars(select(TrackFeatures))}


def test_first_scan_stores_good_and_records_bad_files(
    store, small_library: Library, db_url: str
) -> None:
    lib = small_library
    opened: list[str] = []

    def audit(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], str | bytes):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(audit)  # cannot be removed; harmless after the test
    r = scan(store, lib, db_url)
    assert r.status == "completed"
    assert (r.added, r.failed, r.unchanged, r.removed, r.moved) == (
        len(lib.good),
        len(lib.bad),
        0,
        0,
        0,
    )
    assert r.analysed == len(lib.good)
    stored = tracks(store)
    feats = features(store)
    for p in lib.good:
        t = stored[str(p)]
        assert t.status == "analysed", (p, t.last_error)
        assert t.id in feats and feats[t.id].analysis_version == 1
        assert t.artist_id is not None and t.fingerprint
    reasons = {f["path"]: f["error"] for f in r.failures}
    for p, frag in lib.bad.items():
        t = stored[str(p)]
        assert t.status == "failed" and t.last_error, p
        assert frag.lower() in t.last_error.lower() or (not frag), (p, t.last_error)
        assert reasons[str(p)] == t.last_error
        assert t.id not in feats
    assert not any(str(lib.outside) in o for o in opened), "read a file outside the roots"
    assert not any(".hidden" in p for p in stored)
    # "Artist 00" spelt "artist 00 " on some tracks is still one artist
    with store.session() as s:
        names = [a.name for a in s.scalars(select(Artist))]
        sess = s.get(ScanSession, r.scan_id)
        assert sess.status == "completed" and sess.added == len(lib.good) and sess.finished_at
        assert s.scalar(select(ScanFailure.id).where(ScanFailure.scan_id == r.scan_id)) is not None
    assert len(names) == len({n.strip().casefold() for n in names})


def test_rescan_counts_exactly_what_changed(store, small_library: Library, db_url: str) -> None:
    from sonicmap.library.tags import write_tags

    lib = small_library
    scan(store, lib, db_url)
    again = scan(store, lib, db_url)
    assert (again.added, again.changed, again.removed, again.moved, again.analysed) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert again.unchanged == len(lib.good) + len(lib.bad) and again.failed == 0

    before = tracks(store)
    feats_before = features(store)
    tagged, replaced, renamed, deleted = lib.good[0], lib.good[1], lib.good[2], lib.good[3]
    write_tags(tagged, title="A new title", artist="Somebody Else")
    write_track(replaced, seed=99_999, duration_s=1.0, title="Replaced", artist="Artist 01")
    new_name = renamed.parent.parent / "Renamed ✓" / ("moved " + renamed.name)
    new_name.parent.mkdir()
    shutil.move(renamed, new_name)
    deleted.unlink()
    added = write_track(
        lib.root / "New" / "brand new.flac", seed=5555, duration_s=1.0, artist="Newcomer"
    )

    r = scan(store, lib, db_url)
    assert (r.added, r.changed, r.removed, r.moved, r.failed) == (1, 2, 1, 1, 0)
    assert r.analysed == 2  # the new file and the replaced audio; not the tag edit, not the move
    after = tracks(store)
    feats_after = features(store)
    moved = after[str(new_name)]
    assert moved.id == before[str(renamed)].id and str(renamed) not in after
    assert feats_after[moved.id].created_at == feats_before[moved.id].created_at
    t = after[str(tagged)]
    assert t.title == "A new title" and t.artist_id != before[str(tagged)].artist_id
    assert feats_after[t.id].created_at == feats_before[t.id].created_at  # audio unchanged
    rp = after[str(replaced)]
    assert feats_after[rp.id].features != feats_before[rp.id].features
    assert str(deleted) not in after and after[str(added)].status == "analysed"
    with store.session() as s:
        assert s.scalar(select(Artist).where(Artist.name == "Somebody Else")) is not None


def test_explicit_paths_inside_roots_only(
    store, small_library: Library, db_url: str, tmp_path: Path
) -> None:
    lib = small_library
    with pytest.raises(PathNotAllowedError, match="outside the library roots"):
        scan(store, lib, db_url, paths=[lib.outside])
    sub = lib.good[0].parent
    r = scan(store, lib, db_url, paths=[sub])
    assert r.added == len([p for p in lib.good if p.parent == sub]) and r.failed == 0
    # scanning a sub-folder never removes what lies elsewhere
    full = scan(store, lib, db_url)
    part = scan(store, lib, db_url, paths=[sub])
    assert part.removed == 0 and full.removed == 0


def test_dead_running_session_is_interrupted_live_one_blocks(
    store, small_library: Library, db_url: str
) -> None:
    lib = small_library
    now = datetime.now(UTC)
    with store.session() as s:
        dead = ScanSession(status="running", roots=[str(lib.root)], started_at=now)
        s.add(dead)
        s.flush()
        set_state(
            s,
            LOCK_KEY,
            {
                "scan_id": dead.id,
                "host": "elsewhere",
                "pid": 1,
                "heartbeat": (now - timedelta(hours=1)).isoformat(),
            },
        )
    r = scan(store, lib, db_url)
    with store.session() as s:
        assert s.get(ScanSession, dead.id).status == "interrupted"
        live = ScanSession(status="running", roots=[], started_at=now)
        s.add(live)
        s.flush()
        set_state(
            s,
            LOCK_KEY,
            {"scan_id": live.id, "host": "elsewhere", "pid": 1, "heartbeat": now.isoformat()},
        )
    assert r.status == "completed"
    with pytest.raises(ConflictError, match="still running"):
        scan(store, lib, db_url)


def test_analysis_version_bump_reanalyses_and_retries_failures(
    store, small_library: Library, db_url: str
) -> None:
    lib = small_library
    scan(store, lib, db_url)
    assert scan(store, lib, db_url).unchanged == len(lib.good) + len(lib.bad)
    r = scan(store, lib, db_url, analysis_version=2)
    assert r.changed == len(lib.good) and r.analysed == len(lib.good)
    assert r.failed == len(lib.bad)  # failures retried once under the new version...
    assert {f.analysis_version for f in features(store).values()} == {2}
    r2 = scan(store, lib, db_url, analysis_version=2)
    assert r2.unchanged == len(lib.good) + len(lib.bad) and r2.failed == 0  # ...not every scan


@pytest.mark.slow
def test_pool_survives_a_crashing_decoder(
    sqlite_store, small_library: Library, tmp_path: Path
) -> None:
    lib = small_library
    bomb = lib.good[5].with_name("CRASH " + lib.good[5].name)
    shutil.copy(lib.good[5], bomb)
    db_url = str(sqlite_store.engine.url)
    r = scan(sqlite_store, lib, db_url, in_process=False, analyzer=CRASH, jobs=2)
    assert r.status == "completed"
    assert r.added == len(lib.good)
    crash = {f["path"]: f["error"] for f in r.failures}
    assert crash[str(bomb)] == "analysis process exited with status 139 while analysing this file"


@pytest.mark.slow
def test_processes_that_always_die_stop_the_scan(sqlite_store, small_library: Library) -> None:
    lib = small_library
    db_url = str(sqlite_store.engine.url)
    with pytest.raises(SonicmapError, match="in a row"):
        scan(
            sqlite_store, lib, db_url, in_process=False, analyzer="scan_fakes:always_crash", jobs=2
        )
    with sqlite_store.session() as s:
        assert s.scalar(select(ScanSession.status)) == "failed"
        crashed = [
            t
            for t in s.scalars(select(Track))
            if t.last_error and "analysis process" in t.last_error
        ]
    assert len(crashed) < 3  # not the whole library marked failed
    assert all(t.mtime == -1.0 for t in crashed)  # and those few are retried next time


@pytest.mark.slow
def test_a_worker_dying_while_the_caller_holds_a_result_loses_no_file(
    small_library: Library,
) -> None:
    """The pool breaks while the scan is busy with a result (writing a batch): new work is
    refused by the dead pool, yet every file still gets exactly one result."""
    import time

    from sonicmap.pipeline.scan import Job, WorkerSpec, execute

    good = sorted(small_library.good)
    bomb = good[0].with_name("CRASH " + good[0].name)
    shutil.copy(good[0], bomb)
    paths = [str(p) for p in good[:2]] + [str(bomb)] + [str(p) for p in good[2:]]
    assert len(paths) > 4 * 2  # more files than the pool takes at once: it is fed again later
    results = []
    for res in execute(
        [Job(p, None, None) for p in paths], WorkerSpec(analyzer=CRASH), jobs=2, in_process=False
    ):
        results.append(res)
        time.sleep(0.3)  # meanwhile a worker reaches the bomb and dies
    assert sorted(r["path"] for r in results) == sorted(paths)
    crashed = [r["path"] for r in results if r["error"] and "analysis process" in r["error"]]
    assert crashed == [str(bomb)]


@pytest.mark.slow
def test_a_killed_and_a_hung_analysis_are_failed_with_their_reasons(
    small_library: Library,
) -> None:
    """One file's analysis kills its process, one never returns: each is tried twice (each time
    in a fresh process), then recorded failed with why; every other file is analysed."""
    import time

    from sonicmap.pipeline.scan import Job, WorkerSpec, execute

    good = sorted(small_library.good)[:4]
    kill = good[0].with_name("KILL " + good[0].name)
    hang = good[1].with_name("HANG " + good[1].name)
    shutil.copy(good[0], kill)
    shutil.copy(good[1], hang)
    paths = [str(p) for p in [kill, hang, *good]]
    spec = WorkerSpec(analyzer="scan_fakes:kill_or_hang_on_marker", analysis_timeout_s=4.0)
    t0 = time.monotonic()
    results = list(execute([Job(p, None, None) for p in paths], spec, jobs=2, in_process=False))
    elapsed = time.monotonic() - t0
    by_path = {r["path"]: r for r in results}
    assert sorted(by_path) == sorted(paths) and len(results) == len(paths)
    assert by_path[str(kill)]["error"] == "analysis process killed by signal 9 (SIGKILL)"
    assert by_path[str(hang)]["error"] == "timed out after 4 s"
    assert all(by_path[str(p)]["error"] is None for p in good)
    assert 8 <= elapsed < 40  # the hang cost two deadlines, not forever


def test_post_steps_handed_in_run_in_order_and_a_failing_one_is_failed_not_skipped(
    store, small_library: Library, db_url: str
) -> None:
    from sonicmap.pipeline.scan import PostStep

    seen: list[str] = []

    def ok(store_, cfg, result):
        seen.append("ok")
        return {"status": "ok", "tracks": len(result.track_ids)}

    def broken(store_, cfg, result):
        seen.append("broken")
        raise ModuleNotFoundError("No module named 'sonicmap.missing'")

    def after(store_, result):
        seen.append("after")
        return {"status": "skipped", "reason": "test"}

    r = scan(
        store,
        small_library,
        db_url,
        post_steps=[PostStep("first", ok), PostStep("second", broken)],
        after_scan=after,
    )
    assert r.status == "completed" and seen == ["ok", "broken", "after"]
    assert r.post["first"] == {"status": "ok", "tracks": len(small_library.good)}
    assert r.post["second"] == {
        "status": "failed",
        "error": "ModuleNotFoundError: No module named 'sonicmap.missing'",
    }
    assert r.to_dict()["post"]["after_scan"] == {"status": "skipped", "reason": "test"}
