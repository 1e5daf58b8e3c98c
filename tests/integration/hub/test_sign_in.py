"""Signing in to the hub over real HTTP, and how long a sign-in lasts (issue 10 §4).

Five wrong passwords from one address (127.0.0.2) used to lock the account for everyone: now that
address is slowed — 429 with Retry-After and a Chinese message, its password not even checked — while
the clerk signs in at once from another address (127.0.0.3), and the slowed address gets in with the
right password after the wait. Guessing made-up names adds no audit entry and a bounded tally.

A browser session ends at its absolute limit however busy it is, and every session and token of a user
ends when their password changes — by an administrator or by the user — or when they are disabled, even
if enabled again; the user's other browser is signed out as well as the one that asked.
"""

from __future__ import annotations

import re
import time
import uuid

import httpx
from litestar.testing import TestClient
from sqlalchemy import text

from hub.settings import WebSettings
from hub.web.app import create_app
from tests.integration.hub.conftest import SECRET
from tests.support import wait_for
from tests.unit.hub.helpers import PASSWORDS


def _from(address: str, base: str) -> httpx.Client:
    """An HTTP client whose connections come from ``address`` (any of 127.0.0.0/8 reaches the hub)."""
    return httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=address), timeout=10)


def _login(client, username: str, password: str) -> httpx.Response:
    return client.post("/api/auth/login", json={"username": username, "password": password})


def test_wrong_passwords_slow_their_address_and_never_stop_the_clerk_at_another(web, people):
    with _from("127.0.0.2", web) as a, _from("127.0.0.3", web) as b:
        answers = [_login(a, "clerk_mz", "wrong-pass-1") for _ in range(5)]
        assert [r.status_code for r in answers] == [401, 401, 401, 429, 429]
        slowed = answers[-1]
        assert "登录失败次数过多" in slowed.json()["error"] and 1 <= int(slowed.headers["retry-after"]) <= 2

        assert _login(b, "clerk_mz", PASSWORDS["clerk_mz"]).status_code == 201  # not locked
        refused = _login(a, "clerk_mz", PASSWORDS["clerk_mz"])
        assert refused.status_code == 429  # the right password too: the slowed address must wait
        time.sleep(int(refused.headers["retry-after"]))
        assert _login(a, "clerk_mz", PASSWORDS["clerk_mz"]).status_code == 201


def _csrf(html: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', html).group(1)


def _sign_in(client, username: str, password: str | None = None) -> httpx.Response:
    token = _csrf(client.get("/login").text)
    form = {"username": username, "password": password or PASSWORDS[username], "next": "/", "_csrf_token": token}
    return client.post("/login", data=form, follow_redirects=False)


def _signed_in(client) -> bool:
    answer = client.get("/queue", follow_redirects=False)
    assert answer.status_code in (200, 302)
    return answer.status_code == 200


def test_made_up_names_add_no_audit_entry_and_the_page_says_to_wait(hub, client, people):
    def audit() -> int:
        with hub.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM audit")).scalar_one()

    before = audit()
    started = time.monotonic()
    statuses = [_login(client, f"x{uuid.uuid4().hex[:16]}", "guess-pass-1").status_code for _ in range(200)]
    took = time.monotonic() - started
    assert statuses[:4] == [401, 401, 401, 429] and set(statuses) == {401, 429}
    # Only after each wait (2, 4, 8 … s) is one more guess looked at: within `took` seconds, at most
    # log2(took) + 1 of them.
    assert statuses.count(401) <= 3 + max(1, int(took).bit_length()), (took, statuses.count(401))
    assert audit() == before
    with hub.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM login_failures")).scalar_one() <= 2

    # The same client's form, while the client waits (a made-up name first, until the wait has a second or more
    # to run: a loaded machine may take the 200 guesses right up to the end of one)
    def waiting() -> bool:
        r = _login(client, "x" + uuid.uuid4().hex[:16], "guess-pass-1")
        return r.status_code == 429 and int(r.headers["retry-after"]) >= 2

    wait_for(waiting, timeout=60, what="a wait with a second or more to run", every=0)
    page = _sign_in(client, "clerk_mz")  # slowed as well, told so in Chinese
    assert page.status_code == 429 and "登录失败次数过多" in page.text and page.headers["retry-after"]


def test_a_session_ends_at_its_absolute_limit_however_busy(hub, people):
    app = create_app(hub, WebSettings(secret=SECRET, session_max_age_s=3600, session_absolute_s=4))
    with TestClient(app, base_url="https://hub.test") as c:
        assert _sign_in(c, "clerk_mz").status_code == 303
        signed = time.monotonic()  # the session's clock started before this (argon2 may take a while under load)
        while time.monotonic() - signed < 3:
            assert _signed_in(c)  # used every half second: never idle
            time.sleep(0.5)
        time.sleep(max(0.0, signed + 4.5 - time.monotonic()))
        assert not _signed_in(c)
        assert _sign_in(c, "clerk_mz").status_code == 303 and _signed_in(c)


def test_a_password_change_ends_every_session_and_token_of_the_user(hub, app, services, people):
    users = services.users
    with (
        TestClient(app, base_url="https://hub.test") as office,
        TestClient(app, base_url="https://hub.test") as home,
        TestClient(app, base_url="https://hub.test") as colleague,
    ):
        for browser in (office, home):
            assert _sign_in(browser, "clerk_mz").status_code == 303
        assert _sign_in(colleague, "clerk_rs").status_code == 303
        token = {"Authorization": f"Bearer {_login(office, 'clerk_mz', PASSWORDS['clerk_mz']).json()['token']}"}
        assert office.get("/api/me", headers=token).status_code == 200

        users.set_password("clerk_mz", "reset-pass-2", actor="cli:admin")  # what `shegong hub user passwd` does
        assert not _signed_in(office) and not _signed_in(home)
        assert office.get("/api/me", headers=token).status_code == 401
        assert _signed_in(colleague)  # another user's session goes on

        for browser in (office, home):
            assert _sign_in(browser, "clerk_mz", "reset-pass-2").status_code == 303
        form = office.get("/password")
        assert "修改密码" in form.text
        wrong = {"current": "not-it-1", "new": "own-pass-3", "again": "own-pass-3", "_csrf_token": _csrf(form.text)}
        assert "当前密码不正确" in office.post("/password", data=wrong).text
        assert _signed_in(office) and _signed_in(home)  # a wrong current password changes nothing
        mine = {**wrong, "current": "reset-pass-2"}
        changed = office.post("/password", data=mine, follow_redirects=True)
        assert changed.url.path == "/login" and "密码已修改" in changed.text
        assert not _signed_in(office) and not _signed_in(home)
        assert _sign_in(home, "clerk_mz", "reset-pass-2").status_code == 401
        assert _sign_in(home, "clerk_mz", "own-pass-3").status_code == 303

        users.disable("clerk_mz", actor="cli:admin")
        users.enable("clerk_mz", actor="cli:admin")
        assert not _signed_in(home)  # disabling ended it, and enabling does not bring it back
        assert _signed_in(colleague)
