"""Who may talk to the centre's Mosquitto, and about what (DESIGN §6): users, the ACL and the TLS files.

Every terminal logs in as its own MQTT user (its terminal id) with a random password issued once at
provisioning; Mosquitto keeps only hashes, made by Debian's ``mosquitto_passwd``, which is given the
password on its standard input so it never appears in a process list. The ACL confines a terminal to
its own topics (``%u`` is the user name, so the id must fill one whole topic level: that check also
keeps ACL lines from being smuggled in) plus reading the three retained hub topics; the hub user reads
every terminal's ``up/`` and ``state`` and writes every ``down/``. The hub's tools (``shegong hub audit verify
--witnesses``) log in as a user of their own, never as an ingest worker's: the broker takes the user name as
client id, so a tool logged in as a worker would take over that worker's session. A tool user may only ask
terminals for their anchors (``down/audit``) and read their answers (``up/audit``). The TLS files are a small CA of the
centre's own and a server certificate signed by it; terminals verify the broker against the CA.

All files live in one folder (``BrokerFiles``); ``hub.broker.config.listener_config`` names them for
Mosquitto. Mosquitto reads the password and ACL files again on SIGHUP (``systemctl reload mosquitto``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import grp
import ipaddress
import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.broker.config import BrokerAuth, BrokerTLS
from hub.errors import HubError
from protocol import topics

__all__ = [
    "DEFAULT_DIR",
    "HUB_USER",
    "TOOLS_USER",
    "BrokerAuthError",
    "BrokerFiles",
    "acl_text",
    "add_hub",
    "add_terminal",
    "add_tool",
    "hub_users",
    "make_tls",
    "revoke",
    "tool_users",
    "users",
    "write_acl",
]

DEFAULT_DIR = Path("/etc/mosquitto/shegong")
HUB_USER = "hub"
TOOLS_USER = "hub-tools"
PASSWORD_BYTES = 24  # 32 URL-safe characters: beyond guessing, so Mosquitto's hash rounds do not matter


class BrokerAuthError(HubError):
    """A terminal id that cannot be a user, a user that exists or does not, or a tool that failed."""


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    """The broker's security files, all in ``folder``."""

    folder: Path

    @property
    def password_file(self) -> Path:
        return self.folder / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.folder / "acl"

    @property
    def ca_cert(self) -> Path:
        """Give this one to every terminal (``broker_tls_ca``) and to the hub."""
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        """Signs server certificates; Mosquitto never needs it (keep it offline if you can)."""
        return self.folder / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    def auth(self) -> BrokerAuth:
        return BrokerAuth(password_file=self.password_file, acl_file=self.acl_file)

    def tls(self) -> BrokerTLS:
        return BrokerTLS(certfile=self.server_cert, keyfile=self.server_key, cafile=self.ca_cert)


# ---------------------------------------------------------------------------------------------- users
def users(files: BrokerFiles) -> list[str]:
    """The user names in the password file, in its order."""
    if not files.password_file.exists():
        return []
    lines = files.password_file.read_text("utf-8").splitlines()
    return [line.split(":", 1)[0] for line in lines if ":" in line and not line.startswith("#")]


def add_terminal(files: BrokerFiles, terminal: str, password: str | None = None) -> str:
    """Make terminal ``terminal`` a user; return its password (shown once: only the hash is kept). Given
    ``password``, that one (provisioning puts back the password a terminal still holds when a rotate could
    not give it the new one), else a new random one."""
    _check_name(terminal, "terminal id")
    if terminal in {HUB_USER, TOOLS_USER, *hub_users(files), *tool_users(files)}:
        raise BrokerAuthError(f"{terminal!r} is the hub's user name; a terminal cannot have it")
    if password is not None and (len(password) < 16 or password != password.strip() or "\n" in password):
        raise BrokerAuthError("the password given is not one the hub issued (16 characters or more, one line)")
    return _add_user(files, terminal, password)


def add_hub(files: BrokerFiles, username: str = HUB_USER) -> str:
    """Make a hub user for an ingest worker (each worker needs its own: the user name is its client id) and
    write the ACL with it beside the hub and tool users it names already; return the password (shown once)."""
    _check_name(username, "hub user name")
    if username in {TOOLS_USER, *tool_users(files)}:
        raise BrokerAuthError(f"{username!r} is the tools' user name; a hub user needs another")
    password = _add_user(files, username)
    write_acl(files, [*(u for u in hub_users(files) if u != username), username], tool_users(files))
    return password


def add_tool(files: BrokerFiles, username: str = TOOLS_USER) -> str:
    """Make the user the hub's tools log in as (``[tools] broker_username``; never a worker's) and write the
    ACL with it; return the password (shown once)."""
    _check_name(username, "tool user name")
    if username in {HUB_USER, *hub_users(files)}:
        raise BrokerAuthError(f"{username!r} is a hub user (an ingest worker's); the tools need a user of their own")
    password = _add_user(files, username)
    write_acl(files, hub_users(files) or [HUB_USER], [*(u for u in tool_users(files) if u != username), username])
    return password


def revoke(files: BrokerFiles, username: str) -> None:
    """Remove a user: after the broker's next reload it can no longer log in."""
    _check_name(username, "user name")
    if username not in users(files):
        raise BrokerAuthError(f"no broker user {username!r} in {files.password_file}")
    _passwd(["-D", str(files.password_file), username])
    _restrict(files.password_file, 0o640)


def _add_user(files: BrokerFiles, username: str, password: str | None = None) -> str:
    if username in users(files):
        raise BrokerAuthError(f"broker user {username!r} exists already: revoke it first to issue a new password")
    files.folder.mkdir(parents=True, exist_ok=True)
    if not files.password_file.exists():
        os.close(os.open(files.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
    password = password or secrets.token_urlsafe(PASSWORD_BYTES)
    _passwd([str(files.password_file), username], stdin=f"{password}\n{password}\n")
    _restrict(files.password_file, 0o640)
    return password


def _passwd(args: list[str], stdin: str = "") -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise BrokerAuthError("mosquitto_passwd is not installed: run `apt-get install -y mosquitto`")
    done = subprocess.run([tool, *args], input=stdin, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise BrokerAuthError(f"mosquitto_passwd failed: {(done.stderr or done.stdout).strip()[:300]}")


def _check_name(name: str, what: str) -> None:
    """One whole topic level of letters, digits, ``-`` and ``_``: nothing for ``%u`` or the ACL file to misread."""
    if not topics.valid_terminal_id(name):
        raise BrokerAuthError(f"invalid {what} {name!r}: 1-64 letters, digits, '-' or '_'")


# ------------------------------------------------------------------------------------------------ ACL
def acl_text(hub_usernames: Sequence[str] = (HUB_USER,), tool_usernames: Sequence[str] = ()) -> str:
    """The ACL: Mosquitto ``pattern`` lines hold for every user (``%u`` is the user's own name); plain
    ``topic`` lines only for the ``user`` above them. Anonymous clients are refused before any of it."""
    for name in hub_usernames:
        _check_name(name, "hub user name")
    for name in tool_usernames:
        _check_name(name, "tool user name")
    root = topics.ROOT
    hub_grants = f"""topic read {root}/t/+/up/#
topic read {root}/t/+/state
topic write {root}/t/+/down/#
topic readwrite {topics.hub_state()}
topic readwrite {topics.catalogue()}
topic readwrite {topics.hub_anchor()}
topic readwrite {topics.calendar()}
"""
    hubs = "".join(f"\nuser {name}\n{hub_grants}" for name in hub_usernames)
    tool_grants = f"""topic write {root}/t/+/down/{topics.Down.AUDIT.value}
topic read {root}/t/+/up/{topics.Up.AUDIT.value}
"""
    tools = "".join(f"\nuser {name}\n{tool_grants}" for name in tool_usernames)
    # Each up/ channel by name, not up/#: Mosquitto's ACL cannot refuse the retain flag, so a terminal may
    # leave a message retained on each topic it writes; named, that is one per channel (eight in all, each
    # at most the broker's packet size), where up/# let one terminal fill the broker's memory topic by topic.
    up_grants = "".join(f"pattern write {root}/t/%u/up/{channel.value}\n" for channel in topics.Up)
    return f"""# written by `shegong hub broker`: who may read and write which topics (Mosquitto acl_file)

# Every user, %u being its own name (a terminal's id): its own state (birth, and death as its Will),
# its own up/ channels (each by name), its own down/ channels; and the hub's four retained topics, read only
# (Mosquitto warns that these four lines hold no %u: they are meant for every user).
pattern write {root}/t/%u/state
{up_grants}pattern read {root}/t/%u/down/#
pattern read {topics.hub_state()}
pattern read {topics.catalogue()}
pattern read {topics.hub_anchor()}
pattern read {topics.calendar()}

# The hub: its ingest workers (shared subscription or not), each a user of its own.
{hubs}
# The hub's tools (`shegong hub audit verify --witnesses`): ask terminals for their anchors, read the answers.
{tools}"""


def write_acl(
    files: BrokerFiles, hub_usernames: Sequence[str] = (HUB_USER,), tool_usernames: Sequence[str] = ()
) -> Path:
    """Write the ACL file (atomically) for these hub and tool users."""
    text = acl_text(hub_usernames, tool_usernames)
    files.folder.mkdir(parents=True, exist_ok=True)
    tmp = files.acl_file.with_suffix(".tmp")
    tmp.write_text(text, "utf-8")
    _restrict(tmp, 0o640)
    tmp.replace(files.acl_file)
    return files.acl_file


def hub_users(files: BrokerFiles) -> list[str]:
    """The hub users the ACL file names (none before ``add_hub``): those that read every terminal's ``up/``."""
    hub_line = f"topic read {topics.ROOT}/t/+/up/#"
    return [user for user, lines in _acl_users(files).items() if hub_line in lines]


def tool_users(files: BrokerFiles) -> list[str]:
    """The tool users the ACL file names (none before ``add_tool``): users with lines of their own, not hubs'."""
    hubs = set(hub_users(files))
    return [user for user in _acl_users(files) if user not in hubs]


def _acl_users(files: BrokerFiles) -> dict[str, list[str]]:
    """Each ``user`` of the ACL file with the lines below it, in the file's order."""
    if not files.acl_file.exists():
        return {}
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in files.acl_file.read_text("utf-8").splitlines():
        if line.startswith("user ") and len(line.split()) == 2:
            current = found.setdefault(line.split()[1], [])
        elif line.startswith("topic ") and current is not None:
            current.append(line.strip())
    return found


# ------------------------------------------------------------------------------------------------ TLS
def make_tls(files: BrokerFiles, hosts: Sequence[str], days: int = 825) -> BrokerTLS:
    """A server certificate for ``hosts`` (names or addresses terminals connect to), signed by the centre's
    CA; the CA is made on first use and kept, so terminals keep trusting the broker across renewals."""
    if not hosts:
        raise BrokerAuthError("a server certificate needs at least one host name or address (--host)")
    if days < 1:
        raise BrokerAuthError("--days must be at least 1")
    files.folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca(files)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(files.server_key, key, 0o640)
    files.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files.tls()


def _ca(files: BrokerFiles) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    if files.ca_key.exists() and files.ca_cert.exists():
        key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise BrokerAuthError(f"{files.ca_key} is not an EC key made by `shegong hub broker tls`")
        return key, x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Shegong"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Shegong MQTT CA"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(files.ca_key, key, 0o600)
    files.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _usage(digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, mode: int) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    _restrict(tmp, mode)
    tmp.replace(path)


def _restrict(path: Path, mode: int) -> None:
    """``mode`` (no world bits); a group-readable file goes to group ``mosquitto`` when we may do that, as the
    broker reads its files after dropping root."""
    os.chmod(path, mode)
    if mode & 0o040 and os.geteuid() == 0:
        with contextlib.suppress(KeyError):  # no mosquitto group here: the broker runs as whoever owns the files
            os.chown(path, 0, grp.getgrnam("mosquitto").gr_gid)
