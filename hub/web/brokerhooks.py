"""The HTTP backend a clustered broker calls to authenticate and authorise MQTT clients
(``shegong hub broker serve-auth``; docs/scale.md "Users and ACLs").

Every answer is :class:`hub.broker.gate.Gate`'s, from the files ``shegong hub broker`` keeps; this module only
speaks the brokers' contracts:

- EMQX 5's HTTP authenticator (``POST /emqx/authn``: ``username``, ``password``, ``clientid`` → ``{"result":
  "allow" | "deny"}``) and HTTP authorizer (``POST /emqx/authz``: ``username``, ``clientid``, ``topic``,
  ``action`` ``publish``/``subscribe`` → ``{"result": "allow" | "deny"}``). Never ``ignore``: a question this
  service cannot answer yes to is a no, so nothing later in EMQX's chain can let the client in.
- VerneMQ's ``vmq_webhooks``: ``POST /vernemq/auth_on_register``, ``…/auth_on_publish``,
  ``…/auth_on_subscribe``, and their ``_m5`` variants (called for MQTT 5 clients, which ours are), answering
  ``{"result": "ok"}`` or ``{"result": {"error": "not_allowed"}}``; a subscription some of whose filters are
  refused is answered per filter (QoS 128, or 135 "not authorised" for MQTT 5), the others keeping theirs.

Handlers are synchronous and run on the event loop: an answer is a ``stat`` of two files and a few topic
matches (a login adds one PBKDF2 of ``mosquitto_passwd``'s 101 rounds), cheaper than a hop to a thread.
With ``secret`` set, a request without the header ``X-Shegong-Broker-Secret`` holding it is answered 403.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from litestar import Litestar, Request, Response, post
from litestar.di import Provide
from pydantic import BaseModel, ConfigDict

from hub.broker.auth import BrokerFiles
from hub.broker.gate import Action, Gate, Verdict

__all__ = ["SECRET_HEADER", "create_app"]

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Shegong-Broker-Secret"
NOT_ALLOWED = {"result": {"error": "not_allowed"}}
OK = {"result": "ok"}
REFUSED_QOS_V3 = 128  # MQTT 3.1.1 SUBACK failure
REFUSED_QOS_V5 = 135  # MQTT 5 SUBACK "not authorized"


class _Body(BaseModel):
    """Fields the brokers send that we do not use are ignored; a missing one is a refusal, not a 400."""

    model_config = ConfigDict(extra="ignore")


class EmqxAuthn(_Body):
    username: str | None = None
    password: str | None = None
    clientid: str | None = None


class EmqxAuthz(_Body):
    username: str | None = None
    clientid: str | None = None
    topic: str = ""
    action: str = ""


class VerneRegister(_Body):
    username: str | None = None
    password: str | None = None
    client_id: str | None = None


class VernePublish(_Body):
    username: str | None = None
    client_id: str | None = None
    topic: str = ""


class VerneTopic(_Body):
    topic: str = ""
    qos: int = 0


class VerneSubscribe(_Body):
    username: str | None = None
    client_id: str | None = None
    topics: list[VerneTopic] = []


def _logged(verdict: Verdict, what: str, username: str | None) -> Verdict:
    if not verdict:
        log.info("broker check refused %s for user %r: %s", what, username, verdict.reason)
    return verdict


@post("/emqx/authn", sync_to_thread=False, status_code=200)
def emqx_authn(data: EmqxAuthn, gate: Gate) -> dict[str, Any]:
    verdict = _logged(gate.login(data.username, data.password, data.clientid), "login", data.username)
    return {"result": "allow" if verdict else "deny", "is_superuser": False}


@post("/emqx/authz", sync_to_thread=False, status_code=200)
def emqx_authz(data: EmqxAuthz, gate: Gate) -> dict[str, Any]:
    try:
        action = Action(data.action)
    except ValueError:
        return {"result": "deny"}
    verdict = gate.may(data.username, data.clientid, action, data.topic)
    _logged(verdict, f"{action} {data.topic!r}", data.username)
    return {"result": "allow" if verdict else "deny"}


@post(["/vernemq/auth_on_register", "/vernemq/auth_on_register_m5"], sync_to_thread=False, status_code=200)
def vernemq_register(data: VerneRegister, gate: Gate) -> dict[str, Any]:
    verdict = _logged(gate.login(data.username, data.password, data.client_id), "login", data.username)
    return OK if verdict else NOT_ALLOWED


@post(["/vernemq/auth_on_publish", "/vernemq/auth_on_publish_m5"], sync_to_thread=False, status_code=200)
def vernemq_publish(data: VernePublish, gate: Gate) -> dict[str, Any]:
    verdict = gate.may(data.username, data.client_id, Action.PUBLISH, data.topic)
    return OK if _logged(verdict, f"publish {data.topic!r}", data.username) else NOT_ALLOWED


@post(["/vernemq/auth_on_subscribe", "/vernemq/auth_on_subscribe_m5"], sync_to_thread=False, status_code=200)
def vernemq_subscribe(request: Request[Any, Any, Any], data: VerneSubscribe, gate: Gate) -> dict[str, Any]:
    if not data.topics or not _logged(gate.client(data.username, data.client_id), "subscribe", data.username):
        return NOT_ALLOWED  # not the filters but the client (revoked, another's client id): refuse it all
    verdicts = [gate.may(data.username, data.client_id, Action.SUBSCRIBE, t.topic) for t in data.topics]
    for t, verdict in zip(data.topics, verdicts, strict=True):
        _logged(verdict, f"subscribe {t.topic!r}", data.username)
    if all(verdicts):
        return OK
    refused = REFUSED_QOS_V5 if request.url.path.endswith("_m5") else REFUSED_QOS_V3
    topics = [{"topic": t.topic, "qos": t.qos if v else refused} for t, v in zip(data.topics, verdicts, strict=True)]
    if request.url.path.endswith("_m5"):
        return {"result": "ok", "modifiers": {"topics": topics}}
    return {"result": "ok", "topics": topics}


def create_app(files: BrokerFiles, secret: str | None = None) -> Litestar:
    """The app for the broker files in ``files``; ``secret``: the value the brokers send in the secret header."""
    gate = Gate(files)
    expected = secret.encode("utf-8") if secret else None

    def check_secret(request: Request[Any, Any, Any]) -> Response[Any] | None:
        if expected is None:
            return None
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8")
        if hmac.compare_digest(given, expected):
            return None
        log.warning("broker check from %s without the shared secret", request.client.host if request.client else "?")
        return Response({"error": "forbidden"}, status_code=403)

    return Litestar(
        route_handlers=[emqx_authn, emqx_authz, vernemq_register, vernemq_publish, vernemq_subscribe],
        dependencies={"gate": Provide(lambda: gate, use_cache=True, sync_to_thread=False)},
        before_request=check_secret,
        openapi_config=None,
    )
