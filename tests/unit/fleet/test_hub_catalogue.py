"""The hub's catalogue versions and its answers to terminals, on SQLite and PostgreSQL: import, edit,
publish (once per content), export, and replies that carry exactly what changed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from hub.catalogue.in_force import AGAIN_S, CatalogueInForce
from hub.catalogue.requests import CatalogueRequests
from hub.catalogue.store import MAX_AHEAD, CatalogueError, CatalogueStore
from hub.db.engine import open_engine
from hub.night.restored import Numbers, Replaced, record
from protocol.catalogue import load_seed
from protocol.catalogue_sync import CatalogueReply, CatalogueRequest, CatalogueRequestBody, ReplyStatus, manifest_hash
from protocol.codec import decode
from protocol.envelope import utcnow

SEED = load_seed()


def _bootstrapped(url: str) -> Iterator[CatalogueStore]:
    engine = open_engine(url)
    s = CatalogueStore(engine)
    s.bootstrap()
    yield s
    engine.dispose()


@pytest.fixture
def store(hub_db_url):
    yield from _bootstrapped(hub_db_url)


def test_the_seed_is_version_one_and_an_edited_draft_becomes_version_two(store):
    v1 = store.latest()
    assert v1 is not None and v1.version == 1 and v1.items == 50
    assert v1.content_hash == SEED.content_hash() and v1.manifest_hash == manifest_hash(SEED.manifest())
    assert store.bootstrap() is None  # once only

    code = SEED.items[0].code
    store.update_item(code, {"description": "当场办结。"}, "user:op")
    with pytest.raises(CatalogueError):
        store.update_item(code, {"promised_days": -1}, "user:op")  # refused whole, nothing changed
    v2 = store.publish("user:op", "说明更新")
    assert (v2.version, v2.published_by, v2.note) == (2, "user:op", "说明更新")
    assert store.get(2).item(code).description == "当场办结。"
    assert store.get(1) == SEED  # published versions never change
    with pytest.raises(CatalogueError):
        store.publish("user:op")  # no draft
    store.start_draft("user:op")
    with pytest.raises(CatalogueError, match="相同"):
        store.publish("user:op")  # nothing changed: no new version


def _terminal_runs(store: CatalogueStore, terminal: str, version: int) -> None:
    """What the fleet keeps of a terminal's birth, heartbeat or report: the catalogue version it runs."""
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO fleet_terminals (terminal_id, state, catalogue_version, catalogue_error) "
                "VALUES (:t, 'online', :v, '')"
            ),
            {"t": terminal, "v": version},
        )


def test_the_next_version_is_numbered_above_every_version_a_terminal_runs(store):
    """The hub's database went back to version 1 while terminals run version 3 (restored from a backup
    older than two publications): the draft, numbered 2 before any terminal was heard, is published as 4,
    and the audit entry says which version the numbering passed."""
    code = SEED.items[0].code
    assert store.start_draft("user:op") == 2
    store.update_item(code, {"description": "恢复后修改。"}, "user:op")
    _terminal_runs(store, "T1", 3)
    _terminal_runs(store, "T2", 1)
    assert store.highest_reported() == 3
    published = store.publish("user:op")
    assert published.version == 4 and store.get(4).item(code).description == "恢复后修改。"
    assert [v.version for v in store.versions()] == [4, 1], "the draft renumbered, not copied"
    newest = "SELECT data FROM audit WHERE action = 'catalogue.published' ORDER BY id DESC"
    with store.engine.connect() as conn:
        entry = conn.execute(text(newest)).first()
    assert entry is not None and json.loads(entry[0])["terminals_ran"] == 3
    assert store.start_draft("user:op") == 5


def test_a_terminal_reporting_a_version_far_above_any_publication_does_not_number_the_next(store):
    """One terminal misreporting (2,000,000,000: near the end of a 32-bit column) must not push every later
    version number there; a real gap after a restore (here 1 to 1001) still counts."""
    _terminal_runs(store, "T9", 2_000_000_000)
    assert store.highest_reported() == 0
    store.start_draft("user:op")
    store.update_item(SEED.items[0].code, {"description": "误报不影响编号。"}, "user:op")
    assert store.publish("user:op").version == 2
    _terminal_runs(store, "T1", 2 + MAX_AHEAD)
    assert store.highest_reported() == 2 + MAX_AHEAD


def _restore(store: CatalogueStore, overwritten: int | None) -> int:
    """What ``shegong hub restore`` records after writing a backup over the database (hub.night.restored)."""
    replaced = None if overwritten is None else Replaced(Numbers(overwritten, 0), access=None)
    return record(store.engine, "hub.db.sealed", replaced, "cli:op", utcnow()).catalogue_above


def test_after_a_restore_versions_continue_above_every_number_the_hub_gave(store):
    """A restore recorded with the replaced database's highest number (here 5: the backup holds 1, four
    publications were lost with the database) numbers the next version 6, though no terminal was heard;
    a draft the backup held is renumbered above it too. Restored again over an unreadable database (None),
    numbering cannot know what was lost and continues MAX_AHEAD above the backup's newest, never below a
    number an earlier restore passed."""
    store.start_draft("user:op")  # the backup's draft, numbered 2
    assert _restore(store, 5) == 5
    assert store.publication() == (6, 0)
    store.update_item(SEED.items[0].code, {"description": "恢复后修改。"}, "user:op")
    assert store.publish("user:op").version == 6
    assert store.start_draft("user:op") == 7

    assert _restore(store, None) == 7 + MAX_AHEAD  # the draft 7 is held
    assert _restore(store, 3) == 7 + MAX_AHEAD, "never below an earlier restore"
    store.update_item(SEED.items[1].code, {"description": "再次恢复后修改。"}, "user:op")
    assert store.publish("user:op").version == 8 + MAX_AHEAD
    with store.engine.connect() as conn:
        restored = [
            json.loads(d) for (d,) in conn.execute(text("SELECT data FROM audit WHERE action = 'hub.restored'"))
        ]
    assert [(r["overwritten"], r["catalogue_above"]) for r in restored] == [
        ({"catalogue": 5, "open311_today": 0}, 5),
        (None, 7 + MAX_AHEAD),
        ({"catalogue": 3, "open311_today": 0}, 7 + MAX_AHEAD),
    ]


def test_the_version_in_force_may_be_published_again_while_terminals_run_one_the_hub_lost(store):
    """To bring terminals running a lost version back to the hub's catalogue, the operator publishes the
    same content again; refused as "unchanged" otherwise."""
    store.start_draft("user:op")
    with pytest.raises(CatalogueError, match="相同"):
        store.publish("user:op")
    _terminal_runs(store, "T1", 2)
    again = store.publish("user:op", "恢复后重新发布")
    assert again.version == 3 and again.content_hash == SEED.content_hash()


def test_a_version_a_terminal_reports_above_the_one_in_force_makes_another_process_look_at_once(store):
    """A follower process's catalogue in force is rechecked every ``check_s``; a terminal reporting the
    version the leader published a moment ago makes it look at once (at most every AGAIN_S)."""
    now = [1000.0]
    follower = CatalogueInForce(CatalogueStore(store.engine), check_s=60, clock=lambda: now[0])
    assert follower.published().version == 1
    store.start_draft("user:op")
    store.update_item(SEED.items[0].code, {"description": "另一进程发布。"}, "user:op")
    assert store.publish("user:op").version == 2  # by the leader
    assert follower.published().version == 1, "not due: check_s has not passed"
    assert follower.published(at_least=2).version == 2, "a terminal runs 2: looked at once"
    store.start_draft("user:op")
    store.update_item(SEED.items[0].code, {"description": "再次发布。"}, "user:op")
    assert store.publish("user:op").version == 3
    now[0] += 0.1
    assert follower.published(at_least=3).version == 2, "asked again only after AGAIN_S"
    now[0] += AGAIN_S
    assert follower.published(at_least=3).version == 3 and follower.current().version == 3


def test_export_and_import_round_trip_through_a_file(store):
    exported = json.loads(store.export())
    exported["items"][1]["name"] = "改过的名称"
    exported["items"] = exported["items"][:-1]  # and one item withdrawn
    version = store.import_catalogue(json.dumps(exported, ensure_ascii=False), "cli:op")
    assert version == 2 and store.draft() is not None and len(store.draft().items) == 49
    store.publish("cli:op")
    assert store.get().items[1].name == "改过的名称"
    with pytest.raises(CatalogueError):
        store.import_catalogue(b'{"version": 1, "departments": []}', "cli:op")


def _ask(store, conn, **body) -> CatalogueReply:
    req = CatalogueRequest(terminal="T1", body=CatalogueRequestBody(**body))
    out = CatalogueRequests(store).on_request(conn, req, req.sent_at)
    reply = decode(out[0][1])
    assert isinstance(reply, CatalogueReply) and reply.body.correlation_id == req.body.correlation_id
    return reply


def test_replies_carry_what_changed_since_the_version_the_terminal_runs(store):
    codes = [SEED.items[4].code, SEED.items[9].code]
    for code in codes:
        store.update_item(code, {"name": "新" + store.get().item(code).name[:60]}, "op")
    v2 = store.publish("op")
    with store.engine.connect() as conn:
        diff = _ask(store, conn, version=2, have_version=0, have_hash=SEED.content_hash())
        assert [i.code for i in diff.body.items] == codes and diff.body.complete
        assert diff.body.manifest is not None and manifest_hash(diff.body.manifest) == v2.manifest_hash
        unknown = _ask(store, conn, version=2, have_version=0, have_hash="sha256:not-a-version")
        assert unknown.body.items == [] and unknown.body.manifest is not None  # manifest first, then by code
        by_code = _ask(store, conn, version=2, have_version=0, fetch=[codes[1], "XX-999"])
        assert [i.code for i in by_code.body.items] == [codes[1]]
        missing = _ask(store, conn, version=7, have_version=2, correlation_id=uuid.uuid4())
        assert missing.body.status is ReplyStatus.ERROR and "未发布" in missing.body.error


def test_an_item_saved_while_the_draft_is_published_never_changes_a_published_version(pg_url):
    """Concurrency review: the editor saving an item while another operator published the draft changed
    the version after its publication (the item found the draft in one transaction and wrote it in
    another): its items no longer hashed to what was announced, so every terminal refused it, and workers
    read it before and after the change. Every published version's items must still be what was published."""
    import contextlib
    import threading

    from sqlalchemy import text as sql

    from hub.catalogue.store import CatalogueError, CatalogueStore
    from hub.db.engine import open_engine

    engine, other = open_engine(pg_url), open_engine(pg_url)
    editor, publisher = CatalogueStore(engine), CatalogueStore(other)
    editor.bootstrap()
    stop, n = threading.Event(), iter(range(1, 10_000))

    def edit() -> None:
        while not stop.is_set():
            editor.update_item("MZ-001", {"description": f"测试说明第{next(n)}版"}, "user:editor")

    def publish() -> None:
        try:
            for _ in range(25):
                with contextlib.suppress(CatalogueError):  # nothing changed since the last: refused, rightly
                    publisher.publish("cli:operator")
        finally:
            stop.set()

    threads = [threading.Thread(target=edit), threading.Thread(target=publish)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        with engine.connect() as conn:
            published = conn.execute(
                sql("SELECT version, content_hash FROM catalogue_versions WHERE published_at IS NOT NULL")
            ).all()
        assert len(published) > 2, "the race ran"
        for version, content_hash in published:
            now = CatalogueStore(engine).published(version).catalogue  # read afresh, not a worker's memory
            assert now.content_hash() == content_hash, f"version {version} changed after it was published"
    finally:
        engine.dispose()
        other.dispose()


@pytest.fixture
def sqlite_store(sqlite_hub_db_url):
    """The store on SQLite alone, for a test of message sizes, not of the database (tests/conftest.py)."""
    yield from _bootstrapped(sqlite_hub_db_url)


def test_a_catalogue_of_a_thousand_items_reaches_a_terminal_in_replies_it_accepts(sqlite_store, tmp_path):
    """A manager's catalogue of 1,000 items (the seed's first copied under new codes across four
    departments). The room for items in a reply was a fixed 64 KB short of the payload limit; a 1,000-item
    manifest alone takes more, so every reply was over the limit, refused by the terminal's decoder, and
    the terminal stayed on its old version for good (a catalogue manager's review). Now a real terminal's
    catalogue sync, answered by the hub's requests, takes the whole version in replies under the limit."""
    from edge.catalogue.store import CatalogueStore as TerminalCatalogue
    from edge.catalogue.sync import CatalogueSync
    from edge.settings import EdgeSettings
    from edge.store.db import open_engine as open_terminal
    from hub.catalogue.announce import announcement
    from protocol.catalogue_sync import CatalogueReport, ReportStatus
    from protocol.envelope import MAX_PAYLOAD_BYTES

    store = sqlite_store
    data = json.loads(store.export())
    first = data["items"][0]
    departments = [d["code"] for d in data["departments"]][:4]
    data["items"] = [{**first, "code": f"{d}-{n:03d}", "department": d} for d in departments for n in range(1, 251)]
    store.import_catalogue(json.dumps(data, ensure_ascii=False), "cli:op")
    published = store.publish("cli:op")
    assert published.items == 1000

    terminal = open_terminal(EdgeSettings(data_dir=tmp_path / "edge", terminal_id="T1"))
    try:
        held = TerminalCatalogue(terminal)
        sync = CatalogueSync(held, "T1")
        out = sync.on_announcement(announcement(published))
        sizes: list[int] = []
        with store.engine.connect() as conn:
            while isinstance(request := decode(out[0][1]), CatalogueRequest):
                (_, raw), *_ = CatalogueRequests(store).on_request(conn, request, request.sent_at)
                sizes.append(len(raw))
                out = sync.on_reply(decode(raw))  # the decoder refuses a payload over the limit
        report = decode(out[0][1])
        assert isinstance(report, CatalogueReport) and report.body.status is ReportStatus.APPLIED
        assert held.version == published.version and len(held.current().items) == 1000
        assert max(sizes) <= MAX_PAYLOAD_BYTES and len(sizes) >= 2, sizes
    finally:
        terminal.dispose()


def test_a_draft_that_drops_a_department_holding_open_cases_is_not_published(store):
    """The queues, the overdue board and the search list the departments of the catalogue in force: a
    version without a department that still holds open cases would hide them from every clerk and the
    manager (a catalogue manager's review). Publication is refused, naming the department and how many;
    once its cases are closed (or routed elsewhere), it goes through."""
    from tests.unit.hub.helpers import ingest

    (case_id,) = ingest(store.engine, ["GA-003"])  # the seed routes GA-003 to GA
    data = json.loads(store.export())
    data["departments"] = [d for d in data["departments"] if d["code"] != "GA"]
    data["items"] = [i for i in data["items"] if i["department"] != "GA"]
    store.import_catalogue(json.dumps(data, ensure_ascii=False), "cli:op")
    with pytest.raises(CatalogueError, match=r"GA \(1\)"):
        store.publish("cli:op")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE cases SET status = 'completed' WHERE case_id = :c"), {"c": case_id})
    assert "GA" not in {d.code for d in store.get(store.publish("cli:op").version).departments}


def test_a_chinese_text_an_import_changes_without_its_english_is_flagged_stale(store):
    """Only the editor's saves noted which Chinese each English text translates; an import — the only way to
    add items — was never checked, so a file that rewrote a Chinese description left its old English
    unflagged on the English kiosk (a catalogue manager's review). An import notes them as a save does."""
    from hub.catalogue import translations

    data = json.loads(store.export())
    (ga003,) = [i for i in data["items"] if i["code"] == "GA-003"]
    assert ga003["description_en"], "the seed's item has English to go stale"
    ga003["description"] = ga003["description"] + "（另需提供近期照片）"  # its English left as it was
    store.import_catalogue(json.dumps(data, ensure_ascii=False), "cli:op")
    draft = store.draft()
    assert translations.stale(store.engine, draft.get("GA-003")) == ["description_en"]
    assert translations.stale(store.engine, draft.get("MZ-001")) == [], "untouched: current"
