"""Fixtures of the embedding integration tests: the fabricated descriptors of the unit tests."""

from __future__ import annotations

import sys
from pathlib import Path

# Share tests/unit/embedding/embedding_fakes.py (fabricated descriptor dicts) with these tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "embedding"))
