"""Generated libraries for the scan tests (generated once per session, copied per test)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # scan_helpers / scan_fakes (also for workers)

from scan_helpers import Library, copy_library, generate_library  # noqa: E402


@pytest.fixture(scope="session")
def small_library_template(tmp_path_factory: pytest.TempPathFactory) -> Library:
    """24 one-second files in 7 formats + every kind of bad file."""
    return generate_library(tmp_path_factory.mktemp("small-lib"), n_files=24, duration_s=1.0)


@pytest.fixture
def small_library(small_library_template: Library, tmp_path: Path) -> Library:
    """A copy; as root (which reads any file whatever its mode) without the unreadable file,
    which the CLI tests cover by dropping root's DAC capabilities."""
    lib = copy_library(small_library_template, tmp_path / "copy")
    if os.geteuid() == 0:
        for p in [p for p in lib.bad if p.name == "unreadable.wav"]:
            p.unlink()
            del lib.bad[p]
    return lib


@pytest.fixture(scope="session")
def big_library_template(tmp_path_factory: pytest.TempPathFactory) -> Library:
    """210 two-second files in 7 formats + every kind of bad file."""
    return generate_library(tmp_path_factory.mktemp("big-lib"), n_files=210, duration_s=2.0)


@pytest.fixture
def big_library(big_library_template: Library, tmp_path: Path) -> Library:
    return copy_library(big_library_template, tmp_path / "copy")
