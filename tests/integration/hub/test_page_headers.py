"""What a browser is told to keep and to run, asked of one real request per family of the hub's answers.

Every answer but the stylesheets says ``Cache-Control: no-store`` — pages with names and masked ID numbers,
the CSV export, the JSON API, error pages and redirects — so a shared counter PC keeps nothing of a case.
Every answer but Litestar's API documentation carries the Content Security Policy, which admits the hub's
own stylesheets and no script. Then headless Chromium walks a clerk's and a manager's pages under that
policy: no violation is reported and the stylesheet is applied (the header's colour comes from it).
"""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient

from hub.web.headers import CONTENT_SECURITY_POLICY
from tests.unit.hub.helpers import PASSWORDS, ingest

CSP = "content-security-policy"


@pytest.fixture
def hub_db_url(sqlite_hub_db_url: str) -> str:
    """SQLite alone: the pages are the point here (tests/conftest.py, ``sqlite_hub_db_url``)."""
    return sqlite_hub_db_url


def _csrf(html: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', html).group(1)


def _sign_in(client, username: str) -> None:
    token = _csrf(client.get("/login").text)
    form = {"username": username, "password": PASSWORDS[username], "next": "/", "_csrf_token": token}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303


def _private(response) -> None:
    assert response.headers.get("cache-control") == "no-store", response.request.url
    assert response.headers.get(CSP) == CONTENT_SECURITY_POLICY, response.request.url
    assert response.headers.get("x-frame-options") == "DENY"
    assert response.headers.get("strict-transport-security") == "max-age=31536000", "over HTTPS: HTTPS only"


def test_every_page_family_is_kept_out_of_caches_and_under_the_policy(hub, app, client, people, api):
    case_id = ingest(hub.engine, ["MZ-001"])[0]
    _private(client.get("/login"))
    _private(client.get("/queue", follow_redirects=False))  # the redirect to sign in
    _sign_in(client, "manager")
    for path in (
        "/queue",
        f"/cases/{case_id}",
        "/overdue",
        "/reports",
        "/reports.csv",
        "/audit",
        "/calendar",
        "/password",
        "/fleet/",
        "/fleet/alerts",
        "/fleet/catalogue/",
        "/cases/no-such-case",  # the 404 page, made by the exception handler
    ):
        response = client.get(path)
        assert response.status_code in (200, 404), path
        _private(response)
    assert case_id in client.get(f"/cases/{case_id}").text
    _private(client.get(f"/api/cases/{case_id}", headers=api("manager")))
    _private(client.get("/api/cases"))  # 401 from the guard
    for path in ("/portal/", "/portal/items/MZ-001", "/portal/progress", "/portal/stats", "/portal/verify?t=x"):
        _private(client.get(path))  # the resident portal, public: also nothing cached on a shared phone or PC

    style = client.get("/static/hub.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert "no-store" not in style.headers.get("cache-control", "")
    assert client.get("/static/fleet.css").status_code == 200
    with TestClient(app, base_url="http://hub.test") as plain:  # a demo's plain HTTP: no promise of HTTPS
        answer = plain.get("/login")
        assert answer.headers.get("cache-control") == "no-store" and "strict-transport-security" not in answer.headers


def _no_violations(page, messages: list[str], url: str) -> None:
    page.goto(url)
    colour = page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
    assert colour in {"rgb(31, 95, 168)", "rgb(139, 26, 26)"}, f"{url}: the stylesheet was not applied"
    assert not messages, f"{url}: {messages}"


@pytest.mark.browser
def test_the_pages_work_under_the_policy_without_a_single_violation(hub, people, web, page):
    case_id = ingest(hub.engine, ["MZ-001", "RS-006"])[0]
    messages: list[str] = []

    def console(message) -> None:  # the browser's own favicon request finds none: not the pages' fault
        if message.type in {"error", "warning"} and not message.location.get("url", "").endswith("/favicon.ico"):
            messages.append(message.text)

    page.on("console", console)

    _no_violations(page, messages, f"{web}/login")
    page.fill("#username", "clerk_mz")
    page.fill("#password", PASSWORDS["clerk_mz"])
    page.click("button:has-text('登录')")
    page.wait_for_url(f"{web}/queue")
    for path in ("/queue", "/overdue", "/calendar", "/password", f"/cases/{case_id}"):
        _no_violations(page, messages, web + path)
    page.click("details[data-action=accept] summary")
    page.click("form[data-action=accept] button")
    page.wait_for_selector("text=已执行「受理」")
    assert not messages, messages
    page.click("button:has-text('退出')")
    page.wait_for_url(f"{web}/login")

    page.fill("#username", "manager")
    page.fill("#password", PASSWORDS["manager"])
    page.click("button:has-text('登录')")
    page.wait_for_url(f"{web}/queue")
    for path in ("/reports", "/audit", "/fleet/", "/fleet/catalogue/", "/fleet/catalogue/items/MZ-001"):
        _no_violations(page, messages, web + path)
    # 200 % zoom on a 1280-pixel screen: 640 CSS pixels. The manager's header wraps and grows with its
    # links; with a fixed height they overflowed it, white on the page's light background (an accessibility
    # review), and nothing in it is wider than the window (a wide table below may scroll sideways).
    page.set_viewport_size({"width": 640, "height": 430})
    page.goto(f"{web}/queue")
    header = page.locator("header").bounding_box()
    links = page.locator("header nav a, header .user a, header .user button")
    assert links.count() >= 8
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert header["y"] <= box["y"] and box["y"] + box["height"] <= header["y"] + header["height"] + 0.5, i
    assert page.evaluate("document.querySelector('header').scrollWidth <= window.innerWidth")
