"""``shegong provision apply`` brings the hub machine to its desired state too (``[hub] provision = true``).

Two real sshd servers in their own mount namespaces: one acts as the hub machine (fresh: its release,
with the hub's dependencies, is installed for real), one as a terminal. Apply provisions the hub first —
the ``shegong-hub`` user, the release, ``hub.toml`` (0600, the hub user's), the broker's CA, certificate,
hub's and the tools' users and the ACL made there by its own ``shegong hub broker``, both broker passwords in
``hub.env`` (root's, 0600), Mosquitto's configuration as ``shegong hub broker conf`` prints it, and the hub's units
(web, two ingest workers of the template, the nightly timer) installed and enabled, and its case and
audit keys made once. The inventory still gives terminals other public keys: the hub is reported failed
with the two it must give, and no terminal is provisioned. With them set, apply provisions the terminal,
whose broker user the freshly provisioned hub issues over SSH (as the hub's user: the SQLite database is
the hub's), and the nightly unit's command, run as systemd would, completes every step. A real Mosquitto
started in the hub's namespace with exactly that configuration accepts the hub's, the tools' and the
terminal's passwords over TLS and refuses a wrong one. A second apply changes nothing on the hub (the
terminal now gets the CA the hub made).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

from harness.broker import free_port
from provisioning.render import toml_value
from tests.integration.provisioning.conftest import provision, unit_of, write_inventory
from tests.integration.provisioning.sshd import Sshd, admin_key, skip_reason
from tests.integration.provisioning.test_terminal_runs import _login
from tests.support import wait_for

# Slow (4 minutes on 2 cores: a release with the hub's dependencies installed over SSH, then a terminal
# issued from it): run with `make test-slow`, so `make test` stays well under its 15 minutes.
pytestmark = [
    pytest.mark.skipif(bool(skip_reason()), reason=str(skip_reason())),
    pytest.mark.timeout(900),
    pytest.mark.slow,
]


def test_apply_provisions_the_hub_and_its_broker_then_the_terminal(tmp_path: Path, wheels: Path, hub, terminals):
    (t1,) = terminals(1)
    hub_host = Sshd(tmp_path / "hub", admin_key(tmp_path / "admin")).start()
    broker_port = free_port()
    try:
        inventory = write_inventory(tmp_path, wheels, hub, [t1], broker_port=broker_port)
        text = inventory.read_text()
        hub_table = text[text.index("[hub]") : text.index("[[terminal]]")]
        text = text.replace(
            hub_table,
            "[hub]\n"
            'host = "127.0.0.1"\n'
            f"ssh_port = {hub_host.port}\n"
            f"ssh_key = {toml_value(str(tmp_path / 'admin' / 'admin_ed25519'))}\n"
            "provision = true\n"
            'reload_broker = "true"\n'
            'broker_names = ["127.0.0.1"]\n'
            f"broker_port = {broker_port}\n"
            'broker_bind = "127.0.0.1"\n'
            'settings = { database_url = "sqlite:////var/lib/shegong-hub/hub.db", web = { port = 8711 } }\n\n',
        )
        # the terminals trust the CA the hub makes: known only after the hub is provisioned
        ca = tmp_path / "hub-ca.crt"
        ca.write_text("")
        text = text.replace(f"broker_tls_ca = {toml_value(hub['ca'])}", f"broker_tls_ca = {toml_value(str(ca))}")
        inventory.write_text(text)

        only_hub = provision("apply", str(inventory), "--check")
        assert only_hub.returncode == 0, only_hub.stdout + only_hub.stderr
        assert "role=hub changed=" in only_hub.stdout

        # A hub set up new makes its keys; the inventory still gives the terminals other ones (the public halves
        # it was written with): the hub is provisioned, the terminals are not, and the operator is told what to set.
        refused = provision("apply", str(inventory))
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "role=hub" in refused.stdout and "failed=1" in refused.stdout.splitlines()[0]
        assert "JW001-K1" not in refused.stdout, "no terminal provisioned with keys that are not the hub's"
        shegong_hub = "env -i SHEGONG_HUB_CONFIG=/etc/shegong/hub.toml /opt/shegong/current/bin/shegong hub keys"
        case_public = hub_host.run(f"{shegong_hub} public").stdout.strip()
        audit_public = hub_host.run(f"{shegong_hub} audit-public").stdout.strip()
        assert f'hub_public_key = "{case_public}" and hub_audit_public_key = "{audit_public}"' in refused.stderr
        keys = "/etc/shegong/hub-case.key /etc/shegong/hub-case.key.audit"
        assert hub_host.run(f"stat -c '%a %U' {keys}").stdout.split("\n")[:2] == ["600 shegong-hub"] * 2
        made = hub_host.run(f"md5sum {keys}").stdout
        text = re.sub(r'(?m)^hub_public_key = ".*"$', f'hub_public_key = "{case_public}"', inventory.read_text())
        text = re.sub(r'(?m)^hub_audit_public_key = ".*"$', f'hub_audit_public_key = "{audit_public}"', text)
        inventory.write_text(text)
        hub_host.run(f"chown root:root {keys}")  # as an operator's `shegong hub keys init` as root leaves them

        first = provision("apply", str(inventory))
        assert first.returncode == 0, first.stdout + first.stderr
        assert hub_host.run(f"md5sum {keys}").stdout == made, "the hub's keys are made once, never replaced"
        assert hub_host.run(f"stat -c '%a %U' {keys}").stdout.split("\n")[:2] == ["600 shegong-hub"] * 2
        assert f"host=127.0.0.1:{hub_host.port} role=hub changed=" in first.stdout
        assert "failed=0" in first.stdout.splitlines()[0]
        assert hub_host.run("id -nG shegong-hub").stdout.split() == ["shegong-hub"]
        assert hub_host.run("/opt/shegong/current/bin/shegong hub --help").returncode == 0
        modes = hub_host.run("stat -c '%a %U' /etc/shegong/hub.toml /etc/shegong/hub.env /var/lib/shegong-hub").stdout
        assert modes.split("\n")[:3] == ["600 shegong-hub", "600 root", "700 shegong-hub"]
        settings = tomllib.loads(hub_host.run("cat /etc/shegong/hub.toml").stdout)
        assert settings["database_url"] == "sqlite:////var/lib/shegong-hub/hub.db"
        assert (settings["broker_username"], settings["broker_port"]) == ("hub", broker_port)
        env = dict(line.split("=", 1) for line in hub_host.run("cat /etc/shegong/hub.env").stdout.split())
        assert set(env) == {"SHEGONG_HUB_BROKER_PASSWORD", "SHEGONG_HUB_TOOLS_BROKER_PASSWORD"}
        hub_password, tools_password = env["SHEGONG_HUB_BROKER_PASSWORD"], env["SHEGONG_HUB_TOOLS_BROKER_PASSWORD"]
        # Each ingest worker its own broker user (the broker takes it as client id: a docs review saw workers
        # sharing `hub` throw each other off about once a second), in a file its unit reads after hub.env.
        workers_env = {}
        for n in (1, 2):
            env_file = f"/etc/shegong/hub-ingest-{n}.env"
            assert hub_host.run(f"stat -c '%a %U' {env_file}").stdout.strip() == "600 root"
            lines = dict(line.split("=", 1) for line in hub_host.run(f"cat {env_file}").stdout.split())
            assert lines["SHEGONG_HUB_BROKER_USERNAME"] == f"hub-ingest-{n}"
            workers_env[n] = lines["SHEGONG_HUB_BROKER_PASSWORD"]
        assert len({hub_password, *workers_env.values()}) == 3
        assert "/etc/shegong/hub-ingest-%i.env" in unit_of(hub_host, "shegong-ingest@.service")["EnvironmentFile"][-1]
        assert "\nuser hub-tools\n" in hub_host.run("cat /etc/mosquitto/shegong/acl").stdout
        conf = hub_host.run("cat /etc/mosquitto/conf.d/shegong.conf").stdout
        made = hub_host.run(
            f"/opt/shegong/current/bin/shegong hub broker conf --dir /etc/mosquitto/shegong --port {broker_port} "
            "--bind 127.0.0.1"
        ).stdout
        assert conf == made and f"listener {broker_port} 127.0.0.1" in conf
        workers = "shegong-ingest@1.service shegong-ingest@2.service"
        enabled = hub_host.run(
            f"systemctl is-enabled shegong-hub.target shegong-hub-web.service {workers} shegong-hub-night.timer"
        ).stdout.split()
        assert enabled == ["enabled"] * 5
        assert "starting skipped" in first.stderr
        assert "settings.backup_public_key" in first.stderr, "told that backups would be in clear, not failed"

        # The timer's night, as its unit starts it: its user, its environment and the broker passwords.
        night = unit_of(hub_host, "shegong-hub-night.service")
        unit_env = " ".join(kv for line in night["Environment"] for kv in shlex.split(line))
        as_hub = (
            f"setpriv --reuid={night['User'][0]} --regid={night['Group'][0]} --init-groups env -i PATH=/usr/bin:/bin"
        )
        run = f"cd / && exec {as_hub} {unit_env} $(cat /etc/shegong/hub.env) {night['ExecStart'][0]}"
        done = subprocess.run(
            ["nsenter", "-t", str(hub_host.pid), "-m", "sh", "-c", run], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        steps = {s["name"]: s["ok"] for s in json.loads(done.stdout)["steps"]}
        assert all(steps.values()) and {"backup", "anchor"} <= set(steps), steps

        # the terminal got its broker user from the hub just provisioned, in that hub's broker folder
        assert "JW001-K1:" in hub_host.run("cat /etc/mosquitto/shegong/passwd").stdout
        assert hub_host.run("cat /etc/mosquitto/shegong/ca.crt").stdout != ""
        ca.write_text(hub_host.run("cat /etc/mosquitto/shegong/ca.crt").stdout)

        # Mosquitto with the configuration as provisioned, in the hub's namespace
        mosquitto = subprocess.Popen(
            [
                "nsenter",
                "-t",
                str(hub_host.pid),
                "-m",
                "/usr/sbin/mosquitto",
                "-c",
                "/etc/mosquitto/conf.d/shegong.conf",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "mosquitto.log", "wb"),  # noqa: SIM115 - closed with the process
        )
        try:
            ca_file = str(ca)
            wait_for(lambda: _listening(broker_port), timeout=20, what="the provisioned broker")
            terminal_password = tomllib.loads(t1.run("cat /etc/shegong/edge.toml").stdout)["broker_password"]
            assert _login(broker_port, ca_file, "hub", hub_password), "the hub's password, from hub.env"
            assert _login(broker_port, ca_file, "hub-tools", tools_password), "the tools' password, from hub.env"
            for n, worker_password in workers_env.items():
                assert _login(broker_port, ca_file, f"hub-ingest-{n}", worker_password), "a worker's own user"
            assert _login(broker_port, ca_file, "JW001-K1", terminal_password), "the terminal's, from edge.toml"
            assert not _login(broker_port, ca_file, "JW001-K1", "wrong-password")
        finally:
            mosquitto.terminate()
            mosquitto.wait(10)

        second = provision("apply", str(inventory))
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"host=127.0.0.1:{hub_host.port} role=hub changed=0 failed=0" in second.stdout
        assert "terminal=JW001-K1 changed=1 failed=0" in second.stdout, "only the CA file it now trusts"

        # A broker set up by a release before the calendar topic: its ACL lacks the line. An apply of this
        # release brings the ACL up to it (and reloads the broker); one more changes nothing.
        acl = "/etc/mosquitto/shegong/acl"
        current = hub_host.run(f"cat {acl}").stdout
        assert "pattern read shegong/v1/hub/calendar\n" in current
        hub_host.run(f"sed -i '/hub\\/calendar/d' {acl}")
        assert "hub/calendar" not in hub_host.run(f"cat {acl}").stdout
        upgraded = provision("apply", str(inventory))
        assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
        assert f"host=127.0.0.1:{hub_host.port} role=hub changed=0" not in upgraded.stdout
        assert hub_host.run(f"cat {acl}").stdout == current
        assert hub_host.run(f"stat -c '%a' {acl}").stdout.strip() == "640"
        again = provision("apply", str(inventory))
        assert f"host=127.0.0.1:{hub_host.port} role=hub changed=0 failed=0" in again.stdout
    finally:
        hub_host.stop()


def _listening(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
