"""No log line of the terminal carries a resident's name, ID number, address or phone number (DESIGN §6),
through what a resident does at the kiosk: tap the card, apply (with a phone number), submit, print the
receipt, look at 我的办件, look a receipt up by number, query code and ID number typed.

An invariants review found the edge's logging checked only through its formatter, which masks ID numbers;
a case logged with the resident's name at acceptance passed every test. Everything the root logger
receives at DEBUG is read here, messages and arguments as formatted, tracebacks included."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from edge.devices.sim.identities import identity
from edge.kiosk.app import create_app
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings, KioskSettings
from tests.support import holder_at_kiosk

WHO = identity("zhang-wei")
PHONE = "13917654321"


def _post(client: TestClient[Any], path: str, form: dict[str, str]) -> Any:
    return client.post(path, data=form, headers={"x-csrftoken": client.cookies.get("csrftoken", "")})


def test_a_residents_visit_leaves_no_personal_data_in_the_log(tmp_path: Path, every_log_line, caplog):
    caplog.set_level(logging.DEBUG)
    runtime = EdgeRuntime(EdgeSettings(data_dir=tmp_path, min_free_disk_mb=0))
    app = create_app(runtime, None, config=KioskSettings(idle_timeout_s=600, warn_before_s=20))
    try:
        with TestClient(app) as client:
            holder_at_kiosk(client, WHO.key)
            sent = _post(client, "/item/DA-001/apply", {"field_phone": PHONE, "field_purpose": "其他"})
            assert sent.status_code == 200, sent.text[-300:]
            receipt = _post(client, "/item/DA-001/submit", {})
            assert receipt.status_code == 200 and "回执" in receipt.text
            case = runtime.cases.cases_by_id([p.item_id for p in runtime.outbox.pending("cases", 0, 10)])[0]
            assert client.get("/cases").status_code == 200
            lookup = {"receipt_no": str(case["receipt_no"]), "query_code": "ZZZZZZ", "id_number": WHO.id_number}
            assert _post(client, "/progress", lookup).status_code in (200, 503)  # 503: no lookup key offline
    finally:
        runtime.close()
    lines = every_log_line.getvalue() + caplog.text
    assert "case accepted" in lines, "the visit was logged"
    for secret in (WHO.name, WHO.id_number, WHO.id_number[:14], WHO.address, PHONE):
        at = lines.find(secret)
        assert at < 0, f"a log line carries {secret!r}: …{lines[max(0, at - 120) : at + 40]}"
