"""Scan paths are confined to the library roots (``..``, elsewhere, symlinks out → 403)."""

from __future__ import annotations

from pathlib import Path

import pytest
from apitest import API, KEY

from sonicmap.api.paths import confine_scan_path
from sonicmap.errors import PathNotAllowedError


@pytest.fixture
def library(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "music"
    (root / "Artist" / "Album").mkdir(parents=True)
    other = tmp_path / "root2"
    (other / "Live").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.mkdir()
    (root / "escape").symlink_to(secret)
    (root / "inner-link").symlink_to(root / "Artist")
    return {"root": root, "other": other, "secret": secret}


def test_inside_paths_resolve(library) -> None:
    roots = [library["root"], library["other"]]
    root = library["root"]
    assert confine_scan_path("Artist/Album", roots) == root / "Artist" / "Album"
    assert confine_scan_path(str(library["root"] / "Artist"), roots) == root / "Artist"
    assert confine_scan_path(str(library["root"]), roots) == root
    assert confine_scan_path("Live", roots) == library["other"] / "Live"
    # A symlink that stays inside the library is fine: named by where it leads.
    assert confine_scan_path("inner-link", roots) == root / "Artist"


def test_a_symlinked_root_keeps_its_configured_name(tmp_path: Path) -> None:
    """Root ``music`` → ``disk/music``: every spelling names the path below ``music``, and the
    worker's check (the same rule) accepts what the API queues."""
    from sonicmap.library.walk import check_paths_allowed

    real = tmp_path / "disk" / "music"
    (real / "Artist").mkdir(parents=True)
    root = tmp_path / "music"
    root.symlink_to(real)
    for given in ("Artist", str(root / "Artist"), str(real / "Artist")):
        queued = confine_scan_path(given, [root])
        assert queued == root / "Artist", given
        assert check_paths_allowed([queued], [str(root)]) == [str(root / "Artist")]
    with pytest.raises(PathNotAllowedError):
        check_paths_allowed([str(tmp_path / "disk")], [str(root)])


@pytest.mark.parametrize(
    "bad",
    [
        "../secret",
        "Artist/../../secret",
        "Artist/..",
        "escape",
        "escape/",
        "/etc",
        "/",
        "a\x00b",
        "  ",
    ],
)
def test_escapes_are_refused(library, bad: str) -> None:
    with pytest.raises(PathNotAllowedError, match="library root|'\\.\\.'|not a valid path"):
        confine_scan_path(bad, [library["root"]])


def test_absolute_path_to_secret_is_refused(library) -> None:
    with pytest.raises(PathNotAllowedError, match="outside the library roots"):
        confine_scan_path(str(library["secret"]), [library["root"]])


def test_missing_path_inside_root_is_a_value_error(library) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        confine_scan_path("Nope/Album", [library["root"]])


def test_no_roots_refuses_everything(library) -> None:
    with pytest.raises(PathNotAllowedError, match="SONICMAP_LIBRARY_ROOTS"):
        confine_scan_path(str(library["root"]), [])


# -- through the API ----------------------------------------------------------------------------

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def client(client_factory, library):  # noqa: ANN001, ANN201
    return client_factory(api_key=KEY, library_roots=f"{library['root']}:{library['other']}")


@pytest.mark.parametrize("bad", ["../secret", "escape", "/etc", "Artist/../../secret"])
def test_post_scans_refuses_paths_outside_with_403(client, fake_queue, library, bad: str) -> None:
    r = client.post(f"{API}/scans", json={"path": bad}, headers=AUTH)
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["code"] == "path_not_allowed" and err["field"] == "path"
    assert fake_queue.sent == []


def test_post_scans_queues_the_real_path(client, fake_queue, library) -> None:
    r = client.post(f"{API}/scans", json={"path": "Artist"}, headers=AUTH)
    assert r.status_code == 202
    body = r.json()
    assert body["task"] == "scan_library" and body["status"] == "queued"
    assert fake_queue.sent == [
        ("scan_library", {"paths": [str(library["root"].resolve() / "Artist")]})
    ]
    r = client.post(f"{API}/scans", headers=AUTH)
    assert r.status_code == 202 and fake_queue.sent[-1] == ("scan_library", {"paths": None})


def test_post_scans_missing_path_is_422(client) -> None:
    r = client.post(f"{API}/scans", json={"path": "Nope"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["field"] == "path"


def test_post_scans_rejects_unknown_body_fields(client) -> None:
    r = client.post(f"{API}/scans", json={"paht": "Artist"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["field"] == "paht"


def test_post_scans_without_roots_is_409(client_factory) -> None:
    r = client_factory(api_key=KEY).post(f"{API}/scans", headers=AUTH)
    assert r.status_code == 409 and "SONICMAP_LIBRARY_ROOTS" in r.json()["error"]["message"]
