"""A real OpenSSH server per simulated terminal, in its own mount namespace with overlays over the system
folders the provisioner writes (/etc, /opt, /var/lib, /usr/local), so a test provisions the real paths —
users, units, udev rules, configuration — and the machine running the tests is left as it was.

Following ../shared/reference/provisioning-tests.md: ``unshare --mount`` with overlayfs over whole folders
(``useradd`` renames a new /etc/passwd over the old one, which a bind-mounted file refuses); sshd on a
free loopback port with its own host key and the test's authorized key, and root's home a fresh Debian
one (not this machine's, whose ~/.bashrc every SSH command would run); it keeps the namespace alive
after the shell exits, and ``stop()`` kills it by the PID in its PidFile.

A terminal whose firewall is loaded (``network=True``) has its own network namespace too, joined to this
machine by a veth pair on a /30 of 198.18.0.0/15 (the benchmarking range, routed nowhere): its rules
then filter its own traffic only, and the administrator's SSH reaches it over the pair as over a LAN.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness.broker import free_port

__all__ = ["OVERLAID", "Sshd", "admin_key", "skip_reason"]

OVERLAID = ("/etc", "/opt", "/var/lib", "/usr/local", "/var/log", "/run")


def skip_reason() -> str | None:
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: the test sshd runs in its own mount namespace with overlays over /etc and /opt"
    if not Path("/usr/sbin/sshd").exists():
        return "OpenSSH server missing (scripts/system-deps.sh installs openssh-server)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) missing"
    return None


def admin_key(folder: Path) -> Path:
    """The administrator's SSH key pair (ed25519, no passphrase); returns the private key's path."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "admin_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


class Sshd:
    """One simulated terminal: sshd on 127.0.0.1:``port`` in a namespace whose system folders are overlays
    kept under ``root`` (``root/etc_up`` … hold what the provisioner wrote)."""

    def __init__(self, root: Path, key: Path, opt_layers: tuple[Path, ...] = (), network: bool = False) -> None:
        self.root = root
        self.key = key
        self.opt_layers = opt_layers  # read-only layers under the terminal's /opt (a release installed before)
        self.port = free_port()
        self.netns = f"shegong-t{self.port}" if network else None
        pair = ipaddress.ip_network("198.18.0.0/15").network_address + 4 * (self.port & 0x7FFF)
        self.admin_network = f"{pair}/30" if network else "127.0.0.0/8"  # where the administrator connects from
        self.address = str(pair + 2) if network else "127.0.0.1"
        self._host_side = f"{pair + 1}/30"
        self.pid_file = root / "run_up" / "sshd.pid"  # /run/sshd.pid in the namespace, where provisioning HUPs it
        self.log = root / "sshd.log"

    def upper(self, folder: str) -> Path:
        """Where the overlay of ``folder`` (``/etc`` …) keeps what was written in the namespace."""
        return self.root / f"{folder.strip('/').replace('/', '_')}_up"

    def start(self) -> Sshd:
        r = self.root
        r.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(r / "host_key")], check=True)
        shutil.copy(self.key.with_suffix(".pub"), r / "authorized_keys")
        (r / "sshd_config").write_text(
            # The provisioner's drop-in (keys only) is read first, so it wins, as Debian's sshd_config has it.
            "Include /etc/ssh/sshd_config.d/*.conf\n"
            f"Port {self.port}\nListenAddress {self.address}\nHostKey {r / 'host_key'}\n"
            # root's key here; an account made in the terminal (an administrator with sudo) keeps its own at home
            f"AuthorizedKeysFile {r / 'authorized_keys'} .ssh/authorized_keys\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            "PidFile /run/sshd.pid\nStrictModes no\nUsePAM no\n"
            "Subsystem sftp /usr/lib/openssh/sftp-server\n"
        )
        mounts = []
        for folder in OVERLAID:
            name = folder.strip("/").replace("/", "_")
            (r / f"{name}_up").mkdir(exist_ok=True)
            (r / f"{name}_work").mkdir(exist_ok=True)
            lower = ":".join([*(str(p) for p in self.opt_layers), folder]) if folder == "/opt" else folder
            mounts.append(
                f"mount -t overlay overlay -o lowerdir={lower},upperdir={r}/{name}_up,workdir={r}/{name}_work {folder}"
            )
        prefix: list[str] = []
        if self.netns:
            ns, outside, inside = self.netns, f"vh{self.port}", f"vt{self.port}"
            subprocess.run(["ip", "netns", "add", ns], check=True)
            subprocess.run(
                ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside, "netns", ns], check=True
            )
            subprocess.run(["ip", "addr", "add", self._host_side, "dev", outside], check=True)
            subprocess.run(["ip", "link", "set", outside, "up"], check=True)
            up = f"ip link set lo up && ip addr add {self.address}/30 dev {inside} && ip link set {inside} up"
            mounts.insert(0, up)
            prefix = ["ip", "netns", "exec", ns]
        # root's home is the terminal's own, as Debian makes it (base-files' .bashrc and .profile), not this
        # machine's: bash run by sshd reads ~/.bashrc, and a developer's (a pyenv init) made every remote
        # command of provisioning take a third of a second
        home = r / "root_home"
        home.mkdir(mode=0o700, exist_ok=True)
        for dot in ("bashrc", "profile"):
            shutil.copy(f"/usr/share/base-files/dot.{dot}", home / f".{dot}")
        mounts.append(f"mount --bind {home} /root")
        script = " && ".join([*mounts, "mkdir -p /run/sshd", f"/usr/sbin/sshd -f {r}/sshd_config -E {self.log}"])
        subprocess.run([*prefix, "unshare", "--mount", "--propagation", "private", "sh", "-c", script], check=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.address, self.port), timeout=1).close()
            except OSError:
                time.sleep(0.05)
                continue
            if self.pid_file.exists() and self.pid_file.read_text().strip():  # written after it listens: run() needs it
                return self
            time.sleep(0.05)
        raise RuntimeError(f"test sshd did not listen on {self.port}: {self.log.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        return int(self.pid_file.read_text().split()[0])

    def run(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``command`` inside this terminal's namespace (as root), as the tests' eyes on the terminal."""
        return subprocess.run(
            ["nsenter", "-t", str(self.pid), "-m", "-n", "sh", "-c", command],
            capture_output=True,
            text=True,
            check=check,
        )

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            os.kill(self.pid, signal.SIGTERM)
        if self.netns:  # the pair goes with the namespace, once sshd is gone from it
            subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True)
