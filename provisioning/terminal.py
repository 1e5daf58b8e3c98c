"""The pyinfra deploy of one terminal: what ``shegong provision apply`` makes true on it.

Every step is an idempotent pyinfra operation (a second run changes nothing), so ``--check`` can say
what would change without changing it. In order:

1. the ``shegong`` system user, in ``dialout`` (the serial devices) and nothing else;
2. the release: the wheelhouse (one tar, built on the administrator's machine) unpacked into
   ``/opt/shegong/releases/R``, a virtual environment there installed with ``--no-index`` (terminals have
   no internet), and ``/opt/shegong/current`` pointing at it — releases side by side, for upgrade;
3. ``/etc/shegong/edge.toml`` (0600, the ``shegong`` user's) and the broker's CA;
4. udev rules naming the devices by USB id, journald limits, the centre's time server, the firewall
   rules, sshd keys-only;
5. the systemd units, installed and enabled (started only where systemd runs; else reported skipped);
6. the terminal's audit signing key, ``/var/lib/shegong/audit.key`` (0600), made once.

sshd's new settings are checked by a second SSH connection while the first is still open: the engine
does it after this deploy and puts the old settings back if the second connection is refused.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shlex
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from pyinfra.api.command import FileUploadCommand, StringCommand
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta, operation
from pyinfra.context import host
from pyinfra.facts.files import File, FileContents
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

from provisioning import render
from provisioning.inventory import Terminal
from provisioning.wheelhouse import Release

__all__ = [
    "EDGE_UNITS",
    "ENABLED_UNITS",
    "OPT",
    "RELOAD_SSHD",
    "SSHD_DROPIN",
    "SYSTEMD_RUNNING",
    "SYSTEMD_DIR",
    "Release",
    "Steps",
    "deploy_terminal",
    "enabled",
    "CONFIRM_FIREWALL",
    "firewall_rules",
    "load_firewall",
    "nft_digest",
    "NFT_BOOT",
    "NFT_STATE",
    "managed_files",
    "ManagedFile",
    "config_files",
    "release_installed",
    "sshd_keys_only",
    "started",
    "state_command",
    "private_folder",
    "write_command",
]

OPT = "/opt/shegong"
SYSTEMD_DIR = Path(__file__).resolve().parent.parent / "systemd"
EDGE_UNITS = ("shegong-edge.service", "shegong-kiosk.service", "shegong-edge-night.service", "shegong-edge-night.timer")
ENABLED_UNITS = ("shegong-edge.service", "shegong-kiosk.service", "shegong-edge-night.timer")
SSHD_DROPIN = "/etc/ssh/sshd_config.d/50-shegong.conf"
# Debian's own Python (with python3-venv): whatever else an administrator put first on root's PATH (a pyenv
# under /root) may not be readable by the shegong user the release runs as.
SYSTEM_PYTHON = "/usr/bin/python3"
PIP_WHEELS = "/usr/share/python-wheels"  # python3-venv's own pip (python3-pip-whl), what its ensurepip installs
NFT_PATH = "/etc/shegong/nftables.conf"
NFT_STATE = "/run/shegong-firewall"  # what was loaded (gone at boot, when nftables.service loads NFT_PATH)
NFT_BOOT = "/etc/systemd/system/nftables.service.d/60-shegong.conf"


@dataclass(frozen=True)
class ManagedFile:
    """A whole file the deploy owns: its path, content, mode and owner."""

    path: str
    content: str
    mode: str = "644"
    owner: str = "root"
    group: str = "root"


@operation()
def release_installed(release: Release, extra: str = "edge") -> Generator[object, None, None]:
    """The release's virtual environment, installed from its wheelhouse with no index, unless it is: the
    tar is uploaded, unpacked, installed from and removed (the installed release is what is kept)."""
    done = f"{release.path}/.installed" + ("" if extra == "edge" else f"-{extra}")  # a hub needs the hub's
    if host.get_fact(File, path=done):
        return
    wheels, venv = f"{OPT}/wheelhouse/{release.name}", release.path
    yield f"mkdir -p {OPT}/wheelhouse {OPT}/releases && chmod 755 {OPT} {OPT}/wheelhouse {OPT}/releases"
    # Not through pyinfra's upload with sudo: it stages the file as /tmp/pyinfra-<hash of the path>, a name
    # anyone can guess and take first (then change the release between the upload and root's copy). The
    # SSH user's own folder, made 0700 under a random name (mkdir fails on anything already there), instead.
    private = private_folder(host)
    tar = f"{private}/release.tar"
    yield StringCommand(f"mkdir -m 700 {private}", _sudo=False)
    yield FileUploadCommand(str(release.tar), tar, _sudo=False)
    yield (
        # umask 022 whatever the SSH session's: the release is root's code, readable and runnable by the
        # shegong user (secrets live in /etc/shegong, 0600, not here)
        f"set -e; umask 022; rm -rf {wheels} {venv}; mkdir -p {wheels}; tar -xf {tar} -C {wheels}; "
        # No pip in the release: it would cost a second install (venv's ensurepip) for nothing it runs. The
        # pip wheel python3-venv brings (Debian's python3-pip-whl) installs it, run by the release's Python.
        f"{SYSTEM_PYTHON} -m venv --without-pip {venv}; pip=$(ls {PIP_WHEELS}/pip-*.whl | tail -n 1); "
        f"{venv}/bin/python $pip/pip install --quiet --no-index --no-cache-dir --no-compile "
        f"--find-links {wheels} 'shegong[{extra}]'; "
        # Byte-compiled on every core at once (pip compiles one file after another), as pip would have:
        # the shegong user cannot write beside root's code, so this is the only time it is compiled. A
        # file that does not compile is left to compile at import, as pip leaves it.
        f"{venv}/bin/python -m compileall -q -j 0 {venv}/lib > /dev/null || true; "
        f"rm -rf {wheels} {private}; touch {done}"
    )


def state_command(paths: list[str]) -> str:
    """One remote command that prints, per path, ``MODE OWNER GROUP SHA256`` or ``missing``."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    return (
        f'for f in {quoted}; do if [ -f "$f" ]; then '
        'printf "%s %s\\n" "$(stat -c "%a %U %G" "$f")" "$(sha256sum < "$f" | cut -d" " -f1)"; '
        "else echo missing; fi; done"
    )


def private_folder(on: Host) -> str:
    """A folder name for files that pass through the SSH user's hands (the release's tar, a retired
    terminal's database): under the temporary folder, a random name; made ``mkdir -m 700`` as that user,
    which fails on anything already there (no one can take the name first)."""
    return f"{on.get_temp_dir_config()}/shegong-{secrets.token_hex(8)}"


def write_command(f: ManagedFile) -> StringCommand:
    """One remote command (under sudo when the SSH user is not root) that writes ``f`` whole, its content
    read from the command's standard input: never in a file another user can read, not for a moment.

    pyinfra's own upload with sudo would stage the content as ``/tmp/pyinfra-<hash of the path>``, made by
    SFTP with the session's umask (0644): edge.toml's broker password and staff PINs readable by any local
    user until root's copy, under a name anyone can guess (and create first). Here the content travels in
    the SSH channel (base64: pyinfra writes standard input as text lines), is written by root with umask
    077 beside its target, given its owner and mode, and moved over the target whole: no reader, not even
    the terminal's own service, ever sees a half-written file or a file of the wrong mode. Not on the
    command line either: a process's arguments are anyone's to read in /proc."""
    path = shlex.quote(f.path)
    new = shlex.quote(f"{f.path}.shegong-new")
    script = (
        f"set -e; mkdir -p {shlex.quote(str(Path(f.path).parent))}; umask 077; rm -f {new}; base64 -d > {new}; "
        f"chown {f.owner}:{f.group} {new}; chmod {f.mode} {new}; mv -f {new} {path}"
    )
    return StringCommand(script, _stdin=base64.encodebytes(f.content.encode()).decode())


@operation()
def config_files(wanted: tuple[ManagedFile, ...]) -> Generator[object, None, None]:
    """Every file in ``wanted`` with exactly its content, mode and owner; one look at the host for all of
    them (a terminal on a slow link answers one command, not one per file)."""
    answer = host.get_fact(Command, state_command([f.path for f in wanted])) or ""
    states = answer.splitlines()
    for f, state in zip(wanted, states + ["missing"] * (len(wanted) - len(states)), strict=True):
        digest = hashlib.sha256(f.content.encode()).hexdigest()
        if state == f"{f.mode} {f.owner} {f.group} {digest}":
            continue
        if state == "missing" or not state.endswith(digest):
            yield write_command(f)
        else:
            yield f"chown {f.owner}:{f.group} {shlex.quote(f.path)} && chmod {f.mode} {shlex.quote(f.path)}"


@operation()
def enabled(units: tuple[str, ...]) -> Generator[str, None, None]:
    """``systemctl enable`` the units not yet enabled (works without a running systemd)."""
    state = host.get_fact(Command, "systemctl is-enabled " + " ".join(units) + " 2>/dev/null || true")
    answers = (state or "").split()
    if len(answers) == len(units) and all(a == "enabled" for a in answers):
        return
    yield "systemctl enable " + " ".join(units)


RELOAD_SSHD = (
    "if [ -d /run/systemd/system ]; then systemctl reload ssh; "
    "elif [ -s /run/sshd.pid ]; then kill -HUP $(cat /run/sshd.pid); fi"
)
SYSTEMD_RUNNING = "test -d /run/systemd/system && echo running || echo absent"


@operation()
def sshd_keys_only(content: str) -> Generator[object, None, None]:
    """The sshd drop-in, written as every managed file is (:func:`write_command`), validated (``sshd -t``)
    and read again by the running sshd. The drop-in it replaces is kept as ``.prev`` so the engine can put
    it back if a second connection is refused."""
    current = host.get_fact(FileContents, path=SSHD_DROPIN)
    if current is not None and "\n".join(current) + "\n" == content:
        return
    yield (
        f"set -e; if [ -e {SSHD_DROPIN} ]; then cp -p {SSHD_DROPIN} {SSHD_DROPIN}.prev; "
        f"else mkdir -p {Path(SSHD_DROPIN).parent}; : > {SSHD_DROPIN}.prev; fi"
    )
    yield write_command(ManagedFile(SSHD_DROPIN, content))
    yield f"sshd -t || {{ mv -f {SSHD_DROPIN}.prev {SSHD_DROPIN}; echo 'sshd refused the new settings' >&2; exit 1; }}"
    yield RELOAD_SSHD


def nft_digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


@operation()
def firewall_rules(content: str, mode: str) -> Generator[str, None, None]:
    """The rules in ``NFT_PATH`` checked by nft (``-c``: parsed, every name resolved) and nftables.service
    enabled, which loads them at boot. Loading them now is the engine's (:func:`provisioning.engine`): it
    needs a second SSH connection to confirm them. Nothing when these very rules were already loaded
    (checked) since boot."""
    marker = f"{NFT_STATE}/{'loaded' if mode == 'load' else 'checked'}"
    if host.get_fact(FileContents, path=marker) == [nft_digest(content)]:
        return
    yield "command -v nft >/dev/null || { echo 'nft is missing: install the Debian package nftables' >&2; exit 1; }"
    yield f"nft -c -f {NFT_PATH}"
    yield "systemctl enable --quiet nftables.service"  # loads them at boot (the drop-in NFT_BOOT)
    if mode == "check":
        yield f"mkdir -p {NFT_STATE} && echo {nft_digest(content)} > {marker}"


def load_firewall(digest: str, rollback_s: int) -> str:
    """A command that loads ``NFT_PATH`` with a dead man's switch: the ruleset it replaces comes back by
    itself after ``rollback_s`` seconds unless :func:`confirm_firewall` ran first (from a new connection)."""
    timer = (
        f"sleep {rollback_s}; if [ -e {NFT_STATE}/pending ]; then nft flush ruleset; "
        f"nft -f {NFT_STATE}/prev.nft; rm -f {NFT_STATE}/pending {NFT_STATE}/loaded; fi"
    )
    return (
        f"set -e; mkdir -p {NFT_STATE}; rm -f {NFT_STATE}/loaded; nft list ruleset > {NFT_STATE}/prev.nft; "
        f"echo {digest} > {NFT_STATE}/pending; setsid sh -c {shlex.quote(timer)} >/dev/null 2>&1 </dev/null & "
        f"nft -f {NFT_PATH}"
    )


CONFIRM_FIREWALL = f"mv -f {NFT_STATE}/pending {NFT_STATE}/loaded"


@operation()
def started() -> Generator[str, None, None]:
    """Where systemd runs: reload units and udev rules, restart the terminal and its browser, start the
    timer. Where it does not (a test namespace, an image being prepared), nothing: they start at boot."""
    yield "systemctl daemon-reload"
    yield "udevadm control --reload && udevadm trigger --subsystem-match=tty"
    yield "systemctl restart shegong-edge.service shegong-kiosk.service"
    yield "systemctl start shegong-edge-night.timer"
    yield "systemctl restart systemd-journald systemd-timesyncd"


@dataclass(frozen=True)
class Steps:
    """What the engine needs after the run: the sshd step (to check it), whether systemd runs there."""

    sshd: OperationMeta
    systemd: bool
    config: OperationMeta  # edge.toml among them: whether the terminal holds its new broker password
    audit_key: OperationMeta  # made now: its public half goes to the hub (provisioning.engine)
    firewall: OperationMeta | None = None  # set when the rules are to be loaded (not only checked)


def managed_files(t: Terminal, password: str) -> list[ManagedFile]:
    """Every whole file the deploy writes: configuration (edge.toml 0600, the terminal user's), the
    broker's CA, udev rules, journald and time settings, the kiosk browser's policies, firewall rules, the
    units."""
    assert t.broker_tls_ca is not None  # the inventory refuses a terminal without it
    wanted = [
        ManagedFile(render.CONFIG_PATH, render.edge_toml(t, password), "600", "shegong", "shegong"),
        ManagedFile(render.CA_PATH, t.broker_tls_ca.read_text()),
        ManagedFile("/etc/udev/rules.d/60-shegong.rules", render.udev_rules(t)),
        ManagedFile("/etc/systemd/journald.conf.d/60-shegong.conf", render.journald_conf(t)),
        ManagedFile("/etc/systemd/timesyncd.conf.d/60-shegong.conf", render.timesyncd_conf(t)),
        ManagedFile(render.BROWSER_POLICY_PATH, render.kiosk_browser_policy()),
        ManagedFile(NFT_PATH, render.nftables_conf(t), "600"),
        # at boot, Debian's nftables.service loads these rules instead of /etc/nftables.conf
        ManagedFile(NFT_BOOT, render.nftables_boot()),
    ]
    wanted += [ManagedFile(f"/etc/systemd/system/{u}", (SYSTEMD_DIR / "edge" / u).read_text()) for u in EDGE_UNITS]
    return wanted


AUDIT_KEY = "/var/lib/shegong/audit.key"  # edge audit_key_file's default: data_dir/audit.key, beside the database
AUDIT_PUBLIC_HEX = 64  # its public half as `shegong edge keys public` prints it: 32 bytes in hex


@operation()
def audit_key() -> Generator[str, None, None]:
    """The terminal's own audit signing key (Ed25519, 0600, the ``shegong`` user's), made once with
    ``shegong edge keys init`` and never replaced: a new key would leave every signed entry unverifiable.
    Its public half (``shegong edge keys public``) is registered at the hub by the same apply, before the
    broker takes the terminal's new password, so the hub never pins a key on first use for it."""
    if host.get_fact(File, path=AUDIT_KEY):
        return
    yield (f"runuser -u shegong -- {OPT}/current/bin/shegong edge keys init")


IME_INDEX = "/var/lib/shegong/ime.sqlite"  # kiosk ime_index's default: data_dir/ime.sqlite


@operation()
def pinyin_index() -> Generator[str, None, None]:
    """The kiosk keyboard's pinyin index, built once here (``shegong edge ime``): the kiosk would build it
    itself at the first letter typed, and that resident would wait for it. A release with other word lists
    rebuilds it the same way, at the first letter."""
    if host.get_fact(File, path=IME_INDEX):
        return
    yield (f"runuser -u shegong -- {OPT}/current/bin/shegong edge ime")


def deploy_terminal(t: Terminal, password: str, release: Release) -> Steps:
    """Add this terminal's operations for the current host (in pyinfra's host and state context)."""
    systemd = host.get_fact(Command, SYSTEMD_RUNNING) == "running"
    server.group(name="group shegong", group="shegong", system=True)
    server.user(
        name="user shegong in dialout",
        user="shegong",
        group="shegong",
        groups=["dialout"],
        system=True,
        home="/var/lib/shegong",
        create_home=False,
        shell="/usr/sbin/nologin",
    )
    files.directory(name="data folder", path="/var/lib/shegong", user="shegong", group="shegong", mode="0700")
    restart_on = [release_installed(name=f"release {release.name} installed with no index", release=release)]
    restart_on += [files.link(name="current release", path=f"{OPT}/current", target=release.path, symbolic=True)]

    files.directory(name="/etc/shegong", path="/etc/shegong", user="root", group="shegong", mode="0750")
    wanted = tuple(managed_files(t, password))
    config = config_files(name="configuration, units and rules", wanted=wanted)
    restart_on.append(config)
    key = audit_key(name="audit signing key")
    pinyin_index(name="pinyin keyboard's index")
    enabled(name="units enabled", units=ENABLED_UNITS)

    sshd = sshd_keys_only(name="sshd keys only", content=render.sshd_conf(t))
    firewall = firewall_rules(name="firewall rules checked", content=render.nftables_conf(t), mode=t.firewall)
    if systemd:
        started(name="services (re)started", _if=[lambda: any(m.did_change() for m in restart_on)])
    return Steps(
        sshd=sshd, systemd=systemd, config=config, audit_key=key, firewall=firewall if t.firewall == "load" else None
    )
