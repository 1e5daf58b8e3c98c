"""Network diagnostics a technician can read out over the phone: name resolution, TCP and TLS to the broker,
and logging in to it (the terminal's own login while it runs; a test login of ours while it does not).

Each step is bounded in time and returns a :class:`Step` (passed or not, how long, what it saw); nothing
raises. TLS checks the broker's certificate against the terminal's own CA file, as the sync agent does,
and reports when that certificate expires.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["Step", "diagnose", "login", "resolve", "tcp", "tls"]


@dataclass(frozen=True, slots=True)
class Step:
    """One diagnostic step: its name (a message key's last part), success, time taken, what it found."""

    name: str
    ok: bool
    ms: float
    detail: str = ""
    expires: datetime | None = field(default=None)


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)


def resolve(host: str, timeout_s: float = 3.0) -> Step:
    start = time.monotonic()
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        addrs = sorted({str(a[4][0]) for a in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)})
    except OSError as exc:
        return Step("dns", False, _ms(start), str(exc.strerror or exc))
    finally:
        socket.setdefaulttimeout(old)
    return Step("dns", True, _ms(start), ", ".join(addrs[:3]))


def tcp(host: str, port: int, timeout_s: float = 3.0) -> Step:
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as s:
            peer = s.getpeername()
    except OSError as exc:
        return Step("tcp", False, _ms(start), str(exc.strerror or exc))
    return Step("tcp", True, _ms(start), f"{peer[0]}:{peer[1]}")


def tls(host: str, port: int, ca: Path | None, timeout_s: float = 5.0) -> Step:
    """Handshake with the broker as the agent would; ``detail`` says why not, ``expires`` when it will."""
    if ca is None:
        return Step("tls", False, 0.0, "no broker_tls_ca: the link is not encrypted")
    start = time.monotonic()
    try:
        ctx = ssl.create_default_context(cafile=str(ca))
        with (
            socket.create_connection((host, port), timeout=timeout_s) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as s,
        ):
            cert = s.getpeercert() or {}
            version = s.version() or ""
    except (OSError, ssl.SSLError, ValueError) as exc:
        return Step("tls", False, _ms(start), str(getattr(exc, "reason", None) or exc)[:200])
    not_after = cert.get("notAfter")
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(str(not_after)), UTC) if not_after else None
    return Step("tls", True, _ms(start), version, expires)


def login(host: str, port: int, ca: Path | None, username: str, password: str | None, timeout_s: float = 5.0) -> Step:
    """Log in to the broker as the terminal does (its user, which is its client id, and password) and leave.

    Only while the terminal's service is stopped: the broker takes a second login of the same client id as
    the terminal's and drops the first, which would cut the running terminal's own link."""
    import paho.mqtt.client as mqtt  # only when asked: the console starts without it
    from paho.mqtt.enums import CallbackAPIVersion

    start = time.monotonic()
    answered: list[str] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username, clean_session=True)
    client.username_pw_set(username, password)
    if ca is not None:
        client.tls_set(ca_certs=str(ca))
    client.on_connect = lambda _c, _u, _f, code, _p: answered.append(str(code))
    try:
        client.connect(host, port, keepalive=10)
        deadline = time.monotonic() + timeout_s
        while not answered and time.monotonic() < deadline:
            client.loop(timeout=0.1)
    except (OSError, ssl.SSLError, ValueError) as exc:
        return Step("login", False, _ms(start), str(exc)[:200])
    finally:
        client.disconnect()
    if not answered:
        return Step("login", False, _ms(start), f"no answer within {timeout_s:.0f} s (the broker is stalled?)")
    return Step("login", answered[0] == "Success", _ms(start), answered[0])


def diagnose(host: str, port: int, ca: Path | None) -> list[Step]:
    """Every step in order; TCP and TLS are skipped (not passed) when the name does not resolve."""
    steps = [resolve(host)]
    if steps[0].ok:
        steps.append(tcp(host, port))
        if ca is not None and steps[-1].ok:
            steps.append(tls(host, port, ca))
    return steps
