"""A fault of the kiosk's own (a bug, a disk error the store did not expect) shows the resident a page in
Chinese asking them to call staff, and leaves the operator a log line with the traceback — not Litestar's
bare JSON 500 with nothing logged (the kiosk app logs nothing by itself; a review found a 500 no one
could trace). The line names the page, not the resident."""

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
    finally:
        runtime.close()
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "出了点问题，请呼叫工作人员。" in page.text
    (record,) = [r for r in caplog.records if r.name == "edge.kiosk.app"]
    assert record.getMessage() == "kiosk page /cases failed"
    assert record.exc_info is not None and "disk I/O error" in str(record.exc_info[1])
    assert WHO.id_number not in caplog.text and WHO.name not in caplog.text
