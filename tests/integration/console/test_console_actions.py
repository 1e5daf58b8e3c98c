"""Every console action, pressed from the keyboard, against a real store (and, where it needs one, a running
terminal on a real Mosquitto): each is carried out, and each leaves a ``console.*`` entry by the technician in
the terminal's audit chain. No resident's ID number or name ever reaches the screen."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text
from textual.widgets import Button, DataTable, Static

from edge.console.store import ConsoleStore
from edge.control import ControlServer, socket_path
from edge.errors import EdgeError
from edge.runtime import EdgeRuntime
from edge.store import audit
from edge.store.cases import NewCase
from edge.store.db import open_engine
from edge.store.outbox import Outbox
from protocol.cases import CaseEvent, CaseStatus
from tests.integration.console.conftest import ACCEPTED_AT, console_app, queue_cases, terminal_settings, this_technician
from tests.support import applicant, wait_for

pytestmark = pytest.mark.anyio


def console_entries(settings) -> list[tuple[str, str, dict]]:
    with sqlite3.connect(settings.db_path) as db:
        rows = db.execute("SELECT actor, action, data FROM audit_entries WHERE action LIKE 'console.%' ORDER BY id")
        return [(actor, action, json.loads(data)) for actor, action, data in rows]


async def press(app, pilot, button_id: str) -> None:
    app.query_one(f"#{button_id}", Button).focus()
    await pilot.press("enter")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def screen_text(app) -> str:
    return app.export_screenshot()


@pytest.fixture
def running(tmp_path, broker):
    """A terminal service on a real broker, with its control socket, as `shegong edge run` has it."""
    s = terminal_settings(tmp_path / "live", broker_port=broker.port)
    queue_cases(s, 2)
    rt = EdgeRuntime(s)
    rt.start_sync()
    server = ControlServer(rt, socket_path(s.runtime_dir), "9.9.9").start()
    wait_for(rt.agent.connected_event.is_set, what="terminal online")
    yield s, rt
    server.close()
    rt.close()


async def test_send_now_reconnect_and_resync_reach_the_running_terminal_and_are_audited(running, broker):
    from edge.console.store import ConsoleStore
    from protocol import topics
    from protocol.codec import decode
    from protocol.state import Birth

    settings, rt = running
    births: list[int] = []  # what the hub hears on the terminal's state topic: each birth's bd_seq

    def heard(_c, _u, msg) -> None:
        message = decode(msg.payload) if msg.payload else None
        if isinstance(message, Birth):
            births.append(message.body.bd_seq)

    hub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-hub-births")
    hub.on_message = heard
    hub.connect("127.0.0.1", broker.port)
    hub.subscribe(topics.state(settings.terminal_id), qos=1)
    hub.loop_start()
    store = ConsoleStore(settings)
    app = console_app(settings, store)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.readings.status["link"] == "online" and app.readings.status["app_version"] == "9.9.9"
        await pilot.press("2")
        connects = rt.agent.stats["connects"]
        for name in ("send_now", "reconnect"):
            await press(app, pilot, f"do-{name}")
        wait_for(lambda: rt.agent.stats["connects"] > connects, what="reconnected on the technician's word")
        wait_for(lambda: rt.agent.state == "online", what="online again")
        # The new connection's birth carries a higher bd_seq than the first one heard (retained, of the first
        # connection); the resync is one more birth of this same connection.
        wait_for(lambda: births and max(births) > births[0], what="the birth of the new connection")
        await press(app, pilot, "do-resync")
        wait_for(lambda: births.count(max(births)) == 2, what="the birth the technician asked for, at the broker")
    hub.loop_stop()
    hub.disconnect()
    store.close()
    # What the agent did, in its own words: resent the unacked items (online), dropped the link and
    # connected again, published a birth (the hub resends the case events this terminal lacks).
    me, mine = this_technician()  # as the kernel names the console's process: nothing the console declares
    assert [(a, act, d) for a, act, d in console_entries(settings)] == [
        (me, "console.send_now", {"ok": True, "outcome": "resent", **mine}),
        (me, "console.reconnect", {"ok": True, "outcome": "reconnecting", **mine}),
        (me, "console.resync", {"ok": True, "outcome": "birth", **mine}),
    ]


async def test_asking_a_stopped_terminal_says_so_and_is_audited_as_failed(settings, store):
    app = console_app(settings, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await press(app, pilot, "do-send_now")
    [(actor, action, data)] = console_entries(settings)
    me, mine = this_technician()  # the console's own entry names it as the terminal would over its socket
    assert (actor, action, data) == (me, "console.send_now", {"ok": False, "error": "not_running", **mine})


async def test_parked_items_show_the_hubs_reason_by_receipt_and_unpark_puts_them_back(settings, store):
    with sqlite3.connect(settings.db_path) as db:
        ids = [r[0] for r in db.execute("SELECT item_id FROM outbox ORDER BY seq LIMIT 2")]
    Outbox(store.engine).park(ids, "schema_invalid: unknown item MZ-001")
    app = console_app(settings, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("2")
        await pilot.pause()
        table = app.query_one("#parked", DataTable)
        first = table.get_row_at(0)
        assert first[0] == "JW001-20260302-0001" and "schema_invalid" in first[3]
        assert table.row_count == 2
        await press(app, pilot, "do-unpark")
        assert app.query_one("#parked", DataTable).row_count == 0
    assert Outbox(store.engine).stats().parked == 0
    assert console_entries(settings)[-1][1:] == ("console.unpark", {"items": 2, **this_technician()[1]})


async def test_audit_verify_anchor_purge_after_a_dry_run_and_backup(settings, store):
    app = console_app(settings, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        assert app.query_one("#do-purge", Button).disabled, "no purge before a dry run"
        await press(app, pilot, "do-verify")
        assert "审计链完好：3 条" in str(app.query_one("#audit-result", Static).render())
        await press(app, pilot, "do-anchor")
        assert "锚点：4 条" in str(app.query_one("#audit-result", Static).render())  # the verify is entry 4
        await press(app, pilot, "do-dry_run")
        assert "预演：将清理 0 件" in str(app.query_one("#audit-result", Static).render())
        assert not app.query_one("#do-purge", Button).disabled
        await press(app, pilot, "do-purge")
        await press(app, pilot, "do-backup")
    backups = list((settings.data_dir / "backups").glob("edge-*.db"))
    assert len(backups) == 1 and stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    with sqlite3.connect(backups[0]) as db:
        assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 3
    actions = [action for _, action, _ in console_entries(settings)]
    assert actions == [
        "console.audit_verify",
        "console.audit_anchor",
        "console.purge_dry_run",
        "console.purge",
        "console.backup",
    ]
    checked, broken = store.verify_audit()
    assert broken is None and checked == 3 + 5
    # as the terminal itself and the hub read them: every entry the console wrote is signed with the
    # terminal's key (unsigned ones broke the chain at the hub, and the night's audit step every night)
    engine = open_engine(settings)
    try:
        with engine.connect() as conn:
            assert audit.verify(conn) == (3 + 6, None)  # the verify above is one more
    finally:
        engine.dispose()


async def test_without_the_audit_key_the_console_changes_nothing(settings, tmp_path):
    """Run as another user (the key file unreadable), the console would have appended unsigned entries."""
    settings.audit_key_path.rename(tmp_path / "elsewhere.key")
    blind = ConsoleStore(settings)
    try:
        with pytest.raises(EdgeError, match="audit key"):
            blind.unpark()
        assert console_entries(settings) == []
    finally:
        blind.close()


async def test_settings_in_force_with_secrets_masked(tmp_path):
    from edge.console.store import ConsoleStore

    s = terminal_settings(tmp_path / "e", broker_password="s3cret-pw-xyz", kiosk={"staff_pins": "w01:scrypt$1$2$3$a$b"})
    queue_cases(s, 1)
    store = ConsoleStore(s)
    app = console_app(s, store)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        table = app.query_one("#settings-table", DataTable)
        assert table.get_row("terminal_id") == ["terminal_id", "T-0001"]
        assert table.get_row("broker_password")[1] == "（已设置，已隐藏）"
        assert table.get_row("kiosk.staff_pins")[1] == "（已设置，已隐藏）"
        shown = screen_text(app)
    store.close()
    assert "s3cret" not in shown and "scrypt" not in shown


async def test_network_diagnostics_read_the_broker_and_are_audited(tmp_path, broker):
    from edge.console.store import ConsoleStore

    s = terminal_settings(tmp_path / "e", broker_port=broker.port)
    queue_cases(s, 1)
    store = ConsoleStore(s)
    app = console_app(s, store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("6")
        await press(app, pilot, "do-diagnose")
        text = str(app.query_one("#net-result", Static).render())
    store.close()
    assert f"127.0.0.1:{broker.port}" in text
    assert "域名解析: 通过" in text and "TCP 连接: 通过" in text
    assert "登录代理: 通过" in text and "检测时间：" in text  # the terminal is stopped: a login of our own
    assert console_entries(s)[-1][1] == "console.network_diagnose"


def test_a_stalled_broker_fails_the_login_step_though_its_port_answers(broker):
    """The broker frozen (SIGSTOP) or cut off behind an open port: name lookup and TCP could pass and the check
    said 通过; a login shows nothing answers."""
    import signal

    from edge.console.netdiag import login

    broker.proc.send_signal(signal.SIGSTOP)
    try:
        stalled = login("127.0.0.1", broker.port, None, "T-0001", None, timeout_s=1.0)
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    assert not stalled.ok and "no answer" in stalled.detail, stalled
    assert login("127.0.0.1", broker.port, None, "T-0001", None).ok


async def test_logs_filter_by_level_and_component_and_never_show_an_id_number(settings, store, tmp_path):
    number = applicant(7).id_number
    log = tmp_path / "edge.log"
    log.write_text(
        "2026-03-02 09:30:00,001 INFO edge.sync.agent: online as T-0001 (bd_seq 3)\n"
        f"2026-03-02 09:30:01,002 ERROR edge.kiosk.app: lookup failed for {number}\n"
        "2026-03-02 09:30:02,003 WARNING edge.devices.service: printer offline\n",
        encoding="utf-8",
    )
    app = console_app(settings, store, log_file=log)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        table = app.query_one("#log-lines", DataTable)
        assert table.row_count == 3
        assert number not in screen_text(app)
        assert f"{number[:6]}" in table.get_row_at(1)[3] and number not in table.get_row_at(1)[3]
        table.focus()
        await pilot.press("v")  # WARNING and above
        await pilot.pause()
        assert table.row_count == 2
        app.query_one("#log-component").focus()
        await pilot.press(*"edge.kiosk")
        await pilot.pause()
        assert [table.get_row_at(i)[2] for i in range(table.row_count)] == ["edge.kiosk.app"]


def announcement(version: int) -> bytes:
    """The hub's retained announcement of the seed catalogue as ``version``, made here as the hub makes it."""
    from protocol.catalogue import Catalogue, load_seed
    from protocol.catalogue_sync import AnnouncementBody, CatalogueAnnouncement, manifest_hash
    from protocol.envelope import utcnow

    seed = load_seed()
    c = Catalogue(version=version, departments=seed.departments, items=seed.items)
    body = AnnouncementBody(
        version=version,
        content_hash=c.content_hash(),
        manifest_hash=manifest_hash(c.manifest()),
        items=len(c.items),
        published_at=utcnow(),
    )
    return CatalogueAnnouncement(terminal="hub", body=body).encode()


async def test_catalogue_shows_the_version_in_force_and_fetch_now_asks_the_hub_directly(running, broker):
    """No hub answers here: the announced version stays wanted. "Fetch now" has the running agent send the
    request at once, on the link it has (no reconnect), and the broker carries it up."""
    from edge.console.store import ConsoleStore
    from protocol import topics

    settings, rt = running
    requests: list[bytes] = []
    hub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-hub")
    hub.on_message = lambda _c, _u, msg: requests.append(msg.payload)
    hub.connect("127.0.0.1", broker.port)
    hub.subscribe(topics.up(settings.terminal_id, topics.Up.CATALOGUE), qos=1)
    hub.loop_start()
    store = ConsoleStore(settings)
    app = console_app(settings, store)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.press("3")
            await press(app, pilot, "do-fetch")  # nothing announced yet
            hub.publish(topics.catalogue(), announcement(7), qos=1, retain=True).wait_for_publish(10)
            wait_for(lambda: len(requests) == 1, what="the terminal's own request on the announcement")
            await app.workers.wait_for_complete()
            app.action_refresh()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "中心发布版本：7" in str(app.query_one("#catalogue-versions", Static).render())
            connects = rt.agent.stats["connects"]
            await press(app, pilot, "do-fetch")
            wait_for(lambda: len(requests) == 2, what="the request the technician asked for")
            assert rt.agent.stats["connects"] == connects, "asked on the link it had: no reconnect"
    finally:
        hub.publish(topics.catalogue(), b"", qos=1, retain=True).wait_for_publish(10)
        hub.loop_stop()
        hub.disconnect()
        store.close()
    mine = this_technician()[1]
    assert [e[1:] for e in console_entries(settings)] == [
        ("console.fetch_catalogue", {"ok": True, "outcome": "no_announcement", **mine}),
        ("console.fetch_catalogue", {"ok": True, "outcome": "requested", **mine}),
    ]


async def test_catalogue_shows_the_technician_a_hub_announcing_a_version_below_the_one_in_force(running, broker):
    """The hub's database was restored from a backup older than its last publication: it announces version
    2 while the terminal runs version 3 with other content. The terminal keeps 3 and reports the conflict to
    the hub; the technician in front of it sees it too, in Chinese, with what happens next."""
    from edge.console.store import ConsoleStore
    from protocol import topics
    from protocol.catalogue import Catalogue, load_seed
    from protocol.envelope import utcnow

    settings, rt = running
    seed = load_seed()
    renamed = [i.model_copy(update={"name": i.name + "（新）"}) if n == 0 else i for n, i in enumerate(seed.items)]
    rt.catalogue.apply(Catalogue(version=3, departments=seed.departments, items=renamed), utcnow())
    hub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-hub")
    hub.connect("127.0.0.1", broker.port)
    hub.loop_start()
    store = ConsoleStore(settings)
    app = console_app(settings, store)
    try:
        hub.publish(topics.catalogue(), announcement(2), qos=1, retain=True).wait_for_publish(10)
        wait_for(lambda: rt.catalogue_sync.stats["conflicts"] == 1, what="the terminal hears the older version")
        async with app.run_test(size=(100, 30)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.press("3")
            await pilot.pause()
            shown = str(app.query_one("#catalogue-versions", Static).render())
            assert "在用目录版本：3" in shown
            assert "中心公布的目录版本 2 低于在用版本 3，且内容不同" in shown
            assert "本机继续使用版本 3" in shown
            assert app.query_one("#catalogue-versions", Static).has_class("warning")
    finally:
        hub.publish(topics.catalogue(), b"", qos=1, retain=True).wait_for_publish(10)
        hub.loop_stop()
        hub.disconnect()
        store.close()
    assert rt.catalogue.version == 3, "kept"


async def test_catalogue_shows_which_holiday_calendar_the_kiosk_counts_on(running, broker):
    """The technician sees whether the terminal counts on the shipped calendar or the centre's, and since
    when: a kiosk promising other dates than the centre's is found at the terminal."""
    from datetime import date

    from edge.console.store import ConsoleStore
    from hub.calendar.publish import calendar_message
    from protocol import topics
    from protocol.workdays import Holiday, load_seed_calendar

    settings, rt = running
    seed = load_seed_calendar()
    new_year = Holiday(name="元旦", first=date(2027, 1, 1), last=date(2027, 1, 1))
    centre = seed.model_copy(update={"years": [2026, 2027], "holidays": [*seed.holidays, new_year]})
    hub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-hub")
    hub.connect("127.0.0.1", broker.port)
    hub.loop_start()
    store = ConsoleStore(settings)
    try:
        async with console_app(settings, store).run_test(size=(100, 30)) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.press("3")
            await pilot.pause()
            shown = str(pilot.app.query_one("#catalogue-versions", Static).render())
            assert "节假日安排：出厂自带（2026 年），尚未收到中心下发的" in shown
        hub.publish(topics.calendar(), calendar_message(centre), qos=1, retain=True).wait_for_publish(10)
        wait_for(lambda: rt.calendar.from_hub, what="the terminal keeps the centre's calendar")
        async with console_app(settings, store).run_test(size=(100, 30)) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.press("3")
            await pilot.pause()
            shown = str(pilot.app.query_one("#catalogue-versions", Static).render())
            assert re.search(r"节假日安排：中心下发（2026、2027 年），\d{4}-\d\d-\d\d \d\d:\d\d 收到", shown), shown
    finally:
        hub.publish(topics.calendar(), b"", qos=1, retain=True).wait_for_publish(10)
        hub.loop_stop()
        hub.disconnect()
        store.close()


async def test_a_staff_pin_reset_writes_a_new_hash_shows_the_pin_once_and_audits_only_the_staff_id(
    settings, store, tmp_path, monkeypatch
):
    from edge.kiosk.staff import StaffDirectory, hash_pin

    config = tmp_path / "edge.toml"
    config.write_text(
        f'terminal_id = "T-0001"\n\n[kiosk]\nstaff_pins = "w01:{hash_pin("111111")},w02:{hash_pin("222222")}"\n'
        '[committee_area]\ndistrict = "浦东新区"\nstreets = [{street = "潍坊路", lanes = "1-200"}]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SHEGONG_EDGE_CONFIG", str(config))
    app = console_app(settings, store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        app.query_one("#pin-staff").focus()
        await pilot.press(*"w01")
        await press(app, pilot, "do-pin_reset")
        said = str(app.query_one("#pin-result", Static).render())
    pin = re.search(r"新密码：(\d{6})", said)[1]
    staff = StaffDirectory(terminal_settings(tmp_path / "edge").kiosk.staff_pins or "")
    assert staff.login("w01", pin) and not staff.login("w01", "111111")
    assert staff.login("w02", "222222"), "the other staff member keeps theirs"
    assert 'district = "浦东新区"' in config.read_text(encoding="utf-8")
    [(actor, action, data)] = console_entries(settings)
    assert (action, data) == ("console.pin_reset", {"staff": "w01", **this_technician()[1]})
    assert pin not in json.dumps(data)


def test_a_pin_reset_for_a_staff_id_the_terminal_has_not_makes_no_new_sign_in(tmp_path, monkeypatch):
    """A typo ('w10' for 'w01') answered 已为 w10 重置密码 and added a staff sign-in that could 代办."""
    from edge.console.pins import reset_pin
    from edge.kiosk.staff import hash_pin

    config = tmp_path / "edge.toml"
    before = f'[kiosk]\nstaff_pins = "w01:{hash_pin("111111")}"\n'
    config.write_text(before, encoding="utf-8")
    with pytest.raises(EdgeError, match="no staff member w10"):
        reset_pin(config, "w10")
    assert config.read_text(encoding="utf-8") == before


async def test_a_pin_reset_holds_at_once_in_the_running_kiosk(settings, store, tmp_path, monkeypatch):
    """The running terminal's kiosk reads the PINs again when the console asks: no restart."""
    from edge.kiosk.app import create_app
    from edge.kiosk.staff import hash_pin

    config = tmp_path / "edge.toml"
    config.write_text(f'[kiosk]\nstaff_pins = "w01:{hash_pin("111111")}"\n', encoding="utf-8")
    monkeypatch.setenv("SHEGONG_EDGE_CONFIG", str(config))
    rt = EdgeRuntime(terminal_settings(settings.data_dir, kiosk={"staff_pins": f"w01:{hash_pin('111111')}"}))
    kiosk = create_app(rt).state.kiosk
    server = ControlServer(rt, socket_path(settings.runtime_dir)).start()
    try:
        assert kiosk.staff.login("w01", "111111")
        app = console_app(settings, store)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("5")
            app.query_one("#pin-staff").focus()
            await pilot.press(*"w01")
            await press(app, pilot, "do-pin_reset")
            said = str(app.query_one("#pin-result", Static).render())
            notes = [n.message for n in app._notifications]
        pin = re.search(r"新密码：(\d{6})", said)[1]
        assert kiosk.staff.login("w01", pin) and not kiosk.staff.login("w01", "111111")
        assert "已为 w01 重置密码，运行中的终端已立即生效" in notes
    finally:
        server.close()
        rt.close()


async def test_a_dry_run_says_what_retention_holds_while_no_night_reaches_the_hub(tmp_path):
    """A case closed, acked and confirmed long ago, and no reconciliation since: the technician is told it is
    held and why, not only that nothing would go."""
    settings = terminal_settings(tmp_path / "edge")
    with EdgeRuntime(settings) as rt:
        long_ago = ACCEPTED_AT - timedelta(days=60)
        case = rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)), now=long_ago)
        rt.outbox.acked([str(case.case_id)], at=long_ago)
        done = CaseEvent(event_id=1, case_id=case.case_id, version=1, status=CaseStatus.COMPLETED, at=long_ago)
        rt.cases.apply_events([done])
        with rt.engine.begin() as conn:  # confirmed by a night 59 days ago, none since
            conn.execute(text("UPDATE cases SET reconciled_at = created_at"))
    store = ConsoleStore(settings)
    try:
        app = console_app(settings, store)
        async with app.run_test(size=(120, 24)) as pilot:
            await pilot.press("4")
            await pilot.pause()
            await press(app, pilot, "do-dry_run")
            said = str(app.query_one("#audit-result", Static).render())
        assert "预演：将清理 0 件" in said and "另有 1 项已到期但暂不清理：近两日未能与中心对账" in said
    finally:
        store.close()
