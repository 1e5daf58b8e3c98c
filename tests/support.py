"""Small helpers for tests: valid ID numbers (by GB 11643's rule, written out here, not the product's),
waiting for a condition, counting rows at the hub."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import Engine, text

from protocol import sealed
from protocol.cases import Ack, Applicant, CaseSubmission, SealedCase
from protocol.envelope import utcnow

#: The hub case key of this test process: conftest gives its public half to every terminal and its private
#: half (in a 0600 file) to every hub, through SHEGONG_HUB_PUBLIC_KEY and SHEGONG_HUB_CASE_KEY_FILE.
CASE_KEY, CASE_PUBLIC_KEY = sealed.generate_keypair()


#: The tests' own staff member: no PIN ships with the kiosk, so tests that need staff mode provision this one.
STAFF_ID, STAFF_PIN = "sg-test", "735106"


@functools.cache
def staff_pins() -> str:
    """The PIN entry of :data:`STAFF_ID` as ``[kiosk] staff_pins`` takes it (made as an administrator makes one)."""
    from edge.kiosk.staff import hash_pin

    return f"{STAFF_ID}:{hash_pin(STAFF_PIN)}"


def seal(case: CaseSubmission) -> SealedCase:
    """``case`` as a terminal sends it: sealed to the tests' hub key."""
    return sealed.seal(sealed.public_key(CASE_PUBLIC_KEY), case)


def unseal(payload: str) -> CaseSubmission:
    """What a sealed case (an edge case row's or outbox item's payload) holds, opened as the hub would."""
    return sealed.open_case(sealed.private_key(CASE_KEY), SealedCase.model_validate_json(payload))


def write_case_key(path: Path) -> Path:
    """The tests' private case key in a 0600 file, as ``shegong hub keys init`` leaves it: with the audit key
    beside it (``<path>.audit``), which every hub process loads at start."""
    from hub.audit.keyed import AuditKey

    path.write_text(CASE_KEY + "\n")
    path.chmod(0o600)
    if not Path(f"{path}.audit").exists():
        AuditKey.init(Path(f"{path}.audit"))
    return path


def audit_public_key(case_key: Path) -> str:
    """The public half of the hub audit key made beside ``case_key`` by :func:`write_case_key`, as
    ``shegong hub keys audit-public`` prints it for terminals (``hub_audit_public_key``)."""
    from hub.audit.keyed import AuditKey

    return AuditKey.load(Path(f"{case_key}.audit")).public_hex


def register_terminal(hub: Engine | str, terminal: str, committee: str = "JW001", series: int | None = None) -> None:
    """Register ``terminal`` to ``committee`` (with its receipt ``series``) at the hub (its engine or database
    URL), as provisioning does."""
    from hub.db.engine import open_engine
    from hub.ingest import register

    engine = open_engine(hub) if isinstance(hub, str) else hub
    if isinstance(hub, str):  # as a hub command does: its audit entry sealed with the hub's audit key
        from hub import settings as hub_settings
        from hub.audit.chain import bind_key_file
        from hub.audit.keyed import key_path

        bind_key_file(engine, key_path(hub_settings.load()))
    try:
        register.register(engine, terminal, committee, "test", series)
    finally:
        if isinstance(hub, str):
            engine.dispose()


#: GB 11643-1999 / ISO 7064 MOD 11-2: the weight of each of the first 17 digits (2**(17 - i) mod 11).
GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def check_character(body: str) -> str:
    """The check character of a 17-digit body, by the standard's rule written out here.

    A second implementation, apart from ``protocol.idnumber``, so tests' expected numbers do not come from
    the code they test: the weighted sum mod 11 (0 to 10) picks a character of ``10X98765432``.
    """
    assert len(body) == 17 and body.isdigit(), "a body is 17 digits"
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, GB11643_WEIGHTS, strict=True)) % 11]


def id_number(region: str = "310101", born: str = "19550312", seq: str = "002") -> str:
    """A valid 18-character ID number, its check character from :func:`check_character`."""
    body = f"{region}{born}{seq}"
    return body + check_character(body)


def applicant(n: int = 0, region: str = "310101") -> Applicant:
    return Applicant(id_number=id_number(region, seq=f"{n % 1000:03d}"), name=f"测试{n}")


def submission(n: int = 0) -> CaseSubmission:
    """The n-th plain case of committee JW001 (item MZ-001, resident :func:`applicant` n), made now."""
    return CaseSubmission(
        case_id=uuid.uuid4(),
        receipt_no=f"JW001-20261127-{n:04d}",
        query_code="ABCDEF",
        item_code="MZ-001",
        committee="JW001",
        created_at=utcnow(),
        applicant=applicant(n),
    )


def holder_at_kiosk(client: Any, who: str) -> None:
    """``client`` (a Litestar TestClient of a kiosk app) let in as the kiosk's own browser, and ``who``'s card
    (a simulator identity) tapped: it holds that card holder's session."""
    from edge.devices.sim.identities import identity  # the edge's simulators: only tests of the kiosk need them

    kiosk = client.app.state.kiosk
    assert client.get(kiosk.gate.open_path).status_code == 200
    token = kiosk.events.card_tapped(identity(who).card_facts())
    assert client.get(f"/claim/{token}").status_code == 200


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition", every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def first_hub_number(case_id: object, receipt: str) -> str:
    """The number the hub gives a case whose printed ``receipt`` another case holds, where its first choice is
    free (a second implementation of hub.ingest.handler.hub_number, from its docstring): the receipt's
    committee and day, then 9 and the case id's SHA-256, its first eight bytes big-endian, modulo 100,000."""
    committee, day, _ = receipt.rsplit("-", 2)
    drawn = int(hashlib.sha256(str(case_id).encode()).hexdigest()[:16], 16) % 100_000
    return f"{committee}-{day}-9{drawn:05d}"


def hub_count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def hub_case_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT case_id FROM cases"))]


def assert_exactly_once(engine: Engine, accepted: list[str], lost: Collection[str] = ()) -> None:
    """Every accepted case is at the hub, once; nothing else is. ``cases.case_id`` is the key, so a case
    taken twice shows not as a second row but as a second receipt: each case must be named by exactly one
    ``cases.received`` audit entry (a redelivered batch is acked again, never received again) — twice for
    those the test made the hub ``lost`` (rows deleted, the audit trail kept), which came back."""
    at_hub = hub_case_ids(engine)
    with engine.connect() as conn:
        received = Counter(
            case[0]
            for (data,) in conn.execute(text("SELECT data FROM audit WHERE action = 'cases.received'"))
            for case in json.loads(data)["cases"]
        )
    twice = sorted(c for c, n in received.items() if n > 1 + (c in lost))
    assert not twice, f"{len(twice)} case(s) received twice at the hub, e.g. {twice[0]}"
    missing = set(accepted) - set(at_hub)
    assert not missing, f"{len(missing)} accepted case(s) never reached the hub"
    assert set(at_hub) == set(accepted)


ROOT = Path(__file__).resolve().parents[1]
UPDATE_SCREENSHOTS = os.environ.get("SHEGONG_TEST_UPDATE_SCREENSHOTS") == "1"  # read before the env is cleaned


def keep_screenshot(page: Any, name: str, area: str, full_page: bool = False) -> Path:
    """Photograph ``page`` into tests/artifacts/<area>/; docs/screenshots/<name>.png gets it only when missing
    or when SHEGONG_TEST_UPDATE_SCREENSHOTS=1, so a test run does not rewrite the README's pictures."""
    shot = ROOT / "tests" / "artifacts" / area / f"{name}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=full_page)
    published = ROOT / "docs" / "screenshots" / f"{name}.png"
    if UPDATE_SCREENSHOTS or not published.exists():
        published.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, published)
    return shot


class SmsGatewayServer:
    """A local SMS gateway for the hub's HTTP adapter (hub.notices.gateway): a real HTTP server on an
    ephemeral port that records every message it takes; ``fail`` more calls are answered 503 first."""

    def __init__(self) -> None:
        self.taken: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.fail = 0
        self.auth: list[str] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.calls.append(body)
                gateway.auth.append(self.headers.get("Authorization", ""))
                if gateway.fail > 0:
                    gateway.fail -= 1
                    self.send_response(503)
                else:
                    gateway.taken.append(body)
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RawTerminal:
    """A bare MQTT client publishing whatever bytes a test wants, and collecting what comes back."""

    def __init__(self, port: int, terminal: str = "T9") -> None:
        self.terminal = terminal
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"raw-{terminal}", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"shegong/v1/t/{terminal}/down/#", qos=1)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def acks(self) -> list[Ack]:
        return [Ack.model_validate_json(p) for t, p in self.received if t.endswith("/down/acks")]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def handlers_run_twice_in_threads(app: Any) -> list[tuple[str, str]]:
    """Routes of ``app`` whose handler Litestar wrapped twice for a thread (its answer a coroutine: a 500).
    Litestar 2.x registers a path's first handler again when another method's handler joins it: two
    ``sync_to_thread=True`` handlers on one path break the first."""
    from litestar.utils.sync import AsyncCallable

    return [
        (method, route.path)
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if isinstance(handler.fn, AsyncCallable) and isinstance(handler.fn.func, AsyncCallable)
        for method in handler.http_methods
    ]
