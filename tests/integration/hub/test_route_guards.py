"""Every route of the hub's web app, asked by nobody and by each role (DESIGN §6: hub users act within a role).

The test walks the app's own route table, so a route added without a guard, or with a weaker one than its
neighbours, fails here until it is written into ``ALLOWED`` below. ``ALLOWED`` is docs/hub.md's table of
pages and roles ("Roles (one guard)") and docs/fleet.md's (operators edit and publish the catalogue), written
out by hand: not read from hub.people.roles, whose mistakes it is there to catch.

A refused request is 401 (API) or a redirect to the sign-in page (pages) without a sign-in, and 403 with one;
an allowed one may be anything else (404 for a made-up case, 400 for an empty form): the guard let it through.
Forms carry their CSRF token, so a 403 is the role's and never the CSRF check's.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.routes import HTTPRoute

from tests.support import handlers_run_twice_in_threads
from tests.unit.hub.helpers import PASSWORDS

ROLES = ("manager", "clerk_mz", "auditor", "operator")
EVERYONE = frozenset(ROLES)
PUBLIC = "public"
CASES = frozenset({"manager", "clerk_mz", "auditor"})
ACTORS = frozenset({"manager", "clerk_mz"})
CHIEFS = frozenset({"manager", "auditor"})
FLEET = frozenset({"manager", "auditor", "operator"})
EDITORS = frozenset({"manager", "operator"})
HELP = frozenset({"manager", "clerk_mz", "operator"})

ALLOWED: dict[tuple[str, str], frozenset[str] | str] = {
    # JSON API (Authorization: Bearer)
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): EVERYONE,
    ("GET", "/api/me"): EVERYONE,
    ("GET", "/api/cases"): CASES,
    ("GET", "/api/cases/{case_id:str}"): CASES,
    ("GET", "/api/queue"): CASES,
    ("POST", "/api/cases/{case_id:str}/actions"): ACTORS,
    ("POST", "/api/cases/{case_id:str}/route"): frozenset({"manager"}),
    ("GET", "/api/overdue"): CASES,
    ("GET", "/api/departments"): EVERYONE,
    ("GET", "/api/reports"): CHIEFS,
    ("GET", "/api/reports.csv"): CHIEFS,
    ("GET", "/api/audit"): CHIEFS,
    ("GET", "/api/audit/verify"): CHIEFS,
    ("GET", "/api/calendar"): EVERYONE,
    ("PUT", "/api/calendar/{day:date}"): EDITORS,
    ("DELETE", "/api/calendar/{day:date}"): EDITORS,
    ("PUT", "/api/calendar/years/{year:int}"): EDITORS,
    ("GET", "/api/dead-letters"): FLEET,
    ("GET", "/api/terminals"): FLEET,
    ("GET", "/api/public/services"): PUBLIC,
    ("GET", "/api/public/stats"): PUBLIC,
    # the back office's pages (session cookie and CSRF token)
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/password"): EVERYONE,
    ("POST", "/password"): EVERYONE,
    ("GET", "/"): EVERYONE,
    ("GET", "/queue"): CASES,
    ("GET", "/cases/{case_id:str}"): CASES,
    ("POST", "/cases/{case_id:str}/act"): ACTORS,
    ("POST", "/cases/{case_id:str}/route"): ACTORS,  # a clerk sends a misrouted case back (may_route decides)
    ("GET", "/overdue"): CASES,
    ("GET", "/return-calls"): CASES,
    ("POST", "/return-calls/{rating_id:str}"): ACTORS,
    ("GET", "/reports"): CHIEFS,
    ("GET", "/reports.csv"): CHIEFS,
    ("GET", "/audit"): CHIEFS,
    ("GET", "/calendar"): EVERYONE,
    ("POST", "/calendar/days"): EDITORS,
    ("POST", "/calendar/{day:date}/delete"): EDITORS,
    ("POST", "/calendar/{year:int}/complete"): EDITORS,
    ("GET", "/help"): HELP,
    ("POST", "/help/{alert_id:int}/ack"): HELP,
    # the operators' pages
    ("GET", "/fleet"): FLEET,
    ("GET", "/fleet/terminals/{terminal_id:str}"): FLEET,
    ("GET", "/fleet/alerts"): FLEET,
    ("GET", "/fleet/api/terminals"): FLEET,
    ("GET", "/fleet/catalogue"): FLEET,
    ("GET", "/fleet/catalogue/items/{code:str}"): FLEET,
    ("GET", "/fleet/catalogue/export"): FLEET,
    ("POST", "/fleet/catalogue/draft"): EDITORS,
    ("POST", "/fleet/catalogue/draft/discard"): EDITORS,
    ("POST", "/fleet/catalogue/publish"): EDITORS,
    ("POST", "/fleet/catalogue/items/{code:str}"): EDITORS,
    ("POST", "/fleet/catalogue/import"): EDITORS,
    # for everyone: health, metrics (scraped by Prometheus), the stylesheets
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/static/{file_path:path}"): PUBLIC,
    ("HEAD", "/static/{file_path:path}"): PUBLIC,
}
"""Who may call each route, but those under ``PUBLIC_TREES``."""

PUBLIC_TREES = ("/portal", "/open311/", "/schema")
"""The residents' portal and the partners' Open311 (each with tests of its own), the OpenAPI schema."""
SAMPLES = {
    "{case_id:str}": "0190f5e2-0000-7000-8000-000000000000",
    "{day:date}": "2030-01-02",
    "{alert_id:int}": "1",
    "{year:int}": "2030",
    "{code:str}": "MZ-001",
    "{terminal_id:str}": "T1",
    "{rating_id:str}": "0190f5e2-0000-7000-8000-000000000001",
    "{file_path:path}": "hub.css",
}

SIGN_OUT = (("POST", "/api/auth/logout"), ("POST", "/logout"))


def _routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route of the app but the OPTIONS answers Litestar adds."""
    return sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        for method in handler.http_methods
        if method != "OPTIONS"
    )


def _url(path: str) -> str:
    for param, value in SAMPLES.items():
        path = path.replace(param, value)
    assert "{" not in path, f"no sample for a parameter of {path}: add one to SAMPLES"
    return path


def _csrf(client: Any) -> dict[str, str]:
    client.get("/login")
    return {"x-csrftoken": client.cookies["hub_csrf"]}


def _sign_in(client: Any, username: str) -> dict[str, str]:
    """Sign ``username`` in both ways: a page session in the client's cookies, and the API token's header."""
    csrf = _csrf(client)
    form = {"username": username, "password": PASSWORDS[username], "next": "/"}
    assert client.post("/login", data=form, headers=csrf, follow_redirects=False).status_code == 303
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORDS[username]})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}", **csrf}


def _ask(client: Any, method: str, path: str, headers: dict[str, str]) -> int:
    body: dict[str, Any] = {"json": {}} if path.startswith("/api/") and method in ("POST", "PUT") else {}
    r = client.request(method, _url(path), headers=headers, follow_redirects=False, **body)
    return r.status_code


def _refused_unsigned(status: int, path: str, location: str) -> bool:
    if path.startswith("/api/"):
        return status == 401
    return status in (302, 303, 307) and location.startswith("/login")


def test_every_route_is_in_the_table_of_who_may_call_it(app):
    routes = [r for r in _routes(app) if not r[1].startswith(PUBLIC_TREES)]
    unlisted = [r for r in routes if r not in ALLOWED]
    assert not unlisted, f"routes no one has said who may call (add them to ALLOWED): {unlisted}"
    gone = [r for r in ALLOWED if r not in routes]
    assert not gone, f"ALLOWED names routes the app no longer has: {gone}"


def test_no_handler_is_wrapped_twice_for_a_thread(app):
    assert handlers_run_twice_in_threads(app) == []


def test_no_route_but_the_public_ones_answers_without_a_sign_in(app, client, people):
    csrf = _csrf(client)
    for method, path in _routes(app):
        if path.startswith(PUBLIC_TREES) or ALLOWED.get((method, path)) == PUBLIC:
            continue
        r = client.request(method, _url(path), headers=csrf, follow_redirects=False)
        assert _refused_unsigned(r.status_code, path, r.headers.get("location", "")), (method, path, r.status_code)


@pytest.mark.parametrize("username", ROLES)
def test_each_role_reaches_exactly_the_routes_its_table_row_names(app, client, people, username):
    headers = _sign_in(client, username)
    wrong: list[tuple[str, str, int]] = []
    for method, path in _routes(app):
        allowed = ALLOWED.get((method, path), PUBLIC)
        if path.startswith(PUBLIC_TREES) or allowed == PUBLIC or (method, path) in SIGN_OUT:
            continue  # signing out would end the session or token the rest of the walk needs: asked last
        status = _ask(client, method, path, headers)
        if (username in allowed) == (status in (401, 403)):
            wrong.append((method, path, status))
    assert not wrong, f"{username}: answers that disagree with the table: {wrong}"
    assert [_ask(client, "POST", path, headers) for _, path in SIGN_OUT] == [204, 303]
