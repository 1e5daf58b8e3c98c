"""What the kiosk's browser keeps on its disk: nothing a resident typed.

The kiosk's Chromium runs with a profile on disk (``--user-data-dir=/var/cache/shegong-kiosk/profile``,
systemd/edge/shegong-kiosk.service), kept across boots. Chromium saves what is typed into a submitted form
(its autocomplete history, the profile's ``Web Data`` database) and offers it to whoever taps the same
field next — the next resident — and a thief reads it from the disk. The kiosk's forms turn that off
(``autocomplete="off"``). Here 张伟 applies for 婚姻登记档案查询 with a phone number and a mobile number for
SMS notices, in a Chromium with a profile of its own as the kiosk's; once the browser is closed, no file
of the profile holds either number. And each start of the kiosk's browser (its unit's ``ExecStartPre``
lines, run here as systemd runs them, on this test's folders) begins with an empty profile: a profile left
by a browser before — history, sessions, form entries kept before the forms said otherwise — is gone.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

UNIT = Path(__file__).resolve().parents[3] / "systemd" / "edge" / "shegong-kiosk.service"
PHONE = "13800138000"
NOTIFY = "13912340000"


def _apply(k, profile: Path) -> None:
    """张伟's application for 婚姻登记档案查询, in a Chromium with its profile at ``profile``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, locale="zh-CN"
        )
        try:
            page = context.new_page()
            page.set_default_timeout(8000)
            k.admit(page)
            page.wait_for_selector("#tap-card")
            k.tap("zhang-wei")
            page.wait_for_url(re.compile(r"/services$"))
            page.goto(f"{k.url}/item/DA-001/apply")
            page.fill("#field_phone", PHONE)
            page.check("input[name=field_purpose][value=办理继承]")
            page.fill("#notify_phone", NOTIFY)
            page.check("#notify_consent")
            page.click("#to-confirm")
            page.wait_for_url(re.compile(r"/confirm$"))
            page.click("#submit")
            page.wait_for_url(re.compile(r"/receipt/"))
            page.click("#finish")
            page.wait_for_url(re.compile(r"/\?ended=finish$"))
        finally:
            context.close()


def test_the_kiosk_browser_keeps_no_typed_phone_number_in_its_profile(start_kiosk, tmp_path: Path):
    k = start_kiosk()
    profile = tmp_path / "kiosk-profile"
    _apply(k, profile)
    kept = {
        str(path.relative_to(profile)): [n for n in (PHONE, NOTIFY) if n.encode() in path.read_bytes()]
        for path in profile.rglob("*")
        if path.is_file()
    }
    assert {name: found for name, found in kept.items() if found} == {}


def test_each_start_of_the_kiosk_browser_begins_with_an_empty_profile(start_kiosk, tmp_path: Path):
    k = start_kiosk()
    cache, run = tmp_path / "cache", tmp_path / "run"
    profile = cache / "profile"
    _apply(k, profile)
    assert (profile / "Default" / "History").exists(), "the browser kept its history of the visit"
    run.mkdir()
    (run / "kiosk.html").write_text("the way in\n")  # written by the terminal; the unit waits for it
    unit = UNIT.read_text().replace("/var/cache/shegong-kiosk", str(cache)).replace("/run/shegong", str(run))
    for line in re.findall(r"^ExecStartPre=(.+)$", unit, re.M):
        subprocess.run(shlex.split(line), check=True, timeout=30)
    assert not profile.exists() or not any(profile.iterdir())
