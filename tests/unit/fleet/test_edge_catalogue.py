"""A terminal's side of catalogue publishing, against its real SQLite store and no broker: what it
asks for, what it applies (all at once or nothing), what it reports, and what it ignores."""

from __future__ import annotations

import uuid

import pytest

from edge.catalogue.store import CatalogueStore
from edge.catalogue.sync import CatalogueSync
from edge.settings import EdgeSettings
from edge.store.db import open_engine
from protocol import topics
from protocol.catalogue import Catalogue, load_seed
from protocol.catalogue_sync import (
    AnnouncementBody,
    CatalogueAnnouncement,
    CatalogueReply,
    CatalogueReplyBody,
    CatalogueReport,
    CatalogueRequest,
    ReplyStatus,
    ReportStatus,
    manifest_hash,
)
from protocol.codec import decode
from protocol.envelope import utcnow

SEED = load_seed()


@pytest.fixture
def store(tmp_path):
    engine = open_engine(EdgeSettings(data_dir=tmp_path, terminal_id="T1"))
    yield CatalogueStore(engine)
    engine.dispose()


def changed(version: int, *codes: str) -> Catalogue:
    """The seed with ``codes`` renamed, as version ``version``."""
    items = [i.model_copy(update={"name": i.name + "（新）"}) if i.code in codes else i for i in SEED.items]
    return Catalogue(version=version, departments=SEED.departments, items=items)


def announce(c: Catalogue) -> bytes:
    body = AnnouncementBody(
        version=c.version,
        content_hash=c.content_hash(),
        manifest_hash=manifest_hash(c.manifest()),
        items=len(c.items),
        published_at=utcnow(),
    )
    return CatalogueAnnouncement(terminal="hub", body=body).encode()


def request_of(out: list[tuple[str, bytes]]) -> CatalogueRequest:
    assert len(out) == 1 and out[0][0] == topics.up("T1", topics.Up.CATALOGUE)
    msg = decode(out[0][1])
    assert isinstance(msg, CatalogueRequest)
    return msg


def reply(req: CatalogueRequest, c: Catalogue, codes: list[str], **kw: object) -> CatalogueReply:
    body = CatalogueReplyBody(
        correlation_id=req.body.correlation_id,
        version=c.version,
        manifest=c.manifest(),
        departments=list(c.departments),
        items=[c.item(code) for code in codes],
        **kw,  # type: ignore[arg-type]
    )
    return CatalogueReply(terminal="T1", body=body)


def report_of(out: list[tuple[str, bytes]]) -> CatalogueReport:
    msg = decode(out[0][1])
    assert isinstance(msg, CatalogueReport)
    return msg


def test_the_seed_runs_until_a_version_is_applied_and_a_new_one_is_fetched_by_its_changes(store):
    sync = CatalogueSync(store, "T1")
    assert store.version == 0 and store.current() == SEED
    v2 = changed(2, SEED.items[0].code)
    req = request_of(sync.on_announcement(announce(v2)))
    assert (req.body.version, req.body.have_version, req.body.fetch) == (2, 0, None)
    assert req.body.have_hash == SEED.content_hash()

    out = sync.on_reply(reply(req, v2, [SEED.items[0].code]))
    rep = report_of(out)
    assert rep.body.status is ReportStatus.APPLIED and rep.body.version == 2
    assert rep.body.correlation_id == req.body.correlation_id
    assert store.version == 2 and store.current().items[0].name.endswith("（新）")

    reopened = CatalogueStore(store._engine)  # what a restart reads back
    assert reopened.version == 2 and reopened.current() == store.current()


def test_missing_items_are_asked_for_by_code(store):
    sync = CatalogueSync(store, "T1")
    codes = [SEED.items[1].code, SEED.items[2].code]
    v2 = changed(2, *codes)
    req = request_of(sync.on_announcement(announce(v2)))
    again = request_of(sync.on_reply(reply(req, v2, [], complete=True)))  # the hub sent only the manifest
    assert again.body.fetch == codes
    assert store.version == 0
    report = report_of(sync.on_reply(reply(again, v2, codes)))
    assert report.body.status is ReportStatus.APPLIED and store.version == 2


def test_older_and_repeated_announcements_are_ignored(store):
    sync = CatalogueSync(store, "T1")
    v3 = changed(3, SEED.items[0].code)
    req = request_of(sync.on_announcement(announce(v3)))
    assert sync.on_announcement(announce(changed(2, SEED.items[5].code))) == []  # older than the one fetched
    assert sync.on_announcement(announce(v3)) == []  # its request is on the way
    report_of(sync.on_reply(reply(req, v3, [SEED.items[0].code])))
    assert sync.on_announcement(announce(changed(2, SEED.items[0].code))) == []  # older, what it holds already
    assert sync.on_announcement(announce(v3)) == []
    assert store.version == 3 and sync.stats["ignored"] == 3


def test_an_older_announcement_of_other_content_is_not_applied_but_reported_as_a_conflict(store):
    """A hub restored from a backup older than its last publication announces its older version: the
    terminal keeps the newer catalogue it runs (asks for nothing), and says so to the hub."""
    sync = CatalogueSync(store, "T1")
    v3 = changed(3, SEED.items[0].code)
    report_of(sync.on_reply(reply(request_of(sync.on_announcement(announce(v3))), v3, [SEED.items[0].code])))
    requests = sync.stats["requests"]

    out = sync.on_announcement(announce(changed(2, SEED.items[5].code)))
    report = report_of(out)
    assert len(out) == 1 and out[0][0] == topics.up("T1", topics.Up.CATALOGUE)
    assert report.body.status is ReportStatus.FAILED and report.body.failed_version == 2
    assert report.body.version == 3 and report.body.content_hash == v3.content_hash()
    assert "older than version 3" in report.body.error and "restored" in report.body.error
    assert store.version == 3 and store.current() == v3
    assert sync.stats["requests"] == requests and sync.stats["conflicts"] == 1
    assert sync.fetch_now() == ("up_to_date", []), "the newest it heard is older than what it runs"
    assert sync.state() == {"catalogue_announced": 3, "catalogue_conflict": 2, "catalogue_failure": ""}

    v4 = changed(4, SEED.items[5].code)  # the hub publishes above: the conflict is over
    codes = [SEED.items[0].code, SEED.items[5].code]  # item 0 back as in the seed, item 5 renamed
    report_of(sync.on_reply(reply(request_of(sync.on_announcement(announce(v4))), v4, codes)))
    assert sync.state() == {"catalogue_announced": 4, "catalogue_conflict": None, "catalogue_failure": ""}


def test_the_version_in_force_announced_with_other_content_is_fetched_and_applied(store):
    """A restored hub that published the number the terminal runs again (with other content): a version
    is never published twice, so the hub's is the later publication, and the terminal takes it."""
    sync = CatalogueSync(store, "T1")
    v3 = changed(3, SEED.items[0].code)
    report_of(sync.on_reply(reply(request_of(sync.on_announcement(announce(v3))), v3, [SEED.items[0].code])))

    again = changed(3, SEED.items[7].code)  # the same number, other content: item 0 back, item 7 renamed
    req = request_of(sync.on_announcement(announce(again)))
    assert (req.body.version, req.body.have_version, req.body.have_hash) == (3, 3, v3.content_hash())
    report = report_of(sync.on_reply(reply(req, again, [SEED.items[0].code, SEED.items[7].code])))
    assert report.body.status is ReportStatus.APPLIED and report.body.content_hash == again.content_hash()
    assert store.version == 3 and store.current() == again
    assert CatalogueStore(store._engine).current() == again, "written, not only in memory"
    assert sync.on_announcement(announce(again)) == [], "once it runs it, the same announcement is nothing new"


def test_a_reply_that_does_not_match_the_announcement_is_reported_and_nothing_is_applied(store):
    sync = CatalogueSync(store, "T1")
    v2 = changed(2, SEED.items[0].code)
    req = request_of(sync.on_announcement(announce(v2)))
    forged = changed(2, SEED.items[0].code, SEED.items[1].code)  # what the announcement did not promise
    report = report_of(sync.on_reply(reply(req, forged, [SEED.items[0].code, SEED.items[1].code])))
    assert report.body.status is ReportStatus.FAILED and report.body.failed_version == 2
    assert "announcement" in report.body.error
    assert store.version == 0 and store.current() == SEED
    assert sync.state()["catalogue_failure"] == f"v2: {report.body.error}", "for the maintenance console"


def test_an_error_reply_is_reported_and_a_stale_reply_is_ignored(store):
    sync = CatalogueSync(store, "T1")
    v2 = changed(2, SEED.items[0].code)
    req = request_of(sync.on_announcement(announce(v2)))
    stranger = CatalogueReply(
        terminal="T1", body=CatalogueReplyBody(correlation_id=uuid.uuid4(), version=2, manifest=v2.manifest())
    )
    assert sync.on_reply(stranger) == []  # not an answer to anything we asked
    error = CatalogueReply(
        terminal="T1",
        body=CatalogueReplyBody(
            correlation_id=req.body.correlation_id, status=ReplyStatus.ERROR, error="未发布", version=2
        ),
    )
    report = report_of(sync.on_reply(error))
    assert report.body.status is ReportStatus.FAILED and report.body.error == "hub: 未发布"
    assert store.version == 0


def test_a_catalogue_of_more_items_than_one_request_names_is_fetched_in_parts(store):
    """A catalogue of 2,500 items (the seed's, copied under new codes) whose first reply brings the manifest
    alone: the terminal cannot name every missing item in one request (the protocol bounds ``fetch`` at
    2,000 codes), so it asks for as many as one request takes, then for the rest, and applies the whole."""
    base = SEED.items[0]
    items = [
        base.model_copy(update={"code": f"{d.code}-{n:03d}", "department": d.code})
        for d in SEED.departments[:3]
        for n in range(1000)
    ][:2500]
    big = Catalogue(version=2, departments=SEED.departments, items=items)
    sync = CatalogueSync(store, "T1")
    req = request_of(sync.on_announcement(announce(big)))
    asked: list[int] = []
    out = sync.on_reply(reply(req, big, []))
    while (msg := decode(out[0][1])) and isinstance(msg, CatalogueRequest):
        codes = list(msg.body.fetch or [])
        asked.append(len(codes))
        out = sync.on_reply(reply(msg, big, codes))
    assert asked == [2000, 499]  # MZ-001 is the seed's own, held already
    assert report_of(out).body.status is ReportStatus.APPLIED and store.version == 2
