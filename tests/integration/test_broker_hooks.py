"""The HTTP backend for a clustered broker, over real HTTP, against the files the real commands write.

An operator makes the broker's users with ``shegong hub broker hub`` (users ``hub`` and ``hub-b``) and
``shegong hub broker add`` (terminals T1, T2, T3), then revokes T3 with ``shegong hub broker revoke``; all
as subprocesses, as on a centre's machine. ``shegong hub broker serve-auth`` then runs as its own process
behind a shared secret (and once with client certificates), and httpx asks it what EMQX 5
(``/emqx/authn``, ``/emqx/authz``) and VerneMQ's webhooks (``/vernemq/auth_on_register``,
``…/auth_on_publish``, ``…/auth_on_subscribe`` and their ``_m5`` forms) ask on every connection, publish
and subscribe.

The expected answers are the table below, written by hand from docs/broker.md ("What the ACL grants") and
docs/scale.md (client id = user name, ``$share`` for hub users only, revoked users refused); the contracts'
shapes are EMQX's and VerneMQ's documented ones. The last test holds the HTTP answers against a second
implementation: a real Mosquitto reading the same ``passwd`` and ``acl`` files, publishing and reading a
sample of topics as each user.
"""

from __future__ import annotations

import datetime
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from harness.broker import Mosquitto, free_port
from hub.broker.auth import BrokerFiles
from tests.support import wait_for

pytestmark = pytest.mark.timeout(90)

SECRET_HEADER = "X-Shegong-Broker-Secret"
R = "shegong/v1"
OK = {"result": "ok"}
NOT_ALLOWED = {"result": {"error": "not_allowed"}}

# (user, action, topic or filter, allowed?) — from docs/broker.md's table, not from the code under test.
RULES: list[tuple[str, str, str, bool]] = [
    # a terminal writes its own state and up/ channels, nothing else
    ("T1", "publish", f"{R}/t/T1/up/cases", True),
    ("T1", "publish", f"{R}/t/T1/up/health", True),
    ("T1", "publish", f"{R}/t/T1/state", True),
    ("T1", "publish", f"{R}/t/T2/up/cases", False),  # as another terminal
    ("T1", "publish", f"{R}/t/T2/state", False),
    ("T1", "publish", f"{R}/t/T1/down/acks", False),  # acks come from the hub only
    ("T1", "publish", f"{R}/hub/state", False),
    ("T1", "publish", f"{R}/catalogue", False),
    ("T1", "publish", f"{R}/t/T1/up/#", False),  # not a topic
    ("T1", "publish", f"{R}/t/T1/up/junk", False),  # not a channel: it could be left retained there
    ("T1", "publish", f"{R}/t/T1/up/cases/1", False),
    ("T1", "publish", "elsewhere/x", False),
    # a terminal reads its own down/ channels and the hub's three retained topics
    ("T1", "subscribe", f"{R}/t/T1/down/#", True),
    ("T1", "subscribe", f"{R}/t/T1/down/acks", True),
    ("T1", "subscribe", f"{R}/hub/state", True),
    ("T1", "subscribe", f"{R}/catalogue", True),
    ("T1", "subscribe", f"{R}/hub/anchor", True),
    ("T1", "subscribe", f"{R}/t/T2/down/#", False),
    ("T1", "subscribe", f"{R}/t/+/down/#", False),
    ("T1", "subscribe", "#", False),
    ("T1", "subscribe", f"{R}/t/T1/up/cases", False),  # its own up/: write only
    ("T1", "subscribe", f"$share/g/{R}/t/T1/down/#", False),  # shared subscriptions are the hub's
    ("T1", "subscribe", f"$share/ingest/{R}/t/+/up/#", False),
    # the hub reads every terminal's up/ and state (also shared), writes down/ and its own topics
    ("hub", "subscribe", f"{R}/t/+/up/#", True),
    ("hub", "subscribe", f"{R}/t/+/state", True),
    ("hub", "subscribe", f"$share/ingest/{R}/t/+/up/#", True),
    ("hub", "subscribe", f"$share/ingest/{R}/t/+/state", True),
    ("hub-b", "subscribe", f"$share/ingest/{R}/t/+/up/#", True),
    ("hub", "subscribe", f"{R}/t/T1/up/cases", True),
    ("hub", "subscribe", f"{R}/hub/state", True),
    ("hub", "subscribe", f"{R}/t/+/down/#", False),
    ("hub", "subscribe", "#", False),
    ("hub", "publish", f"{R}/t/T1/down/acks", True),
    ("hub", "publish", f"{R}/t/T2/down/events", True),
    ("hub", "publish", f"{R}/hub/state", True),
    ("hub", "publish", f"{R}/catalogue", True),
    ("hub", "publish", f"{R}/hub/anchor", True),
    ("hub", "publish", f"{R}/t/T1/up/cases", False),  # the hub cannot speak for a terminal
    ("hub", "publish", f"{R}/t/T1/state", False),
    # the hub's tools (`hub audit verify --witnesses`) ask for anchors and read the answers, nothing else
    ("hub-tools", "publish", f"{R}/t/T1/down/audit", True),
    ("hub-tools", "subscribe", f"{R}/t/+/up/audit", True),
    ("hub-tools", "subscribe", f"{R}/t/T2/up/audit", True),
    ("hub-tools", "subscribe", f"{R}/hub/state", True),  # every user reads the hub's retained topics
    ("hub-tools", "publish", f"{R}/t/T1/down/acks", False),
    ("hub-tools", "publish", f"{R}/t/T1/down/events", False),
    ("hub-tools", "publish", f"{R}/t/T1/down/catalogue", False),
    ("hub-tools", "publish", f"{R}/catalogue", False),
    ("hub-tools", "publish", f"{R}/hub/state", False),
    ("hub-tools", "publish", f"{R}/hub/anchor", False),
    ("hub-tools", "publish", f"{R}/t/T1/up/audit", False),  # it cannot speak for a terminal
    ("hub-tools", "subscribe", f"{R}/t/+/up/#", False),
    ("hub-tools", "subscribe", f"{R}/t/T1/up/cases", False),
    ("hub-tools", "subscribe", f"{R}/t/+/state", False),
    ("hub-tools", "subscribe", f"{R}/t/+/down/#", False),
    ("hub-tools", "subscribe", f"$share/ingest/{R}/t/+/up/#", False),
    # a revoked terminal, still connected, may do nothing
    ("T3", "publish", f"{R}/t/T3/up/cases", False),
    ("T3", "subscribe", f"{R}/t/T3/down/#", False),
]


@dataclass(frozen=True)
class Setup:
    files: BrokerFiles
    passwords: dict[str, str]
    url: str
    secret: str


def _shegong(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEGONG_")}
    done = subprocess.run(
        [sys.executable, "-m", "shegong.cli", "hub", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("broker-files")
    d = ["--dir", str(folder)]
    passwords = {"hub": _shegong("broker", "hub", *d), "hub-b": _shegong("broker", "hub", "hub-b", *d)}
    passwords["hub-tools"] = _shegong("broker", "tool", *d)
    passwords |= {t: _shegong("broker", "add", t, *d) for t in ("T1", "T2", "T3")}
    _shegong("broker", "revoke", "T3", *d)
    secret_file = folder.parent / "hook-secret"
    secret_file.write_text("s3cret-for-the-test\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEGONG_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shegong.cli", "hub", "broker", "serve-auth", *d, "--port", str(port)]
        + ["--secret-file", str(secret_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        try:
            return httpx.post(f"{url}/emqx/authn", json={}).status_code > 0
        except httpx.TransportError:
            return False

    wait_for(answers, timeout=30, what="serve-auth listening")
    yield Setup(BrokerFiles(folder), passwords, url, "s3cret-for-the-test")
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def http(setup: Setup) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=setup.url, headers={SECRET_HEADER: setup.secret}, timeout=5) as client:
        yield client


# ------------------------------------------------------------------------------------------ EMQX 5
def _emqx_login(http: httpx.Client, username: str, password: str, clientid: str) -> str:
    r = http.post("/emqx/authn", json={"username": username, "password": password, "clientid": clientid})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["is_superuser"] is False  # nobody skips authorisation
    return str(body["result"])


def test_emqx_authenticator_admits_right_passwords_with_the_user_name_as_client_id(setup, http):
    p = setup.passwords
    assert _emqx_login(http, "T1", p["T1"], "T1") == "allow"
    assert _emqx_login(http, "hub", p["hub"], "hub") == "allow"
    assert _emqx_login(http, "hub-b", p["hub-b"], "hub-b") == "allow"
    assert _emqx_login(http, "hub-tools", p["hub-tools"], "hub-tools") == "allow"
    assert _emqx_login(http, "hub-tools", p["hub-tools"], "hub") == "deny"  # a tool under a worker's client id
    assert _emqx_login(http, "T1", p["T2"], "T1") == "deny"  # another's password
    assert _emqx_login(http, "T1", p["T1"] + "x", "T1") == "deny"
    assert _emqx_login(http, "T1", p["T1"], "T2") == "deny"  # T1 claiming T2's session
    assert _emqx_login(http, "T3", p["T3"], "T3") == "deny"  # revoked: its old password no longer opens
    assert _emqx_login(http, "nobody", p["T1"], "nobody") == "deny"
    assert _emqx_login(http, "", "", "") == "deny"  # anonymous
    r = http.post("/emqx/authn", json={"username": "T1", "clientid": "T1"})  # no password at all
    assert r.status_code == 200 and r.json()["result"] == "deny"


@pytest.mark.parametrize(("user", "action", "topic", "allowed"), RULES)
def test_emqx_authorizer_follows_the_acl(http, user, action, topic, allowed):
    # EMQX renders its placeholders into strings: qos and retain arrive as text
    body = {"username": user, "clientid": user, "topic": topic, "action": action, "qos": "1", "retain": "false"}
    r = http.post("/emqx/authz", json=body)
    assert r.status_code == 200
    assert r.json() == {"result": "allow" if allowed else "deny"}


def test_emqx_authorizer_refuses_a_client_id_other_than_the_user_name(http):
    body = {"username": "T1", "clientid": "T2", "topic": f"{R}/t/T1/up/cases", "action": "publish"}
    assert http.post("/emqx/authz", json=body).json() == {"result": "deny"}
    body = {"username": "T1", "clientid": "T1", "topic": f"{R}/t/T1/up/cases", "action": "all"}
    assert http.post("/emqx/authz", json=body).json() == {"result": "deny"}  # not an action it knows


# ------------------------------------------------------------------------------------------ VerneMQ
@pytest.mark.parametrize("hook", ["auth_on_register", "auth_on_register_m5"])
def test_vernemq_register_hook(setup, http, hook):
    p = setup.passwords

    def register(username: str, password: str, client_id: str) -> object:
        body = {"peer_addr": "127.0.0.1", "peer_port": 50000, "username": username, "password": password}
        body |= {"mountpoint": "", "client_id": client_id, "clean_session": False, "properties": {}}
        r = http.post(f"/vernemq/{hook}", json=body, headers={"vernemq-hook": hook})
        assert r.status_code == 200
        return r.json()

    assert register("T1", p["T1"], "T1") == OK
    assert register("hub", p["hub"], "hub") == OK
    assert register("T1", p["T2"], "T1") == NOT_ALLOWED
    assert register("T1", p["T1"], "T2") == NOT_ALLOWED
    assert register("T3", p["T3"], "T3") == NOT_ALLOWED
    assert register("ghost", "x", "ghost") == NOT_ALLOWED


@pytest.mark.parametrize("hook", ["auth_on_publish", "auth_on_publish_m5"])
def test_vernemq_publish_hook(http, hook):
    for user, action, topic, allowed in RULES:
        if action != "publish":
            continue
        body = {"username": user, "client_id": user, "mountpoint": "", "qos": 1, "topic": topic}
        body |= {"payload": "aGVsbG8=", "retain": False, "properties": {}}
        assert http.post(f"/vernemq/{hook}", json=body).json() == (OK if allowed else NOT_ALLOWED), (user, topic)
    forged = {"username": "T1", "client_id": "T2", "mountpoint": "", "qos": 1, "topic": f"{R}/t/T1/up/cases"}
    assert http.post(f"/vernemq/{hook}", json=forged).json() == NOT_ALLOWED


@pytest.mark.parametrize(("hook", "refused_qos"), [("auth_on_subscribe", 128), ("auth_on_subscribe_m5", 135)])
def test_vernemq_subscribe_hook_answers_each_filter(http, hook, refused_qos):
    def subscribe(user: str, filters: list[str], client_id: str | None = None) -> object:
        body = {"username": user, "client_id": client_id or user, "mountpoint": "", "properties": {}}
        body["topics"] = [{"topic": f, "qos": 1} for f in filters]
        r = http.post(f"/vernemq/{hook}", json=body)
        assert r.status_code == 200
        return r.json()

    for user, action, topic, allowed in RULES:
        if action == "subscribe" and user != "T3":
            per_filter = OK if allowed else _per_filter(hook, [(topic, refused_qos)])
            assert subscribe(user, [topic]) == per_filter, (user, topic)
    # what a terminal subscribes to at start, all at once: granted as a whole
    mine = [f"{R}/t/T1/down/#", f"{R}/hub/state", f"{R}/catalogue", f"{R}/hub/anchor"]
    assert subscribe("T1", mine) == OK
    # a mixed request: its own down/ kept at QoS 1, T2's and the shared one refused
    mixed = [f"{R}/t/T1/down/#", f"{R}/t/T2/down/#", f"$share/g/{R}/t/T1/down/#"]
    expected = [(mixed[0], 1), (mixed[1], refused_qos), (mixed[2], refused_qos)]
    assert subscribe("T1", mixed) == _per_filter(hook, expected)
    # the client itself refused: a revoked user, another's client id
    assert subscribe("T3", [f"{R}/t/T3/down/#"]) == NOT_ALLOWED
    assert subscribe("T1", [f"{R}/t/T1/down/#"], client_id="T2") == NOT_ALLOWED


def _per_filter(hook: str, topics: list[tuple[str, int]]) -> object:
    """VerneMQ's documented shapes: the topic list at the top for MQTT 3, under modifiers for MQTT 5."""
    listed = [{"topic": t, "qos": q} for t, q in topics]
    return (
        {"result": "ok", "modifiers": {"topics": listed}}
        if hook.endswith("_m5")
        else {"result": "ok", "topics": listed}
    )


# ------------------------------------------------------------------------------------------ the service
def test_a_request_without_the_shared_secret_is_refused(setup):
    body = {"username": "T1", "password": setup.passwords["T1"], "clientid": "T1"}
    assert httpx.post(f"{setup.url}/emqx/authn", json=body).status_code == 403
    wrong = {SECRET_HEADER: "guess"}
    assert httpx.post(f"{setup.url}/emqx/authn", json=body, headers=wrong).status_code == 403
    assert httpx.post(f"{setup.url}/vernemq/auth_on_register_m5", json=body, headers=wrong).status_code == 403


def test_a_terminal_added_or_revoked_while_serving_is_seen_at_the_next_call(setup, http):
    password = _shegong("broker", "add", "T4", "--dir", str(setup.files.folder))
    assert _emqx_login(http, "T4", password, "T4") == "allow"
    _shegong("broker", "revoke", "T4", "--dir", str(setup.files.folder))
    assert _emqx_login(http, "T4", password, "T4") == "deny"  # no restart, no reload


def test_serving_beyond_loopback_without_a_secret_or_client_certificates_is_refused(setup):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEGONG_")}
    done = subprocess.run(
        [sys.executable, "-m", "shegong.cli", "hub", "broker", "serve-auth", "--dir", str(setup.files.folder)]
        + ["--bind", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--secret-file or --client-ca" in done.stderr


# ------------------------------------------------------------------------------------------ vs Mosquitto
class Client:
    """One MQTT 5 connection as ``user`` (client id = user name), subscribed to everything: Mosquitto grants
    any filter and delivers only what the ACL lets this user read."""

    def __init__(self, port: int, user: str, password: str) -> None:
        self.user = user
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=MQTTProtocolVersion.MQTTv5)
        self.c.username_pw_set(user, password)
        self.received: list[str] = []
        self.pubacks: dict[int, ReasonCode] = {}
        self.ready = threading.Event()
        self.c.on_message = lambda _c, _u, m: self.received.append(m.topic)
        self.c.on_publish = lambda _c, _u, mid, reason, _p: self.pubacks.__setitem__(mid, reason)
        self.c.on_subscribe = lambda *_: self.ready.set()
        self.c.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()
        assert self.ready.wait(10), f"{user} not subscribed"

    def publish(self, topic: str) -> bool:
        """Mosquitto's verdict: PUBACK 0 taken, 0x87 not authorised."""
        info = self.c.publish(topic, b"x", qos=1)
        reason = wait_for(lambda: self.pubacks.get(info.mid), timeout=5, what="PUBACK")
        assert reason.value in {0, 0x87}, reason
        return bool(reason.value == 0)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _connack(port: int, user: str, password: str) -> int | None:
    got: list[ReasonCode] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=MQTTProtocolVersion.MQTTv5)
    client.username_pw_set(user, password)
    client.on_connect = lambda _c, _u, _f, reason, _p: got.append(reason)
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    return got[0].value if got else None


SAMPLE = [
    f"{R}/t/T1/up/cases",
    f"{R}/t/T1/state",
    f"{R}/t/T2/up/health",
    f"{R}/t/T2/state",
    f"{R}/t/T1/down/acks",
    f"{R}/t/T2/down/events",
    f"{R}/hub/state",
    f"{R}/catalogue",
    f"{R}/hub/anchor",
    f"{R}/t/T1/down/audit",
    f"{R}/t/T2/up/audit",
    "elsewhere/x",
]


def test_the_http_answers_agree_with_mosquitto_reading_the_same_files(setup, http, tmp_path: Path):
    broker = Mosquitto(tmp_path / "mosquitto", persistence=False, auth=setup.files.auth()).start()
    users = ("hub", "hub-tools", "T1", "T2")
    clients = {u: Client(broker.port, u, setup.passwords[u]) for u in users}
    try:
        published: list[str] = []
        for user, client in clients.items():
            for topic in SAMPLE:
                mosquitto_says = client.publish(topic)
                body = {"username": user, "clientid": user, "topic": topic, "action": "publish"}
                http_says = http.post("/emqx/authz", json=body).json()["result"] == "allow"
                assert http_says == mosquitto_says, f"{user} publishing {topic}: http {http_says}, mosquitto"
                if mosquitto_says:
                    published.append(topic)
        assert len(published) > 5  # the sample has both answers
        # Mosquitto handles one message after another: once everyone has the last, they have all before it.
        assert clients["hub"].publish(f"{R}/hub/state")
        for client in clients.values():
            wait_for(lambda c=client: c.received.count(f"{R}/hub/state") == 2, what=f"{client.user} caught up")
        for user, client in clients.items():
            for topic in set(published):
                body = {"username": user, "clientid": user, "topic": topic, "action": "subscribe"}
                http_says = http.post("/emqx/authz", json=body).json()["result"] == "allow"
                assert http_says == (topic in client.received), f"{user} reading {topic}: http says {http_says}"
        # and logging in: the right password, another's, a revoked user's
        assert _emqx_login(http, "T2", setup.passwords["T2"], "T2") == "allow"
        for user, password in (("T1", setup.passwords["T2"]), ("T3", setup.passwords["T3"])):
            assert _connack(broker.port, user, password) in {0x86, 0x87}  # Mosquitto refuses …
            assert _emqx_login(http, user, password, user) == "deny"  # … and so does the backend
    finally:
        for client in clients.values():
            client.close()
        broker.kill()


def _client_cert(files: BrokerFiles, folder: Path) -> tuple[str, str]:
    """A client certificate for a broker node, signed by the centre's CA that `shegong hub broker tls` made."""
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "broker-node-1")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_path, key_path = folder / "node.crt", folder / "node.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


def test_with_client_certificates_only_a_broker_holding_one_gets_an_answer(setup, tmp_path):
    files = setup.files
    _shegong("broker", "tls", "--dir", str(files.folder), "--host", "127.0.0.1")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEGONG_")}
    tls = ["--tls-cert", str(files.server_cert), "--tls-key", str(files.server_key), "--client-ca", str(files.ca_cert)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "shegong.cli", "hub", "broker", "serve-auth", "--dir", str(files.folder)]
        + ["--bind", "127.0.0.1", "--port", str(port), *tls],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"https://127.0.0.1:{port}/emqx/authn"
        body = {"username": "T1", "password": setup.passwords["T1"], "clientid": "T1"}
        node = _client_cert(files, tmp_path)

        broker_node = ssl.create_default_context(cafile=str(files.ca_cert))
        broker_node.load_cert_chain(*node)

        def answer() -> object:
            try:
                return httpx.post(url, json=body, verify=broker_node).json()
            except httpx.ConnectError:
                return None  # not listening yet

        assert wait_for(answer, timeout=30, what="serve-auth over mTLS")["result"] == "allow"
        stranger = ssl.create_default_context(cafile=str(files.ca_cert))
        with pytest.raises(httpx.TransportError):
            httpx.post(url, json=body, verify=stranger)  # no client certificate: refused in the handshake
    finally:
        proc.terminate()
        proc.wait(10)
