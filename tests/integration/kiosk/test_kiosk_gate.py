"""The kiosk serves its own browser only (issue 10 §4, kiosk session takeover).

A card tap's claim token travels on the page's event stream. Here another local client — a bare HTTP
connection, as any process on the terminal could open, and a second Chromium that was never given the
secret — asks for the event stream, the welcome page and the claim itself: each gets 403, even holding
the token, which stays unused. The kiosk's own Chromium, let in with this start's secret, then receives
the claim and shows the resident's services. The way in also works as the terminal's browser uses it:
from the ``kiosk.html`` page written at start (a ``file://`` page, so the secret is never on a command
line); a key from another start opens nothing.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from edge.devices.sim.identities import identity
from edge.kiosk.gate import KioskGate
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


def _status(url: str, path: str) -> int:
    """What a bare local client gets for ``path`` (no cookies: it never came in through the gate)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("GET", path, headers={"Accept": "text/event-stream"})
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.fixture
def contexts(browser: Any) -> Iterator[Any]:
    """``new_page()``: a page in a Chromium context of its own (cookies of its own)."""
    made: list[Any] = []

    def new_page() -> Any:
        context = browser.new_context(viewport={"width": 1000, "height": 1250}, locale="zh-CN")
        made.append(context)
        page = context.new_page()
        page.set_default_timeout(8000)
        return page

    yield new_page
    for context in made:
        context.close()


def test_a_client_without_the_secret_gets_no_claim_token_and_cannot_take_the_session(start_kiosk, contexts):
    k = start_kiosk()
    assert _status(k.url, "/events") == 403  # a local process listening for claim tokens
    stranger = contexts()
    assert stranger.goto(k.url).status == 403
    assert stranger.goto(f"{k.url}/events").status == 403

    k.tap("zhang-wei")
    token = wait_for(k.kiosk.sessions.pending_claim, what="the tap's claim token")
    assert _status(k.url, f"/claim/{token}") == 403  # holding the token is not enough
    assert stranger.goto(f"{k.url}/claim/{token}").status == 403
    assert k.kiosk.sessions.pending_claim() == token, "a refused claim must not use the token up"

    own = contexts()
    k.admit(own)  # the kiosk's own browser: the claim waiting for it takes it to the resident's services
    own.wait_for_url(re.compile(r"/services$"))
    assert identity("zhang-wei").name in own.content()
    assert k.kiosk.sessions.pending_claim() is None
    assert stranger.goto(f"{k.url}/services").status == 403
    assert identity("zhang-wei").name not in stranger.content()


def test_the_kiosk_browser_comes_in_through_the_page_written_at_start(start_kiosk, contexts, tmp_path):
    k = start_kiosk()
    k.kiosk.gate.write(tmp_path / "run", k.url)
    page = contexts()
    page.goto((tmp_path / "run" / "kiosk.html").as_uri())
    page.wait_for_url(f"{k.url}/")
    assert "欢迎使用社区自助服务" in page.content()
    k.tap("li-na")
    page.wait_for_url(re.compile(r"/services$"))
    assert identity("li-na").name in page.content()

    earlier = contexts()
    assert earlier.goto(k.url + KioskGate().open_path).status == 403  # another start's key
    assert earlier.goto(k.url).status == 403
