"""A fault of the kiosk's own (a bug, a disk error the store did not expect) shows the resident a page in
Chinese asking them to call staff, and leaves the operator a log line with the traceback — not Litestar's
bare JSON 500 with nothing logged (the kiosk app logs nothing by itself; a review found a 500 no one
could trace). The line names the page, not the resident.

Every error page (fault, not found, expired form, no session, the gate's refusal) carries the kiosk's
headers: no-store above all. A personal-data review found a 404 page greeting the card holder by name in
the kiosk browser's disk cache: the error handlers' answers skipped the hook that sets them."""

from __future__ import annotations

import logging
from pathlib import Path

from litestar.testing import TestClient

from edge.devices.sim.identities import identity
from edge.kiosk.app import create_app
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings, KioskSettings
from tests.support import holder_at_kiosk

WHO = identity("zhang-wei")


def test_a_fault_shows_a_chinese_page_and_logs_its_traceback(tmp_path: Path, caplog):
    runtime = EdgeRuntime(EdgeSettings(data_dir=tmp_path, min_free_disk_mb=0))
    app = create_app(runtime, None, config=KioskSettings(idle_timeout_s=600, warn_before_s=20))

    def broken(id_number: str) -> list[dict[str, object]]:
        raise OSError("disk I/O error")

    runtime.cases.cases_of = broken
    try:
        with TestClient(app) as client, caplog.at_level(logging.ERROR, logger="edge.kiosk"):
            holder_at_kiosk(client, WHO.key)
            page = client.get("/cases")
            missing = client.get("/receipt/no-such-case")
            expired = client.post("/finish", data={})  # no CSRF token: 403
        with TestClient(app) as stranger:  # not the kiosk's own browser
            refused = stranger.get("/services")
    finally:
        runtime.close()
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "出了点问题，请呼叫工作人员。" in page.text
    (record,) = [r for r in caplog.records if r.name == "edge.kiosk.app" and r.levelno >= logging.ERROR]
    assert record.getMessage() == "kiosk page /cases failed"
    assert record.exc_info is not None and "disk I/O error" in str(record.exc_info[1])
    assert WHO.id_number not in caplog.text and WHO.name not in caplog.text

    assert (missing.status_code, expired.status_code, refused.status_code) == (404, 403, 403)
    assert WHO.name in missing.text, "the 404 page greets the holder: exactly why it must not be stored"
    for answer in (page, missing, expired, refused):
        assert answer.headers.get("cache-control") == "no-store", answer.status_code
        assert "default-src 'self'" in answer.headers.get("content-security-policy", ""), answer.status_code
