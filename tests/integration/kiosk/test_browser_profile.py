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

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
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


#: What the kiosk's browser must be told, as Chromium's policy list names it: no password manager (a saved
#: staff PIN would be filled in for the next person at the staff login; ``autocomplete="off"`` does not stop
#: it), no address or card autofill, no history, no translation bubble, no sign-in or sync, no metrics.
WANTED = {
    "PasswordManagerEnabled": "false",
    "AutofillSettings": '[{"blocked_types":["contact_info","payments"],"url_pattern":"*"}]',
    "SavingBrowserHistoryDisabled": "true",
    "TranslateEnabled": "false",
    "BrowserSignin": "0",
    "SyncDisabled": "true",
    "MetricsReportingEnabled": "false",
}

_POLICY_PAGE = """
import json, sys
from playwright.sync_api import sync_playwright
with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=sys.argv[1], args=sys.argv[2:])
    page = browser.new_page()
    page.goto("chrome://policy")
    page.wait_for_selector(".policy.row")
    print(json.dumps([" ".join(t.split()) for t in page.locator(".policy.row").all_inner_texts()]))
    browser.close()
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare (a private /etc/chromium)"
)
def test_debians_chromium_applies_the_policies_provisioning_writes(tmp_path: Path):
    """Provisioning's policy file, in /etc/chromium/policies/managed of a private mount namespace (this
    machine's /etc untouched), as Debian's Chromium reads it: chrome://policy lists each as applied (OK)."""
    from provisioning import render

    (tmp_path / "policy.json").write_text(render.kiosk_browser_policy())
    (tmp_path / "page.py").write_text(_POLICY_PAGE)
    folder = Path(render.BROWSER_POLICY_PATH).parent
    script = (
        f"mount -t tmpfs tmpfs /etc/chromium && mkdir -p {folder} && cp policy.json {render.BROWSER_POLICY_PATH}"
        f" && exec {shlex.quote(sys.executable)} page.py {shlex.join([CHROMIUM, *CHROMIUM_ARGS])}"
    )
    out = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {row.split(" ", 1)[0]: row for row in json.loads(out.stdout) if "Not set" not in row}
    assert rows == {name: f"{name} {value} Platform Machine Mandatory OK" for name, value in WANTED.items()}
