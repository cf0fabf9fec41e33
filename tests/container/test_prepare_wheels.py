"""``scripts/prepare-wheels``: pip download evaluates dependency markers for the machine it runs
on; the script evaluates them again for the image (architecture, any patch release of CPython)
and fetches what they add, so the offline build does not miss a conditional dependency."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    path = str(ROOT / "scripts" / "prepare-wheels")
    loader = importlib.machinery.SourceFileLoader("prepare_wheels", path)
    spec = importlib.util.spec_from_loader("prepare_wheels", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _wheel(folder: Path, name: str, version: str, requires: list[str]) -> None:
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as zf:
        zf.writestr(f"{name}-{version}.dist-info/METADATA", meta)


def test_markers_are_evaluated_for_the_target(tmp_path: Path) -> None:
    pw = _load()
    _wheel(
        tmp_path,
        "redis",
        "6.0",
        [
            'async-timeout>=4.0.3; python_full_version < "3.11.3"',
            'colorama; sys_platform == "win32"',
        ],
    )
    _wheel(
        tmp_path,
        "sqlalchemy",
        "2.0",
        ['greenlet>=1; platform_machine == "aarch64"', 'mypy>=1; extra == "mypy"'],
    )
    _wheel(tmp_path, "celery", "5.4", ['redis>=5; extra == "redis"', 'pymongo; extra == "mongo"'])
    top = [Requirement("sqlalchemy>=2"), Requirement("celery[redis]>=5.4")]

    arm = pw.missing_for_target(tmp_path, top, pw.target_envs("aarch64", "3.11"))
    assert sorted(arm) == ["async-timeout>=4.0.3", "greenlet>=1"]
    amd = pw.missing_for_target(tmp_path, top, pw.target_envs("x86_64", "3.11"))
    assert amd == ["async-timeout>=4.0.3"]
    assert pw.missing_for_target(tmp_path, top, pw.target_envs("x86_64", "3.12")) == []


def test_check_tells_current_wheels_from_stale_or_missing(tmp_path: Path) -> None:
    pw = _load()
    script = [sys.executable, str(ROOT / "scripts" / "prepare-wheels"), "amd64", "--check"]

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*script, "--dest", str(tmp_path)], capture_output=True, text=True, timeout=60
        )

    res = check()
    assert res.returncode == 1 and "no prepared wheels" in res.stderr
    _wheel(tmp_path, "numpy", "2.0", [])
    (tmp_path / pw.STAMP).write_text(pw.stamp_text(["numpy>=1.0"], "3.11"))
    res = check()
    assert res.returncode == 1 and "pyproject.toml changed" in res.stderr
    (tmp_path / pw.STAMP).write_text(pw.stamp_text(pw.project_requirements(), "3.11"))
    assert check().returncode == 0
    (tmp_path / pw.STAMP).write_text(pw.stamp_text(pw.project_requirements(), "3.12"))
    assert check().returncode == 1
