"""The whole HTTP API fuzzed from its own OpenAPI schema (schemathesis) against a real
uvicorn server, on SQLite and on PostgreSQL, with the admin and API tokens (issue 13).

Every documented operation gets valid and invalid requests; each answer must be no 5xx,
a status code the schema documents, and a body matching the documented schema. All go
over one keep-alive session that never retries, so a dropped connection fails the test.
The budget keeps the stage well under two minutes on both backends together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.server import LiveServer

EXAMPLES_PER_OPERATION = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
API_TOKEN = "fuzz-api-token"


def fuzz(server: LiveServer, session: requests.Session, operation: Any, mode: Any) -> int:
    token = server.settings.admin_token if operation.path.startswith("/admin") else API_TOKEN
    headers = {"Authorization": f"Bearer {token}"}
    calls = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def run(case: Any) -> None:
        nonlocal calls
        if operation.path == "/admin/queue/drain":
            case.query = {**(case.query or {}), "timeout": 0}  # never wait in a fuzz run
        response = case.call(base_url=server.url, session=session, headers=headers, timeout=30)
        calls += 1
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        if mode != GenerationMode.NEGATIVE:
            raise  # an operation with no input has no invalid request to make
    return calls


def test_the_api_answers_every_fuzzed_request_as_documented(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory(api_token=API_TOKEN)
    assert server.client.post(
        "/api/v1/categories",
        json={"code": "py", "name": "P"},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    ).is_success
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(max_retries=0))
    total = 0
    with session:
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                total += fuzz(server, session, operation, mode)
    print(f"fuzzed {total} requests")  # the case count, shown with -s
    assert total > 200
