"""Mosquitto's ACL file syntax as the broker checks read it, on a hand-written file beyond what
``acl_text()`` writes: the first line that matches decides (so a ``deny`` works only before a grant), a
``topic`` line without an access word is ``readwrite``, ``%u`` and ``%c`` fill patterns, a name holding a
wildcard gets no pattern, and a subscription is granted only when its whole filter may be read. The password
file is made by Debian's ``mosquitto_passwd`` (through ``hub.broker.auth``): a second implementation of the
``$7$`` hash. Expected answers follow mosquitto.conf(5) on ``acl_file`` and Mosquitto's own ACL check.
"""

from __future__ import annotations

import pytest

from hub.broker import auth as brokerauth
from hub.broker.gate import Action, Gate, verify_password

ACL = """# hand-written
user alice
topic deny x/secret
topic read x/#
topic y/z
topic read w/#
topic deny w/hidden
pattern readwrite p/%u/#
pattern read c/%c
"""

PUB, SUB = Action.PUBLISH, Action.SUBSCRIBE


@pytest.fixture
def gate(tmp_path):
    files = brokerauth.BrokerFiles(tmp_path / "broker")
    password = brokerauth.add_terminal(files, "alice")
    brokerauth.add_terminal(files, "bob")
    with files.password_file.open("a") as f:  # a name `shegong hub broker` refuses, as another tool might write
        f.write("+:" + files.password_file.read_text().splitlines()[1].split(":", 1)[1] + "\n")
    files.acl_file.write_text(ACL)
    line = files.password_file.read_text().splitlines()[0]
    assert verify_password(line.split(":", 1)[1], password)
    assert not verify_password(line.split(":", 1)[1], password[:-1])
    return Gate(files)


@pytest.mark.parametrize(
    ("user", "action", "topic", "allowed"),
    [
        ("alice", SUB, "x/open", True),
        ("alice", SUB, "x/+/deep", True),
        ("alice", SUB, "x/secret", False),  # the deny line comes first
        ("alice", SUB, "w/hidden", True),  # here the grant does: Mosquitto's first match decides
        ("alice", SUB, "w/#", True),
        ("alice", SUB, "x/#", False),  # would include x/secret
        ("alice", SUB, "x/+", False),  # so would this
        ("alice", PUB, "x/open", False),  # read only
        ("alice", PUB, "y/z", True),  # no access word: readwrite
        ("alice", SUB, "y/z", True),
        ("alice", PUB, "p/alice/1", True),
        ("alice", SUB, "p/alice/#", True),
        ("alice", PUB, "p/bob/1", False),
        ("bob", PUB, "p/bob/1", True),
        ("bob", SUB, "x/open", False),  # alice's lines are hers
        ("bob", SUB, "c/bob", True),  # %c: the client id, which is the user name
        ("bob", SUB, "c/+", False),
        ("bob", SUB, "#", False),
        ("bob", SUB, "p/bob/#/x", False),  # not a filter
        ("bob", PUB, "p/bob/+", False),  # not a topic
        ("carol", PUB, "p/carol/1", False),  # no such user
        ("+", PUB, "p/alice/1", False),  # a wildcard for a name would widen p/%u/#: refused
    ],
)
def test_the_acl_read_as_mosquitto_reads_it(gate, user, action, topic, allowed):
    assert bool(gate.may(user, user, action, topic)) is allowed


R = "shegong/v1"


@pytest.mark.parametrize(
    ("action", "topic", "allowed"),
    [
        (PUB, f"{R}/t/T1/down/audit", True),  # asks a terminal for its anchors
        (SUB, f"{R}/t/+/up/audit", True),  # and reads the answers
        (SUB, f"{R}/hub/anchor", True),  # the hub's retained topics, as every user
        (PUB, f"{R}/t/T1/down/acks", False),  # nothing an ingest worker writes
        (PUB, f"{R}/t/T1/down/events", False),
        (PUB, f"{R}/catalogue", False),
        (PUB, f"{R}/hub/state", False),
        (PUB, f"{R}/hub/anchor", False),
        (PUB, f"{R}/t/T1/up/audit", False),
        (SUB, f"{R}/t/+/up/#", False),  # nor reads what it does not need
        (SUB, f"{R}/t/+/up/cases", False),
        (SUB, f"{R}/t/+/state", False),
        (SUB, f"$share/ingest/{R}/t/+/up/#", False),
    ],
)
def test_the_tools_user_may_ask_for_anchors_and_read_the_answers_only(tmp_path, action, topic, allowed):
    files = brokerauth.BrokerFiles(tmp_path / "broker")
    brokerauth.add_hub(files)
    password = brokerauth.add_tool(files)
    brokerauth.add_terminal(files, "T1")
    gate = Gate(files)
    assert gate.login("hub-tools", password, "hub-tools")
    assert not gate.login("hub-tools", password, "hub")  # under the worker's client id: refused
    assert bool(gate.may("hub-tools", "hub-tools", action, topic)) is allowed
    assert gate.may("hub", "hub", PUB, f"{R}/t/T1/down/acks")  # the worker's rights are untouched
