"""Fixtures of the GMM integration tests (helpers live in gmmdb.py)."""

from __future__ import annotations

import pytest
from gmmdb import make_cfg

from sonicmap.config import AppConfig


@pytest.fixture
def cfg() -> AppConfig:
    return make_cfg()
