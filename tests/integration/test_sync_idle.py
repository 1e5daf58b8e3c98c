"""An idle terminal's sync agent: it does not read its outbox on every turn of its loop, and still sends at
once what any process commits to the store.

Before the outbox's version was read, a terminal online with nothing to send queried both of its channels
on every turn (fifty a second then): 6.6 % of a server core, about a quarter of a Raspberry Pi's, and the
kiosk's pages waited for the GIL behind it.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

from edge.store.cases import NewCase
from edge.store.outbox import Outbox
from edge.sync.agent import Ask
from kernel.db import make_engine
from tests.support import applicant, wait_for


def _counted(edge, name: str) -> list[object]:
    """Record what each call of ``edge.outbox.<name>`` returns, from now on."""
    calls: list[object] = []
    real = getattr(edge.outbox, name)

    def counting(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(out)
        return out

    setattr(edge.outbox, name, counting)
    return calls


def test_an_idle_terminal_online_reads_its_outbox_only_when_the_store_changed(edge_factory):
    edge = edge_factory()
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    time.sleep(0.3)  # past the birth and the first turns
    turns, reads = _counted(edge, "version"), _counted(edge, "pending")
    time.sleep(1.0)
    assert len(turns) >= 5, f"the loop turned {len(turns)} times in a second"  # every 0.1 s or sooner
    # Two reads per turn before (one per channel); now one per channel for each commit to the store, by
    # anything in the terminal (none is expected while it idles; the test holds if one comes).
    commits = len(set(turns)) - 1
    assert commits <= 2, f"the store changed {commits} times while the terminal idled"  # nothing writes then
    assert len(reads) <= 2 * commits, f"{len(reads)} reads in {len(turns)} turns, {commits} commit(s)"

    edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
    wait_for(lambda: edge.agent.stats["batches_sent"] >= 1, what="the new case sent", every=0.01)
    assert 1 <= len(reads) <= 6, f"{len(reads)} reads for one case"


def test_items_another_process_puts_back_are_sent_without_waiting(edge_factory):
    edge = edge_factory()
    ids = [str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(i))).case_id) for i in range(3)]
    edge.outbox.park(ids, "schema_invalid: unknown item")  # as a hub's refusal leaves them
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    time.sleep(0.5)  # the agent has found nothing to send (all parked) and stopped reading
    assert edge.agent.stats["batches_sent"] == 0

    # The field console is a process of its own: it puts them back through an engine of its own.
    db = edge.settings.db_path
    code = (
        "from edge.store.outbox import Outbox; from kernel.db import make_engine; "
        f"print(Outbox(make_engine('sqlite:///{db}')).unpark())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "3"
    started = time.monotonic()
    wait_for(lambda: edge.agent.stats["batches_sent"] >= 1, timeout=5, what="the items put back sent", every=0.01)
    assert time.monotonic() - started < 1.0  # the next turns of the loop, not a poll's period


def test_the_outbox_version_follows_commits_and_never_makes_a_store(tmp_path, edge_factory):
    """SQLite's documented ``data_version``: unchanged until another connection commits; and a store that is
    not there is not made by watching it (a version of None: read every turn)."""
    edge = edge_factory()
    first = edge.outbox.version()
    assert edge.outbox.version() == first  # nothing committed
    with sqlite3.connect(edge.settings.db_path) as other:  # another connection, as another process would
        other.execute("INSERT INTO meta (key, value) VALUES ('test', 1)")
    assert edge.outbox.version() not in (None, first)

    gone = Outbox(make_engine(f"sqlite:///{tmp_path / 'no such store.db'}"))
    assert gone.version() is None  # cannot be read: the agent reads its outbox every turn
    assert not (tmp_path / "no such store.db").exists()


def test_send_now_sends_the_unacked_items_again_though_the_store_did_not_change(edge_factory):
    edge = edge_factory()  # no hub: nothing is acked
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
    wait_for(lambda: edge.agent.stats["batches_sent"] == 1, what="the case sent", every=0.01)
    time.sleep(0.3)  # idle again: the outbox found with nothing more to send
    versions, reads = _counted(edge, "version"), _counted(edge, "pending")
    time.sleep(0.3)
    assert len(reads) <= 2 * (len(set(versions)) - 1)

    assert edge.agent.ask(Ask.SEND_NOW).result(timeout=5) == "resent"  # the field console's "send now"
    wait_for(lambda: edge.agent.stats["batches_sent"] == 2, timeout=2, what="the unacked case sent again")
