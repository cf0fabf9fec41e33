"""Fixtures of the embedding unit tests."""

from __future__ import annotations

from typing import Any

import pytest
from embedding_fakes import make_features


@pytest.fixture
def features() -> dict[str, Any]:
    """A complete, typical descriptor dict."""
    return make_features()
