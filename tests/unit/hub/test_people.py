"""Back-office users: ``shegong hub user add|passwd|disable|enable|list``, argon2 hashes, sign-in that
says the same thing for every failure, and every change and sign-in audited (failures are tallied
instead: test_login_throttle.py)."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import text

from hub import cli
from hub.db.engine import open_engine
from hub.errors import PermissionDenied
from hub.people.roles import Permission, Role, authorize, can
from hub.people.service import BadCredentials, InvalidUser, Users


@pytest.fixture
def db(hub_db_url, monkeypatch):
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
    engine = open_engine(hub_db_url)
    yield engine
    engine.dispose()


def _run(monkeypatch, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return cli.main(list(argv))


def test_users_are_managed_from_the_command_line_and_every_change_is_audited(db, monkeypatch, capsys):
    assert (
        _run(
            monkeypatch,
            "user",
            "add",
            "li",
            "--role",
            "clerk",
            "--department",
            "MZ",
            "--department",
            "RS",
            "--display-name",
            "李四",
            "--password-stdin",
            stdin="first-pass-1\n",
        )
        == 0
    )
    users = Users(db)
    who = users.authenticate("li", "first-pass-1")
    assert (who.role, who.departments, who.display_name) == (Role.CLERK, frozenset({"MZ", "RS"}), "李四")

    _run(monkeypatch, "user", "passwd", "li", "--password-stdin", stdin="second-pass-2\n")
    with pytest.raises(BadCredentials):
        users.authenticate("li", "first-pass-1")
    assert users.authenticate("li", "second-pass-2").username == "li"

    _run(monkeypatch, "user", "disable", "li")
    assert users.principal(who.user_id) is None  # an open session ends at its next request
    with pytest.raises(BadCredentials):
        users.authenticate("li", "second-pass-2")
    _run(monkeypatch, "user", "enable", "li")
    _run(monkeypatch, "user", "list")
    assert "li\tclerk\tMZ,RS\tactive\t李四" in capsys.readouterr().out

    with db.connect() as conn:
        rows = conn.execute(text("SELECT actor, action, subject, data FROM audit ORDER BY id")).all()
        stored = conn.execute(text("SELECT password_hash FROM users WHERE username = 'li'")).scalar_one()
    actions = [r.action for r in rows if r.subject == "li"]
    assert actions == [
        "user.added",
        "auth.login",
        "user.password_changed",
        "auth.login",
        "user.disabled",
        "user.enabled",
    ]
    with db.connect() as conn:
        failed = conn.execute(text("SELECT sum(failures) FROM login_failures WHERE username = 'li'")).scalar_one()
    assert failed == 2  # the old password, and signing in while disabled
    assert all(r.actor.startswith("cli:") for r in rows if r.action.startswith("user."))
    assert json.loads(rows[0].data)["departments"] == ["MZ", "RS"]
    assert stored.startswith("$argon2id$") and "second-pass-2" not in stored


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("short1", "clerk", ["MZ"]), "too short"),
        (("onlyletterspassword", "clerk", ["MZ"]), "mixed"),
        (("good-pass-12", "clerk", []), "department"),
        (("good-pass-12", "auditor", ["MZ"]), "only clerks"),
        (("good-pass-12", "clerk", ["XX"]), "unknown department"),
        (("good-pass-12", "root", []), "unknown role"),
    ],
)
def test_impossible_users_are_refused(db, args, problem):
    with pytest.raises(InvalidUser, match=problem):
        Users(db, lambda: ["MZ", "RS"]).add("zhao", *args)


def test_the_policy_scopes_clerks_to_their_departments_and_keeps_auditors_read_only(db):
    users = Users(db)
    clerk = users.add("c1", "clerk-pass-1", "clerk", ["MZ"])
    auditor = users.add("a1", "audit-pass-1", "auditor")
    manager = users.add("m1", "manager-pass-1", "manager")
    operator = users.add("o1", "operator-pass-1", "operator")
    assert can(clerk, Permission.CASE_ACT, "MZ") and not can(clerk, Permission.CASE_ACT, "RS")
    assert not can(clerk, Permission.AUDIT_READ) and not can(clerk, Permission.REPORT_READ)
    assert can(auditor, Permission.AUDIT_READ) and can(auditor, Permission.CASE_READ, "RS")
    assert not any(can(auditor, p) for p in (Permission.CASE_ACT, Permission.CASE_ROUTE, Permission.CALENDAR_WRITE))
    assert all(can(manager, p, "RS") for p in Permission)
    assert not can(operator, Permission.CASE_READ) and can(operator, Permission.CALENDAR_WRITE)
    with pytest.raises(PermissionDenied):
        authorize(auditor, Permission.CASE_ACT, "MZ")
