"""``POST /scans`` with a path under a symlinked library root, scanned by a real worker.

The root is configured as ``music`` → ``disk/music``. The API confines the path and queues it;
the worker applies the same rule again (``library.walk.confined_path``) and scans it; the tracks
are named below the root as configured.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from worker_cluster import wait_for
from worker_helpers import write_wav

pytestmark = [pytest.mark.integration, pytest.mark.slow]
KEY = "symlink-test-key"


def test_post_scans_with_a_path_under_a_symlinked_root(cluster, tmp_path):
    from sqlalchemy import select

    from sonicmap.api import create_app
    from sonicmap.config import load_config
    from sonicmap.store.schema import Track

    real = tmp_path / "disk" / "music"
    for i in range(4):
        write_wav(real / "Artist" / f"t{i}.wav", freq=300 + 40 * i)
    write_wav(real / "Other" / "x.wav")
    root = tmp_path / "music"
    root.symlink_to(real)
    env = {"SONICMAP_LIBRARY_ROOTS": str(root), "SONICMAP_API_KEY": KEY}
    app = cluster.configure(**env)
    cluster.start_worker("w1", **env)
    cfg = load_config(cluster.env(**env))
    with TestClient(create_app(cfg, store=cluster.store), raise_server_exceptions=False) as c:
        # the resolved spelling too: it is queued as the configured root's path
        for given in ("Artist", str(real / "Artist")):
            r = c.post(
                "/api/v1/scans", json={"path": given}, headers={"Authorization": f"Bearer {KEY}"}
            )
            assert r.status_code == 202, r.text
            out = app.AsyncResult(r.json()["task_id"]).get(timeout=60)
            while out.get("status") == "queued":  # distributed: follow the finishing task
                out = app.AsyncResult(out["task_id"]).get(timeout=60)
            assert out["status"] == "completed", out
            assert out["failed"] == 0, out

    def paths() -> list[str]:
        with cluster.store.session() as s:
            return sorted(s.scalars(select(Track.path)))

    expected = [str(root / "Artist" / f"t{i}.wav") for i in range(4)]
    assert wait_for(lambda: paths() == expected, 20, "the tracks stored") is not None
