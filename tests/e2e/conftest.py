"""End-to-end fixtures: the API integration fixtures (private Redis db, fresh PG db)."""

from __future__ import annotations

import sys
from pathlib import Path

_API_IT = Path(__file__).resolve().parents[1] / "integration" / "api"
for _p in (_API_IT, _API_IT.parents[1] / "unit" / "api"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from api_services import pg_url, redis_url  # noqa: E402, F401
