"""Property-based run of schemathesis against the app's own OpenAPI spec (with and without key).

Every operation gets a bounded number of generated requests (valid and invalid); no response may
be a server error, have an undocumented status code or content type, or violate its schema.
The app runs on a seeded SQLite store with the real pipeline (similarity, clusters, model
activation and deletion); only the task queue is a fake.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from apitest import KEY, FakeQueue, make_config, seed
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sonicmap.api import create_app

pytestmark = pytest.mark.slow
MAX_EXAMPLES = 10

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _app(mode: str, sqlite_store: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    seed(sqlite_store)
    (tmp_path / "music").mkdir()
    env = {"library_roots": str(tmp_path / "music")}
    if mode != "without_key":
        env["api_key"] = KEY
    if mode == "protected_reads":
        env["api_protect_reads"] = "true"
    return create_app(make_config(tmp_path, **env), store=sqlite_store, queue=FakeQueue())


@pytest.mark.parametrize("mode", ["with_key", "without_key", "protected_reads"])
@pytest.mark.parametrize("generation", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_spec(
    mode: str, generation: GenerationMode, sqlite_store, tmp_path, monkeypatch
) -> None:
    app = _app(mode, sqlite_store, tmp_path, monkeypatch)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {KEY}"} if mode == "with_key" else {}
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 23
    checked: set[str] = set()
    for op in operations:

        @given(case=op.as_strategy(generation_mode=generation))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            # Negative mode cannot invent an invalid request for an operation without inputs.
            assert generation is GenerationMode.NEGATIVE, op.label
            checked.discard(op.label)
        else:
            checked.add(op.label)
    assert len(checked) >= (23 if generation is GenerationMode.POSITIVE else 15)
