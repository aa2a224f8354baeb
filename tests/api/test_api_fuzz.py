"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis): valid and
invalid requests for every operation, against a real server; none may get a 5xx, and every
answer must be one the document describes. A test-double backend answers at once, so this
takes seconds. Examples are derandomized: the same inputs each run, so a failure reproduces."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.api_doubles import InstantBackendDouble, serving
from ui.settings import API_ENV_VARS
from ui.store import ResultStore
from ui.web import create_app

EXAMPLES_PER_OPERATION = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        for name in API_ENV_VARS:
            env.delenv(name, raising=False)
        env.setenv("ATELIER_RATE_LIMIT", "0")  # the fuzzer is one client sending hundreds of requests
        env.setenv("ATELIER_GENERATION_RATE_LIMIT", "0")
        app = create_app(InstantBackendDouble(), ResultStore(tmp_path_factory.mktemp("fuzz-store")))
    with serving(app) as base:
        yield base


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_request_gets_a_server_error_or_an_undocumented_answer(server, mode):
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    calls = []

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            calls.append(case.operation.label)
            case.call_and_validate(base_url=server, checks=[not_a_server_error, status_code_conformance,
                                                            response_schema_conformance])

        try:
            fuzz()
        except Unsatisfiable:  # nothing in this operation's schema can be broken (e.g. a free-form string id)
            assert mode is GenerationMode.NEGATIVE, operation.label
    assert len(calls) >= 3 * len(operations)
