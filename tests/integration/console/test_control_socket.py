"""The running terminal's control socket, and the overview of a terminal a real hub acks.

A terminal whose clock runs a minute slow submits cases; the hub (on a real Mosquitto) commits and acks them.
The console, a separate process's view over the socket and the store, shows the outbox emptied, the last
ack, the batch's round trip, and the terminal's clock a minute behind the hub's, in red. The socket itself
is the terminal user's alone, answers each request by its id, and says what it did not understand. A process
of another user is refused; one of the terminal's user is named in the audit chain by the kernel — the user
its login session started as, and the account it runs as — whatever name its request declares.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import stat
import subprocess
import sys
from datetime import timedelta

import pytest
from rich.text import Text

from edge.console.panes.overview import Overview
from edge.console.store import ConsoleStore
from edge.control import ControlClient, ControlServer, socket_path
from edge.errors import EdgeError
from edge.store.cases import NewCase
from kernel.unixsock import socket_address
from protocol.envelope import utcnow
from tests.integration.console.conftest import HOST
from tests.integration.console.test_console_actions import console_entries
from tests.support import applicant, wait_for


@pytest.fixture
def live(edge_factory, hub_factory):
    hub_factory()
    rt = edge_factory("T-0001", clock=lambda: utcnow() - timedelta(seconds=60))
    rt.start_sync()
    server = ControlServer(rt, socket_path(rt.settings.runtime_dir), "1.2.3").start()
    yield rt, server
    server.close()


def test_the_socket_is_private_and_answers_by_id(live):
    rt, server = live
    mode = server.path.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(server.path.parent.stat().st_mode) == 0o700
    with socket.socket(socket.AF_UNIX) as s, socket_address(server.path) as address:
        s.connect(address)
        f = s.makefile("rwb")
        f.write(b"not json\n" + json.dumps({"op": "nonsense", "id": "a1"}).encode() + b"\n")
        f.write(json.dumps({"op": "status", "id": "a2"}).encode() + b"\n")
        f.flush()
        bad, unknown, status = (json.loads(f.readline()) for _ in range(3))
    assert bad["ok"] is False and bad["error"].startswith("bad request")
    assert unknown == {"id": "a1", "ok": False, "error": "unknown op 'nonsense'"}
    assert status["id"] == "a2" and status["ok"] and status["data"]["app_version"] == "1.2.3"
    with pytest.raises(EdgeError, match="unknown op"):
        ControlClient(server.path).request("nonsense")


# Another process, as a technician's console run with `sudo -u <the terminal's user>` after an SSH login: it starts
# as root, takes the login uid pam_loginuid would give the SSH session, drops to `nobody` (standing for the
# terminal's user) and asks for `send_now` under a name of its choosing, speaking the protocol by hand.
_CLIENT = r"""
import json, os, pwd, socket, sys
folder, login_uid, declared = sys.argv[1:]
with open("/proc/self/loginuid", "w") as f:
    f.write(login_uid)
os.chdir(folder)  # the folder's mode is still checked at connect (the lookup starts in it)
nobody = pwd.getpwnam("nobody")
os.setgroups([])
os.setgid(nobody.pw_gid)
os.setuid(nobody.pw_uid)
with socket.socket(socket.AF_UNIX) as s:
    try:
        s.connect("control.sock")
    except PermissionError:
        sys.exit("refused")
    s.sendall(json.dumps({"op": "send_now", "id": "r1", "args": {}, "actor": declared}).encode() + b"\n")
    print(s.makefile("rb").readline().decode(), end="")
"""


def _ask_as_nobody(folder, login_uid: int, declared: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CLIENT, str(folder), str(login_uid), declared],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the client runs as another user")
def test_the_audit_names_the_kernels_peer_not_the_name_a_request_declares(live):
    probe = subprocess.run([sys.executable, "-c", "open('/proc/self/loginuid', 'w').write('1')"], capture_output=True)
    if probe.returncode:  # CAP_AUDIT_CONTROL, or a login uid already set and made immutable
        pytest.skip(f"this machine does not let a process take a login uid: {probe.stderr.decode().splitlines()[-1]}")
    rt, server = live
    wait_for(rt.agent.connected_event.is_set, what="terminal online")
    folder = server.path.parent
    daemon = pwd.getpwnam("daemon").pw_uid  # the technician who logged in over SSH
    no_login = 2**32 - 1  # the kernel's "no login session"

    refused = _ask_as_nobody(folder, daemon, "technician:alice")
    assert (refused.returncode, refused.stderr.strip()) == (1, "refused"), "the socket is its user's alone"
    assert console_entries(rt.settings) == []

    nobody = pwd.getpwnam("nobody")  # now the socket is nobody's, as it is the terminal's user's in the field
    os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    os.chown(server.path, nobody.pw_uid, nobody.pw_gid)
    replies = [_ask_as_nobody(folder, daemon, "technician:alice"), _ask_as_nobody(folder, no_login, "technician:bob")]
    for asked in replies:
        assert asked.returncode == 0, asked.stderr
        assert json.loads(asked.stdout) == {"id": "r1", "ok": True, "data": {"asked": "send_now", "outcome": "resent"}}
    assert console_entries(rt.settings) == [
        ("technician:daemon", "console.send_now", {"ok": True, "outcome": "resent", "account": "nobody"}),
        ("technician:nobody", "console.send_now", {"ok": True, "outcome": "resent"}),
    ]


@pytest.mark.anyio
async def test_overview_of_a_terminal_the_hub_acks_shows_round_trip_and_a_slow_clock(live):
    from edge.console.app import ConsoleApp

    rt, _server = live
    wait_for(rt.agent.connected_event.is_set, what="terminal online")
    for i in range(3):
        rt.cases.submit(NewCase(item_code="JB-001", applicant=applicant(i)))
    wait_for(lambda: rt.outbox.stats().depth == 0, what="the hub's acks")
    store = ConsoleStore(rt.settings)
    app = ConsoleApp(rt.settings, store, host=lambda: HOST, refresh_every_s=0)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            table = app.query_one(Overview)
            rows = {str(k.value): [str(c) if isinstance(c, Text) else c for c in table.get_row(k)] for k in table.rows}
    finally:
        store.close()
    assert rows["link"][1:3] == ["正常", "在线"]
    assert rows["outbox"][1:] == ["正常", "0", "全部已送达中心"]
    assert rows["last_ack"][1] == "正常"
    # measured, in ms; its level is the machine's (a loaded CI machine's first PostgreSQL round trip passed 1 s)
    assert rows["round_trip"][1] in {"正常", "注意"} and rows["round_trip"][2].endswith(" ms"), rows["round_trip"]
    assert rows["clock"][1] == "故障" and rows["clock"][2].startswith("-"), rows["clock"]
    assert "终端比中心慢" in rows["clock"][3], "said as the fleet page says it"
    offset = float(rows["clock"][2].removesuffix(" s"))
    assert -65 < offset < -55, "the terminal runs a minute slow: -60 s, terminal minus hub"
    assert rows["terminal"][1] == "正常"
