"""Kept page bodies (Kiosk.render_cached) show exactly what a fresh render shows, for every visitor.

Two kiosks over one catalogue, one keeping rendered bodies and one rendering every time, are asked the
same pages by the same residents (in both languages, with and without staff, searching, by department,
item pages): the HTML must be identical but for each browser's own CSRF token. A card tap's page is the
holder's services in one response; a reload of it keeps the session.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from edge.devices.sim.identities import identity
from edge.kiosk.app import create_app
from edge.kiosk.context import PAGE_CACHE_BYTES, _body_bytes
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings, KioskSettings
from protocol.catalogue import load_seed
from tests.support import STAFF_ID, STAFF_PIN, handlers_run_twice_in_threads, staff_pins

PEOPLE = ["zhang-wei", "wang-xiuying", "li-na", "zhaxi-ciren"]
_CSRF = re.compile(r'(name="_csrf_token" value=")[^"]*(")')
#: how long the staff sign-in has left, counting down between two renders (in base.html, never kept)
_CLOCK = re.compile(r'(data-staff-left=")\d+(")|(登录有效至 |signed in until )\d\d:\d\d')


@pytest.fixture
def kiosks(tmp_path: Path) -> Iterator[tuple[TestClient[Any], TestClient[Any]]]:
    """(keeping bodies, rendering every time): two kiosks on one catalogue."""
    catalogue = load_seed()
    runtimes, clients = [], []
    pins = staff_pins()
    for n, size in enumerate((PAGE_CACHE_BYTES, 0)):
        runtime = EdgeRuntime(EdgeSettings(data_dir=tmp_path / str(n), min_free_disk_mb=0))
        config = KioskSettings(idle_timeout_s=600, warn_before_s=20, staff_pins=pins)
        app = create_app(runtime, None, config=config, catalogue=catalogue)
        app.state.kiosk.page_cache_bytes = size
        runtimes.append(runtime)
        clients.append(TestClient(app).__enter__())
        assert clients[-1].get(app.state.kiosk.gate.open_path).status_code == 200  # the kiosk's own browser
    yield clients[0], clients[1]
    for client, runtime in zip(clients, runtimes, strict=True):
        client.__exit__(None, None, None)
        runtime.close()


def test_no_page_handler_is_wrapped_twice_for_a_thread(kiosks):
    assert handlers_run_twice_in_threads(kiosks[0].app) == []


def tap(client: TestClient[Any], who: str) -> str:
    token = client.app.state.kiosk.events.card_tapped(identity(who).card_facts())
    page = client.get(f"/claim/{token}", follow_redirects=False)
    if page.status_code == 303:  # the last resident chose a language: the next card starts in Chinese
        assert page.headers["location"] == "/services" and "kiosk_lang" not in client.cookies
        page = client.get("/services")
    assert page.status_code == 200 and "/services" in page.text and '<html lang="zh-CN">' in page.text
    return page.text


def same(kept: str, fresh: str) -> None:
    def plain(page: str) -> str:
        return _CLOCK.sub("…", _CSRF.sub(r"\1…\2", page))

    assert plain(kept) == plain(fresh)


PAGES = [
    "/services",
    "/services?full=1",
    "/services?all=1",
    "/services?dept=MZ",
    "/services?q=lnjt",
    "/item/MZ-001",
    "/item/MZ-003",
]


def test_kept_bodies_match_fresh_renders_for_every_resident_language_and_staff(kiosks):
    kept, fresh = kiosks
    items = [f"/item/{i.code}" for i in load_seed().items[::7]]
    for round_, staff in enumerate((False, False, True, True)):  # rounds after the first are served kept
        for who in PEOPLE:
            same(tap(kept, who), tap(fresh, who))
            for client in kiosks if staff else ():  # staff sees needs-check items with an apply button
                login = client.post("/staff", data={"staff_id": STAFF_ID, "pin": STAFF_PIN}, headers=_token(client))
                assert login.status_code == 200 and 'class="staffbar"' in login.text
            for lang in ("zh", "en"):
                for client in kiosks:
                    client.post("/lang", data={"lang": lang, "next": "/services"}, headers=_token(client))
                for path in PAGES + items:
                    a, b = kept.get(path), fresh.get(path)
                    assert a.status_code == b.status_code == 200, path
                    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in a.text
                    assert ('class="staffbar"' in a.text) is staff, round_
                    same(a.text, b.text)


def _token(client: TestClient[Any]) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken", "")}


def test_a_tap_page_reloaded_keeps_the_session_and_a_stranger_gets_the_welcome(kiosks):
    kept, _ = kiosks
    token = kept.app.state.kiosk.events.card_tapped(identity("zhang-wei").card_facts())
    first = kept.get(f"/claim/{token}", follow_redirects=False)
    assert first.status_code == 200 and "kiosk_sid" in first.headers["set-cookie"]
    assert 'data-path="/services"' in first.text  # the page takes /services as its address
    again = kept.get(f"/claim/{token}", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/services"
    kept.cookies.delete("kiosk_sid")  # the same browser (it came in through the gate), its session gone
    stranger = kept.get(f"/claim/{token}", follow_redirects=False)
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/?ended=")


def test_a_new_catalogue_drops_the_kept_bodies(kiosks):
    kept, _ = kiosks
    kiosk = kept.app.state.kiosk
    tap(kept, "zhang-wei")
    assert "敬老卡挂失" in kept.get("/item/MZ-003").text
    seed = load_seed()
    renamed = seed.model_copy(
        update={
            "version": seed.version + 1,
            "items": [i.model_copy(update={"name": "敬老卡挂失补办"}) if i.code == "MZ-003" else i for i in seed.items],
        }
    )
    kiosk.catalogue = lambda: renamed
    assert "敬老卡挂失补办" in kept.get("/item/MZ-003").text


def test_kept_bodies_stay_within_their_bytes_and_a_larger_body_is_served_unkept(kiosks):
    kept, fresh = kiosks
    tap(kept, "zhang-wei")
    kiosk = kept.app.state.kiosk
    (first_screen,) = kiosk._bodies.values()
    # A kiosk whose bound holds the first screen and not the all-services list (ten times larger).
    bound = _body_bytes(first_screen) + 500
    kiosk = kept.app.state.kiosk = dataclasses.replace(kiosk, page_cache_bytes=bound)  # the same sessions
    assert kept.get("/services").status_code == 200 and len(kiosk._bodies) == 1
    tap(fresh, "zhang-wei")
    a, b = kept.get("/services?all=1"), fresh.get("/services?all=1")
    assert a.status_code == 200 and "敬老卡挂失" in a.text
    same(a.text, b.text)
    assert list(kiosk._bodies.values()) == [first_screen] and kiosk._bodies.currsize <= bound
