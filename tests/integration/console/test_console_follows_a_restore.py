"""The console open while a technician restores the terminal's database from another shell: it reads the
restored database at its next refresh, not the file the restore replaced (it showed the old outbox and audit
chain until restarted). The cases accepted since the backup are carried into the restored database; an alarm
raised since is not (the restored file's own state shows)."""

from __future__ import annotations

from pathlib import Path

from edge.console.store import ConsoleStore
from edge.night.backup import Backups
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings
from edge.store.cases import NewCase
from protocol.envelope import utcnow
from tests.support import applicant


def test_the_console_reads_the_database_a_restore_put_in_place(tmp_path: Path):
    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge")
    with EdgeRuntime(settings) as rt:  # no broker: every case stays in the outbox
        rt.cases.set_lookup_key(bytes(range(32)))
        first = rt.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
        Backups(settings).take(utcnow())
        for n in (2, 3):
            rt.cases.submit(NewCase(item_code="JB-001", applicant=applicant(n)))
        rt.alarms.raise_("printer_paper_out", "printer out of paper")  # not carried by a restore
    store = ConsoleStore(settings)
    try:
        before = store.facts()
        assert before.outbox.depth == 3 and "printer_paper_out" in before.alarms
        restored = Backups(settings).restore()
        assert restored.backup.name.startswith("edge-")  # the night's backup, one case in it
        after = store.facts()
        assert "printer_paper_out" not in after.alarms, "the restored file read, not the one it replaced"
        assert after.outbox.depth == 3 and after.oldest_receipt == first.receipt_no  # the later two carried over
        assert restored.cases_carried == 2
        # the entries made since the backup were carried over: the chain is as long as before, and whole
        assert restored.audit_carried >= 2 and after.audit_entries == before.audit_entries
        assert store.verify_audit()[1] is None
    finally:
        store.close()
