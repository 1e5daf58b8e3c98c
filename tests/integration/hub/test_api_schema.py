"""Schemathesis against the hub's own OpenAPI document (``/schema/openapi.json``): requests generated
from it, for every operation under ``/api``, signed in as the centre manager, on a hub holding real
cases. No answer may be a server error, use an undocumented status code or content type, or break its
documented schema. And every operation documents the body of its success answer, so clients can rely on
its shape."""

from __future__ import annotations

from typing import Any

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


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _says_what_it_holds(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A schema naming fields (an object with properties), the items of an array, or a scalar type: not
    empty and not a bare ``object``."""
    schema = _resolve(doc, schema)
    if "oneOf" in schema or "anyOf" in schema:
        return all(_says_what_it_holds(doc, s) for s in schema.get("oneOf", schema.get("anyOf")))
    kind = schema.get("type")
    if kind == "array":
        return _says_what_it_holds(doc, schema.get("items", {}))
    if kind == "object":
        values = schema.get("additionalProperties")
        return bool(schema.get("properties")) or (isinstance(values, dict) and _says_what_it_holds(doc, values))
    return kind in ("string", "integer", "number", "boolean")


def test_every_api_operation_documents_the_body_of_its_success_answer(client):
    """Every operation under /api (and /fleet/api) names what a success answers with: a 204 has no body;
    any other 2xx has a schema for each of its content types, with fields (not ``{}``, not a bare object)."""
    doc = client.get("/schema/openapi.json").json()
    operations = [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        if path.startswith(("/api/", "/fleet/api/"))
        for method, op in item.items()
        if method in ("get", "put", "post", "delete", "patch")
    ]
    assert len(operations) >= 19
    undocumented = []
    for method, path, op in operations:
        ok = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        if not ok:
            undocumented.append((method, path, "no 2xx answer"))
        for code, answer in ok.items():
            if code == "204":
                continue
            content = answer.get("content") or {}
            if not content or not all(_says_what_it_holds(doc, c.get("schema", {})) for c in content.values()):
                undocumented.append((method, path, code))
    assert undocumented == []
