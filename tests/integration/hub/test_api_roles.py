"""Role boundaries through the JSON API, enforced by the one guard and the workflow's policy — not by
which buttons a page shows. Cases arrive through ingest; each user signs in for a bearer token.

A clerk reads and moves only their departments' cases; an auditor reads cases and the audit trail and
moves nothing; an operator sees the fleet, not residents' cases; nobody gets anything unsigned; the
session cookie opens no API route, and no form is accepted without its CSRF token.
"""

from __future__ import annotations

from tests.support import applicant
from tests.unit.hub.helpers import PASSWORDS, ingest


def _act(client, headers, case_id, action, version, **extra):
    body = {"action": action, "expected_version": version, **extra}
    return client.post(f"/api/cases/{case_id}/actions", json=body, headers=headers)


def test_a_clerk_acts_only_on_cases_of_their_department(hub, client, api):
    mz_case, rs_case = ingest(hub.engine, ["MZ-001", "RS-006"])
    clerk = api("clerk_mz")
    assert _act(client, clerk, rs_case, "accept", 1).status_code == 403
    assert client.get(f"/api/cases/{rs_case}", headers=clerk).status_code == 403
    assert client.get("/api/queue?department=RS", headers=clerk).status_code == 403
    queue = client.get("/api/queue", headers=clerk).json()
    assert [i["case_id"] for i in queue["items"]] == [mz_case] and queue["departments"] == ["MZ"]
    assert [c["case_id"] for c in client.get("/api/cases", headers=clerk).json()["cases"]] == [mz_case]

    accepted = _act(client, clerk, mz_case, "accept", 1)
    assert accepted.status_code == 201 and accepted.json()["version"] == 2
    assert _act(client, clerk, mz_case, "review", 1).status_code == 409  # a stale version
    detail = client.get(f"/api/cases/{mz_case}", headers=clerk).json()
    assert detail["status"] == "accepted" and detail["assignee"] == "clerk_mz"
    assert detail["id_number"][6:14] == "********"
    assert [a["action"] for a in detail["actions"]] == ["review", "request_materials", "complete", "reject", "withdraw"]


def test_no_case_read_hands_staff_the_residents_query_code(hub, client, api):
    """The query code is the resident's second secret for the portal, beside the ID number staff see masked
    (only the birth date hidden): the API gave it to every case reader."""
    (case_id,) = ingest(hub.engine, ["MZ-001"])  # the helper's terminal prints query code ABC234
    manager = api("manager")
    for path in ("/api/cases", f"/api/cases/{case_id}"):
        answer = client.get(path, headers=manager)
        assert answer.status_code == 200 and case_id in answer.text, path
        assert "ABC234" not in answer.text and "query_code" not in answer.text, path


def test_an_auditor_reads_everything_and_can_move_nothing(hub, client, api):
    (case_id,) = ingest(hub.engine, ["MZ-001"])
    auditor = api("auditor")
    assert client.get(f"/api/cases/{case_id}", headers=auditor).json()["actions"] == []
    assert client.get("/api/queue", headers=auditor).json()["total"] == 1
    assert _act(client, auditor, case_id, "accept", 1).status_code == 403
    body = {"department": "RS", "expected_version": 1}
    assert client.post(f"/api/cases/{case_id}/route", json=body, headers=auditor).status_code == 403
    assert client.put("/api/calendar/2026-12-31", json={"kind": "off", "name": "x"}, headers=auditor).status_code == 403
    assert client.get("/api/audit/verify", headers=auditor).json()["intact"] is True
    assert client.get("/api/reports", headers=auditor).status_code == 200


def test_an_operator_sees_the_fleet_and_no_residents_cases(hub, client, api):
    ingest(hub.engine, ["MZ-001"])
    operator = api("operator")
    assert client.get("/api/terminals", headers=operator).json()["terminals"][0]["terminal_id"] == "T1"
    assert client.get("/api/dead-letters", headers=operator).status_code == 200
    for path in ("/api/cases", "/api/queue", "/api/overdue", "/api/reports", "/api/audit"):
        assert client.get(path, headers=operator).status_code == 403, path
    day = {"kind": "off", "name": "跨年"}
    assert client.put("/api/calendar/2026-12-31", json=day, headers=operator).status_code == 200


def test_unsigned_requests_get_401_and_a_manager_gets_everything(hub, client, api):
    (case_id,) = ingest(hub.engine, ["MZ-001"])
    for path in ("/api/cases", f"/api/cases/{case_id}", "/api/queue", "/api/terminals", "/api/dead-letters"):
        r = client.get(path)
        assert r.status_code == 401 and "error" in r.json(), path
    assert client.get("/api/cases", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    health = client.get("/healthz")
    assert health.json()["ok"] is True and health.headers["x-frame-options"] == "DENY"
    assert "shegong_hub" in client.get("/metrics").text
    manager = api("manager")
    body = {"department": "RS", "expected_version": 1}
    routed = client.post(f"/api/cases/{case_id}/route", json=body, headers=manager)
    assert routed.status_code == 201 and routed.json()["department"] == "RS"
    assert client.post("/api/auth/logout", headers=manager).status_code == 204
    assert client.get("/api/cases", headers=manager).status_code == 401  # the token is gone


def test_the_session_cookie_opens_no_api_route_and_forms_need_their_csrf_token(hub, client, people):
    (case_id,) = ingest(hub.engine, ["MZ-001"])
    login_page = client.get("/login")
    assert login_page.status_code == 200 and "hub_csrf" in client.cookies
    token = login_page.text.split('name="_csrf_token" value="')[1].split('"')[0]
    form = {"username": "clerk_mz", "password": PASSWORDS["clerk_mz"], "next": "/queue", "_csrf_token": token}
    signed_in = client.post("/login", data=form, follow_redirects=False)
    assert signed_in.status_code == 303 and "hub_session" in client.cookies
    set_cookie = signed_in.headers["set-cookie"]
    assert "Secure" in set_cookie and "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie.replace("Lax", "lax")

    assert client.get("/queue").status_code == 200
    assert client.get("/api/queue").status_code == 401  # the cookie is not an API credential
    no_token = client.post(f"/cases/{case_id}/act", data={"action": "accept", "expected_version": "1"})
    assert no_token.status_code == 403
    page = client.get(f"/cases/{case_id}")
    token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
    done = client.post(
        f"/cases/{case_id}/act",
        data={"action": "accept", "expected_version": "1", "_csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "已受理" in client.get(f"/cases/{case_id}").text


def test_an_api_token_is_no_browser_session(hub, client, api):
    """A web review: a cookie ``hub_session=api:<token>`` opened the pages (tokens and sessions share one
    store), and each page moved the token's expiry on, its fixed life made a sliding one."""
    token = api("manager")["Authorization"].removeprefix("Bearer ")
    with hub.engine.connect() as conn:
        expires = conn.exec_driver_sql("SELECT expires_at FROM web_sessions").scalars().all()
    client.cookies.set("hub_session", f"api:{token}")
    page = client.get("/queue", follow_redirects=False)
    assert page.status_code in (302, 303) and page.headers["location"].startswith("/login")
    with hub.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT expires_at FROM web_sessions").scalars().all() == expires
    client.cookies.clear()
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_who_read_which_residents_case_is_in_the_audit_chain_and_an_auditor_sees_no_phone(hub, client, api):
    """A personal-data review: reading a resident's case (name, phone, form) was recorded nowhere, and the
    电子监察 auditor, who calls no one, saw the full phone number."""
    phone = "13957246813"
    (case_id,) = ingest(hub.engine, ["MZ-001"], start=30, form={"phone": phone})
    id_number = applicant(30).id_number
    clerk, auditor = api("clerk_mz"), api("auditor")
    shown = client.get(f"/api/cases/{case_id}", headers=clerk).json()
    assert [phone] == [v for _label, v in shown["form"] if "139" in v], "the clerk calls the resident back"
    masked = client.get(f"/api/cases/{case_id}", headers=auditor).json()
    assert [v for _label, v in masked["form"] if "139" in v] == ["139****6813"]
    assert client.get("/api/cases", headers=auditor).status_code == 200
    client.cookies.clear()
    assert client.get(f"/api/cases/{case_id}", headers=api("clerk_rs")).status_code == 403  # refused: not a read

    with hub.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT actor, action, subject, data FROM audit WHERE action = 'case.viewed'"
            " OR action IN ('cases.listed', 'cases.searched') ORDER BY id"
        ).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("user:clerk_mz", "case.viewed", case_id),
        ("user:auditor", "case.viewed", case_id),
        ("user:auditor", "cases.listed", "1 cases"),
    ]
    assert case_id in rows[2][3]

    token = client.get("/login").text.split('name="_csrf_token" value="')[1].split('"')[0]
    form = {"username": "clerk_mz", "password": PASSWORDS["clerk_mz"], "next": "/queue", "_csrf_token": token}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    assert client.get("/queue", params={"receipt": id_number}).status_code == 200  # the search box, by ID number
    with hub.engine.connect() as conn:
        (actor, subject, data) = conn.exec_driver_sql(
            "SELECT actor, subject, data FROM audit WHERE action = 'cases.searched'"
        ).one()
    assert (actor, subject) == ("user:clerk_mz", "1 cases") and case_id in data
    with hub.engine.connect() as conn:
        chain = " ".join(str(v) for row in conn.exec_driver_sql("SELECT * FROM audit") for v in row)
    assert id_number not in chain and phone not in chain, "who looked at what, never the words typed"


def test_input_the_database_cannot_hold_is_a_clear_400_not_a_server_error(hub, client):
    """PostgreSQL refuses NUL in text; Schemathesis found the 500 it used to cause at sign-in."""
    r = client.post("/api/auth/login", json={"username": "mana\x00ger", "password": "x"})
    assert r.status_code in (400, 401) and "error" in r.json()


def test_a_number_too_large_for_the_database_is_a_400(client, api):
    r = client.get("/api/audit", params={"before": str(10**25)}, headers=api("manager"))
    assert r.status_code == 400 and "error" in r.json()
