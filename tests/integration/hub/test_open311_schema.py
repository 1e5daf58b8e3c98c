"""Schemathesis over the Open311 side of the hub's OpenAPI document (``/open311/v2/…``): generated
requests — no key, made-up keys, a real partner's key, real service codes and request ids — on a hub
holding a partner's request. No answer may be a server error, use an undocumented status code or content
type, or break its documented schema (errors included: the spec's list of ``{code, description}``)."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.open311.partners import Partners
from tests.support import id_number

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_generated_open311_requests_get_no_5xx_and_no_schema_violations(hub: Any, app: Any, web: str) -> None:
    _, key = Partners(hub.engine).add("hotline-12345")
    form = {
        "api_key": key,
        "service_code": "RS-004",
        "last_name": "陈",
        "first_name": "建国",
        "attribute[id_number]": id_number("310105", "19600101", "031"),
        "attribute[phone]": "13700001111",
        "attribute[lost_date]": "2026-11-30",
    }
    made = httpx.post(f"{web}/open311/v2/requests.json", data=form)
    assert made.status_code == 201, made.text
    request_id = made.json()[0]["service_request_id"]

    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    operations = schema.include(path_regex="^/open311/v2/")
    assert len(list(operations.get_all_operations())) == 10
    plain = operations.exclude(path_regex=r"\{")
    services = operations.include(path_regex=r"\{service_file\}")
    requests = operations.include(path_regex=r"\{request_file\}")

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=plain.as_strategy()
        | services.as_strategy(path_parameters={"service_file": "MZ-003.json"})
        | services.as_strategy(path_parameters={"service_file": "ZZ-999.json"})
        | requests.as_strategy(path_parameters={"request_file": f"{request_id}.json"}),
        keyed=st.booleans(),
    )
    def run(case: Any, keyed: bool) -> None:
        if keyed and isinstance(case.query, dict) and "api_key" in case.query:
            case.query["api_key"] = key
        if keyed and isinstance(case.body, dict):
            case.body["api_key"] = key  # a real partner's form: it reaches the item and attribute checks
        case.call_and_validate(checks=CHECKS)

    run()
