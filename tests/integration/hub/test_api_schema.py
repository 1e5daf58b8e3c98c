"""Schemathesis against the hub's own OpenAPI document (``/schema/openapi.json``): requests generated
from it, for every operation under ``/api``, signed in as the centre manager, on a hub holding real
cases. No answer may be a server error, use an undocumented status code or content type, or break its
documented schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.unit.hub.helpers import ingest

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_generated_requests_get_no_5xx_and_no_schema_violations(hub, app, api):
    case_ids = ingest(hub.engine, ["MZ-001", "RS-006", "GA-003"])
    headers = api("manager")
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    operations = schema.include(path_regex="^/api/").exclude(path="/api/auth/logout")  # it would end the token
    assert len(list(operations.get_all_operations())) >= 15
    on_real_cases = operations.include(path_regex=r"\{case_id\}")

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operations.as_strategy() | on_real_cases.as_strategy(path_parameters={"case_id": case_ids[0]}))
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
