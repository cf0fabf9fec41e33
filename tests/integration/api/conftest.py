"""Fixtures for API integration tests: private Redis db index, fresh PostgreSQL db."""

from __future__ import annotations

import sys
from pathlib import Path

# Shared helpers: ``apitest`` (beside the unit tests) and ``api_services`` (this folder).
_HERE = Path(__file__).resolve().parent
for _p in (_HERE, _HERE.parents[1] / "unit" / "api"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from api_services import pg_url, redis_url  # noqa: E402, F401
