"""DESIGN §6 on a real Mosquitto: a user per terminal, ACLs confining each to its own topics, TLS.

The broker's files are made as an operator makes them with ``shegong hub broker`` (the hub's user and
the ACL, a user per terminal, a CA and a server certificate for 127.0.0.1); the broker has one TLS
listener and admits no one anonymous. The hub and the terminals log in with their credentials and
verify the broker against the CA. A case and a catalogue change travel as they do on an open broker.
A raw paho client logged in as T1 then tries what a stolen or tampered terminal might: publish as T2
(the broker answers "not authorised" and drops it, which a later legitimate message from T1 proves),
read T2's down channels (it gets nothing), log in with a wrong password or none, speak plain MQTT to
the TLS port. A revoked terminal is cut off and refused once the broker reloads its password file.
``shegong hub audit verify --witnesses`` logs in as the hub's tools' user while a worker holds a message
unacknowledged in its persistent session: the worker is not thrown out and the message stays in its session;
the tools' user may not write what it does not need.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from litestar.testing import TestClient
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import text

from edge.store.cases import NewCase
from harness.broker import Mosquitto
from hub.broker import auth as brokerauth
from hub.settings import WebSettings
from hub.web.app import create_app
from hub.web.services import Services
from protocol import topics
from protocol.cases import Ack, CaseBatch, CaseBatchBody, CaseSubmission
from protocol.envelope import utcnow
from tests.support import applicant, assert_exactly_once, hub_count, register_terminal, seal, wait_for
from tests.unit.hub.helpers import PASSWORDS, add_users

pytestmark = pytest.mark.timeout(60)

NOT_AUTHORISED = {0x86, 0x87}  # MQTT 5: bad user name or password, not authorised


@dataclass(frozen=True)
class Credentials:
    files: brokerauth.BrokerFiles
    hub_password: str
    tools_password: str
    passwords: dict[str, str]


@pytest.fixture
def creds(tmp_path: Path) -> Credentials:
    files = brokerauth.BrokerFiles(tmp_path / "broker-files")
    hub_password = brokerauth.add_hub(files)
    tools_password = brokerauth.add_tool(files)
    passwords = {t: brokerauth.add_terminal(files, t) for t in ("T1", "T2")}
    brokerauth.make_tls(files, ["localhost", "127.0.0.1"])
    return Credentials(files, hub_password, tools_password, passwords)


@pytest.fixture
def broker(tmp_path: Path, creds: Credentials) -> Iterator[Mosquitto]:
    """Replaces conftest's open broker, so ``hub_factory`` and ``edge_factory`` connect to this one."""
    b = Mosquitto(tmp_path / "broker", auth=creds.files.auth(), tls=creds.files.tls()).start()
    yield b
    b.kill()


@pytest.fixture
def hub_db_url(tmp_path: Path) -> str:
    """SQLite only: what is checked here happens at the broker, before any database."""
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def hub(hub_factory, creds: Credentials):
    rt = hub_factory(broker_username="hub", broker_password=creds.hub_password, broker_tls_ca=str(creds.files.ca_cert))
    for terminal in creds.passwords:  # provisioned: each terminal's broker user, and its committee at the hub
        register_terminal(rt.engine, terminal, "JW001")
    return rt


def _terminal(edge_factory, creds: Credentials, terminal: str = "T1"):
    edge = edge_factory(terminal, broker_password=creds.passwords[terminal], broker_tls_ca=creds.files.ca_cert)
    edge.start_sync()
    return edge


class Raw:
    """A bare paho client that does what our agents never would, and keeps every reply the broker sends."""

    def __init__(self, broker: Mosquitto, ca: Path | None, username: str | None, password: str | None) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"raw-{uuid.uuid4().hex[:8]}", protocol=MQTTProtocolVersion.MQTTv5
        )
        if username:
            self.client.username_pw_set(username, password)
        if ca:
            self.client.tls_set(ca_certs=str(ca))
        self.port = broker.port
        self.connack: ReasonCode | None = None
        self.closed = threading.Event()
        self.answered = threading.Event()
        self.received: list[tuple[str, bytes]] = []
        self.pubacks: dict[int, ReasonCode] = {}
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: (self.closed.set(), self.answered.set())
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.client.on_publish = lambda _c, _u, mid, reason, _p: self.pubacks.__setitem__(mid, reason)

    def _on_connect(self, _c: object, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        self.connack = reason
        self.answered.set()

    def connect(self) -> ReasonCode | None:
        """The CONNACK's reason, or None when the broker hung up without one."""
        self.client.connect("127.0.0.1", self.port, keepalive=5)
        self.client.loop_start()
        assert self.answered.wait(5), "the broker neither answered nor hung up"
        return self.connack

    def subscribe(self, *filters: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_: done.set()
        self.client.subscribe([(f, 1) for f in filters])
        assert done.wait(5), "no SUBACK"

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)
        return wait_for(lambda: self.pubacks.get(info.mid), timeout=5, what="PUBACK")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def raw(broker: Mosquitto) -> Iterator[Callable[[Path | None, str | None, str | None], Raw]]:
    """``raw(ca, username, password)``: a Raw client of this test's broker, closed at the end."""
    made: list[Raw] = []

    def make(ca: Path | None, username: str | None, password: str | None) -> Raw:
        made.append(Raw(broker, ca, username, password))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _refused(reason: ReasonCode | None) -> bool:
    return reason is not None and reason.value in NOT_AUTHORISED


def _case(n: int, committee: str = "JW001") -> CaseSubmission:
    return CaseSubmission(
        case_id=uuid.uuid4(),
        receipt_no=f"{committee}-20261127-{n:04d}",
        query_code="ABCDEF",
        item_code="JB-001",
        committee=committee,
        created_at=utcnow(),
        applicant=applicant(n),
    )


def _batch(terminal: str, case: CaseSubmission) -> bytes:
    return CaseBatch(terminal=terminal, body=CaseBatchBody(cases=[seal(case)])).encode()


def test_terminal_and_hub_with_their_credentials_over_tls_carry_cases_and_catalogue(hub, edge_factory, creds):
    edge = _terminal(edge_factory, creds)
    wait_for(edge.agent.connected_event.is_set, what="terminal online over TLS")
    wait_for(lambda: edge.agent.hub_online, what="terminal read the hub's retained state")
    accepted = [str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(n))).case_id) for n in range(3)]
    wait_for(lambda: edge.outbox.stats().depth == 0, what="cases acked by the hub")
    assert_exactly_once(hub.engine, accepted)
    wait_for(lambda: hub_count(hub.engine, "SELECT count(*) FROM terminals WHERE terminal_id = 'T1'"), what="birth")

    store = hub.catalogue.store  # the retained announcement, up/catalogue and down/catalogue all pass the ACL
    store.start_draft("test")
    code = store.draft().items[3].code
    store.update_item(code, {"name": "改名经由TLS"}, "test")
    version = hub.catalogue.publish("test", "改名").version
    wait_for(lambda: edge.catalogue.version == version, what="terminal fetched the new catalogue")
    assert edge.catalogue.current().item(code).name == "改名经由TLS"

    wednesday = date(2026, 12, 9)  # the retained calendar passes the ACL too
    assert edge.calendar.current().is_working_day(wednesday)
    hub.calendar.set_day(wednesday, "off", "经由TLS", "test")
    wait_for(lambda: not edge.calendar.current().is_working_day(wednesday), what="terminal took the hub's calendar")


def test_a_terminal_cannot_publish_as_another_terminal(hub, creds, raw):
    t1 = raw(creds.files.ca_cert, "T1", creds.passwords["T1"])
    assert t1.connect() == 0
    t1.subscribe(topics.down("T1", topics.Down.ACKS))

    forged = _case(1, committee="JW002")
    reason = t1.publish(topics.up("T2", topics.Up.CASES), _batch("T2", forged))
    assert reason.value == 0x87, f"the broker took T1's message on T2's topic: {reason}"
    legit = _case(2)
    assert t1.publish(topics.up("T1", topics.Up.CASES), _batch("T1", legit)) == 0

    acks = lambda: [Ack.model_validate_json(p) for t, p in t1.received if t.endswith("/down/acks")]  # noqa: E731
    wait_for(acks, what="the hub acked T1's own batch")
    assert acks()[0].body.acked == [legit.case_id]
    assert_exactly_once(hub.engine, [str(legit.case_id)])  # the forged case never reached the hub…
    assert hub_count(hub.engine, "SELECT count(*) FROM dead_letters") == 0  # …not even as a dead letter
    with hub.engine.connect() as conn:
        assert not conn.execute(text("SELECT 1 FROM terminals WHERE terminal_id = 'T2'")).first()


def test_a_terminal_cannot_read_another_terminals_down_channels(hub, edge_factory, creds, raw):
    t1 = raw(creds.files.ca_cert, "T1", creds.passwords["T1"])
    assert t1.connect() == 0
    # Mosquitto grants the SUBACK and then checks every message against the ACL on delivery.
    t1.subscribe(topics.down("T1", topics.Down.ACKS), "shegong/v1/t/T2/down/#", "shegong/v1/t/+/down/#", "#")

    t2 = _terminal(edge_factory, creds, "T2")
    t2.cases.submit(NewCase(item_code="JB-001", applicant=applicant(7)))
    wait_for(lambda: t2.outbox.stats().depth == 0, what="T2's case acked on T2's down channel")
    assert t1.publish(topics.up("T1", topics.Up.CASES), _batch("T1", _case(8))) == 0
    wait_for(lambda: any(t.endswith("/down/acks") for t, _ in t1.received), what="T1's own ack (after T2's)")

    allowed = {topics.hub_state(), topics.catalogue(), topics.hub_anchor(), topics.calendar()}
    seen = {t for t, _ in t1.received}
    assert all(t.startswith("shegong/v1/t/T1/down/") or t in allowed for t in seen), seen


def test_a_terminal_leaves_no_retained_message_but_on_its_named_channels_and_the_hub_takes_none(
    broker, hub_factory, creds, raw
):
    """Mosquitto's ACL cannot refuse a publish's retain flag. With ``up/#`` granted, one terminal's password
    could leave a retained message on as many topics as it liked (memory at the broker, shared by every
    terminal) and each hub subscribe was handed them all again. Now only the named channels may be written —
    at most one retained message each — and the hub asks for no retained message on up/."""
    t1 = raw(creds.files.ca_cert, "T1", creds.passwords["T1"])
    assert t1.connect() == 0
    for n in range(20):
        assert _refused(t1.publish(f"shegong/v1/t/T1/up/junk/{n}", b"x" * 4096, retain=True)), n
    assert _refused(t1.publish("shegong/v1/t/T1/up/cases/extra", b"x", retain=True))
    kept = t1.publish(topics.up("T1", topics.Up.CASES), b"not json", retain=True)  # a channel: allowed
    assert not kept.is_failure, kept  # (MQTT 5 says "no matching subscribers": no hub is listening yet)

    spy = raw(creds.files.ca_cert, "hub", creds.hub_password)  # what a default subscription is handed
    assert spy.connect() == 0
    spy.subscribe("shegong/v1/t/+/up/#")
    wait_for(lambda: spy.received, what="the one retained message the broker holds")
    assert [t for t, _ in spy.received] == [topics.up("T1", topics.Up.CASES)]

    hub = hub_factory(broker_username="hub", broker_password=creds.hub_password, broker_tls_ca=str(creds.files.ca_cert))
    register_terminal(hub.engine, "T1", "JW001")
    legit = _case(3)
    assert t1.publish(topics.up("T1", topics.Up.CASES), _batch("T1", legit)) == 0
    wait_for(lambda: hub_count(hub.engine, "SELECT count(*) FROM cases") == 1, what="the terminal's next batch")
    assert hub_count(hub.engine, "SELECT count(*) FROM dead_letters") == 0, "the retained garbage was not taken"


def test_a_wrong_password_and_an_anonymous_client_are_refused(broker, creds, raw):
    assert _refused(raw(creds.files.ca_cert, "T1", creds.passwords["T2"]).connect())
    assert _refused(raw(creds.files.ca_cert, "hub", "guess").connect())
    assert _refused(raw(creds.files.ca_cert, None, None).connect())
    assert raw(creds.files.ca_cert, "T1", creds.passwords["T1"]).connect() == 0


def test_plain_mqtt_to_the_tls_listener_gets_no_session(broker, creds, raw):
    plain = raw(None, "T1", creds.passwords["T1"])  # right credentials, no TLS: they would cross in clear
    assert plain.connect() is None
    assert plain.closed.is_set()


def test_a_revoked_terminal_is_cut_off_and_refused_after_the_broker_reloads(broker, hub, edge_factory, creds, raw):
    t2 = _terminal(edge_factory, creds, "T2")
    wait_for(t2.agent.connected_event.is_set, what="T2 online")

    brokerauth.revoke(creds.files, "T2")
    assert "T2" not in brokerauth.users(creds.files)
    broker.reload()  # what `systemctl reload mosquitto` does: SIGHUP
    wait_for(lambda: not t2.agent.connected_event.is_set(), what="the broker drops T2's open connection")
    assert _refused(raw(creds.files.ca_cert, "T2", creds.passwords["T2"]).connect())
    assert raw(creds.files.ca_cert, "T1", creds.passwords["T1"]).connect() == 0  # the others still log in
    assert not t2.agent.connected_event.is_set()


def test_a_terminal_giving_another_terminals_client_id_does_not_take_over_its_session(hub, edge_factory, creds, raw):
    t2 = _terminal(edge_factory, creds, "T2")
    wait_for(t2.agent.connected_event.is_set, what="T2 online")
    impostor = raw(creds.files.ca_cert, "T1", creds.passwords["T1"])
    impostor.client._client_id = b"T2"  # what a tampered terminal would send; paho has no setter after init
    assert impostor.connect() is not None and not _refused(impostor.connack)
    case = t2.cases.submit(NewCase(item_code="JB-001", applicant=applicant(41)))
    wait_for(lambda: t2.outbox.stats().depth == 0, what="T2's case acked")
    assert_exactly_once(hub.engine, [str(case.case_id)])
    # Had the impostor taken T2's session, T2 would have been thrown out, come back (its backoff is at most
    # 1 s here) and thrown the impostor out in turn. Neither happens: each session stays its owner's.
    assert not impostor.closed.wait(3), "the impostor and T2 fought over one session"


def _hub_env(monkeypatch, hub, broker: Mosquitto, creds: Credentials) -> None:
    """The hub's settings as an operator's shell has them on the hub host (hub.toml, then hub.env sourced)."""
    for name, value in {
        "DATABASE_URL": hub.settings.database_url,
        "BROKER_PORT": str(broker.port),
        "BROKER_USERNAME": "hub",
        "BROKER_PASSWORD": creds.hub_password,
        "BROKER_TLS_CA": str(creds.files.ca_cert),
        "TOOLS_BROKER_PASSWORD": creds.tools_password,
    }.items():
        monkeypatch.setenv(f"SHEGONG_HUB_{name}", value)


def test_the_witness_probe_leaves_the_running_workers_session_alone(
    broker, hub, edge_factory, creds, raw, monkeypatch, capsys
):
    from hub.audit.keyed import AuditKey, key_path
    from hub.night.anchor import anchor_night
    from shegong import cli

    anchor_night(hub.engine, AuditKey.load(key_path(hub.settings)), utcnow())  # the night seals what came before
    t1 = _terminal(edge_factory, creds, "T1")  # answers the probe; T2 is registered but switched off
    wait_for(t1.agent.connected_event.is_set, what="T1 online")
    # The worker takes a message of T2's and holds it unacknowledged: the broker keeps it in the worker's
    # session (in flight) until it is acked, and gives it again when the worker's client id comes back.
    held_topic = topics.up("T2", topics.Up.HEALTH)
    held: list[bytes] = []
    night = hub.worker.divert

    def hold(msg: mqtt.MQTTMessage) -> bool:
        if msg.topic == held_topic:
            held.append(bytes(msg.payload))
            return True
        return bool(night and night(msg))

    hub.worker.divert = hold
    dropped: list[object] = []
    on_disconnect = hub.worker.client.on_disconnect
    hub.worker.client.on_disconnect = lambda *a: (dropped.append(a[3]), on_disconnect(*a))  # type: ignore[misc]
    t2 = raw(creds.files.ca_cert, "T2", creds.passwords["T2"])
    assert t2.connect() == 0
    assert t2.publish(held_topic, b"held by the worker").value == 0
    wait_for(lambda: held, what="the worker holding T2's message")

    _hub_env(monkeypatch, hub, broker, creds)
    monkeypatch.delenv("SHEGONG_HUB_TOOLS_BROKER_PASSWORD")
    capsys.readouterr()
    assert cli.main(["hub", "audit", "verify", "--witnesses", "--timeout", "2"]) == 2  # not as the worker's user
    assert "[tools] broker_password (SHEGONG_HUB_TOOLS_BROKER_PASSWORD) is not set" in capsys.readouterr().err
    monkeypatch.setenv("SHEGONG_HUB_TOOLS_BROKER_PASSWORD", creds.tools_password)
    assert cli.main(["hub", "audit", "verify", "--witnesses", "--timeout", "2"]) == 0
    out = capsys.readouterr().out
    assert "asked 2 terminal(s): answered T1, silent after 2 s: T2" in out

    log = (broker.folder / "mosquitto.log").read_text()
    assert "already connected" not in log, "a client took over another's session"
    assert " as hub-tools " in log, "the probe logged in as the tools' user"
    assert dropped == [] and hub.worker.connected.is_set(), "the worker was thrown off the broker"

    # The session is intact: the worker's client id, coming back without a clean start, is given the held
    # message again (a clean start by anyone under that id would have thrown it away).
    hub.close()
    back = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hub", protocol=MQTTProtocolVersion.MQTTv5)
    back.username_pw_set("hub", creds.hub_password)
    back.tls_set(ca_certs=str(creds.files.ca_cert))
    again: list[tuple[str, bytes]] = []
    back.on_message = lambda _c, _u, m: again.append((m.topic, bytes(m.payload)))
    back.connect("127.0.0.1", broker.port, keepalive=5, clean_start=False)
    back.loop_start()
    try:
        wait_for(lambda: (held_topic, b"held by the worker") in again, timeout=10, what="the held message again")
    finally:
        back.disconnect()
        back.loop_stop()


def test_the_tools_user_may_ask_for_anchors_and_nothing_else(hub, edge_factory, creds, raw):
    t1 = _terminal(edge_factory, creds, "T1")
    wait_for(t1.agent.connected_event.is_set, what="T1 online")
    tool = raw(creds.files.ca_cert, "hub-tools", creds.tools_password)
    assert tool.connect() == 0
    tool.subscribe(f"{topics.ROOT}/t/+/up/#")
    assert tool.publish(topics.down("T1", topics.Down.AUDIT), b"{}").value in {0, 0x10}  # granted
    for topic in (
        topics.catalogue(),
        topics.hub_state(),
        topics.hub_anchor(),
        topics.calendar(),
        topics.down("T1", topics.Down.COMMANDS),
        topics.down("T1", topics.Down.EVENTS),
        topics.up("T1", topics.Up.CASES),
    ):
        assert tool.publish(topic, b"{}").value == 0x87, topic  # not authorised, dropped at the broker
    case = t1.cases.submit(NewCase(item_code="JB-001", applicant=applicant(43)))
    wait_for(lambda: t1.outbox.stats().depth == 0, what="T1's case acked")
    assert_exactly_once(hub.engine, [str(case.case_id)])
    assert [t for t, _ in tool.received if not t.endswith("/up/audit")] == [], "the tools read only up/audit"


def test_the_operator_is_told_before_the_brokers_certificate_expires(broker, creds, hub_factory):
    """Every terminal loses the broker the day its certificate expires, and only the terminals' consoles
    said so. The hub reads the certificate the broker shows it at each connect: the fleet page (from 30
    days before), /metrics and the log tell the centre, with the command that renews it."""
    brokerauth.make_tls(creds.files, ["localhost", "127.0.0.1"], days=10)  # renewed short, same CA
    broker.stop()
    broker.start()
    hub = hub_factory(broker_username="hub", broker_password=creds.hub_password, broker_tls_ca=str(creds.files.ca_cert))
    wait_for(lambda: hub.worker.broker_cert_expires is not None, what="the hub read the broker's certificate")
    left = hub.worker.broker_cert_expires - datetime.now(UTC)
    assert timedelta(days=9, hours=23) < left <= timedelta(days=10)

    services = Services.from_runtime(hub)
    add_users(services.users)
    with TestClient(
        create_app(hub, WebSettings(secret="s" * 32, cookie_secure=True), services), base_url="https://hub.test"
    ) as client:
        metrics = client.get("/metrics").text
        stamp = float(re.search(r"^shegong_hub_broker_cert_expiry_timestamp_seconds (\S+)$", metrics, re.M).group(1))
        assert stamp == hub.worker.broker_cert_expires.timestamp()
        token = re.search(r'name="_csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        form = {"username": "operator", "password": PASSWORDS["operator"], "next": "/", "_csrf_token": token}
        assert client.post("/login", data=form, follow_redirects=False).status_code == 303
        notice = re.search(r'id="broker-cert">(.*?)</div>', client.get("/fleet/").text, re.S)
        assert notice and "到期（还剩 9 天）" in notice.group(1) and "shegong hub broker tls" in notice.group(1)


def test_a_broker_whose_certificate_another_ca_signed_is_not_trusted(
    broker, creds, edge_factory, hub_db_url, tmp_path, caplog
):
    """Invariants review: a terminal or hub that skipped the certificate check passed every test (the hub's
    was caught only by the certificate-expiry test, by accident). Given the CA of another centre, neither
    connects to this broker with its right password: its certificate is not one their CA signed."""
    from hub.runtime import HubRuntime
    from hub.settings import HubSettings

    other = brokerauth.BrokerFiles(tmp_path / "another-centre")
    brokerauth.make_tls(other, ["localhost", "127.0.0.1"])
    edge = edge_factory("T1", broker_password=creds.passwords["T1"], broker_tls_ca=other.ca_cert)
    edge.start_sync()
    hub = HubRuntime(
        HubSettings(  # type: ignore[call-arg]
            database_url=hub_db_url,
            broker_port=broker.port,
            broker_username="hub",
            broker_password=creds.hub_password,
            broker_tls_ca=str(other.ca_cert),
            keepalive_s=5,
            open_processes=0,
        )
    )
    hub.start()
    try:
        assert not hub.worker.connected.wait(3), "the hub connected to a broker its CA did not sign"
        assert not edge.agent.connected_event.is_set(), "the terminal connected to a broker its CA did not sign"
        said = caplog.text
        assert said.count("CERTIFICATE_VERIFY_FAILED") >= 2, said[-2000:]  # both tried, and both said why
    finally:
        hub.close()
