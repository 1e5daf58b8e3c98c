"""The production broker's configuration: Mosquitto's listener lines, with passwords and ACLs and/or TLS.

:func:`listener_config` is the text a centre drops into ``/etc/mosquitto/conf.d/`` (``shegong hub broker
conf`` prints it); :mod:`hub.broker.auth` writes the files it names. The developer harness runs its own
test brokers with the same lines (``harness.broker``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["TUNING", "BrokerAuth", "BrokerTLS", "listener_config"]


@dataclass(frozen=True, slots=True)
class BrokerAuth:
    """No anonymous clients: each logs in with a user of ``password_file`` (``mosquitto_passwd`` hashes) and
    may touch only the topics ``acl_file`` grants it. Mosquitto reads both again on SIGHUP."""

    password_file: Path
    acl_file: Path


@dataclass(frozen=True, slots=True)
class BrokerTLS:
    """The listener speaks TLS (1.2 or later) with this certificate and key; clients verify it against the CA
    that signed it. ``cafile`` (that CA) lets Mosquitto send the chain; no client certificates are asked for."""

    certfile: Path
    keyfile: Path
    cafile: Path | None = None


#: Mosquitto's defaults (20 in flight, 1000 queued, silently dropped past it) are too small for a hub
#: catching up after an outage; the terminals' outboxes are the real queue either way.
TUNING = """max_inflight_messages 1000
max_queued_messages 200000
max_packet_size 1048576
"""


def listener_config(port: int, bind: str, auth: BrokerAuth | None = None, tls: BrokerTLS | None = None) -> str:
    """Mosquitto configuration lines for our one listener: open, or with passwords and ACLs, and/or TLS."""
    lines = [f"listener {port} {bind}"]
    if tls:
        lines += [f"certfile {tls.certfile}", f"keyfile {tls.keyfile}", "tls_version tlsv1.2"]
        if tls.cafile:
            lines.append(f"cafile {tls.cafile}")
        lines.append("require_certificate false")
    if auth:
        lines += ["allow_anonymous false", f"password_file {auth.password_file}", f"acl_file {auth.acl_file}"]
        # The client id is the user name, whatever the client says: nobody can take over another's session.
        lines.append("use_username_as_clientid true")
    else:
        lines.append("allow_anonymous true")
    return "\n".join(lines) + "\n"
