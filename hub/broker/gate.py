"""A clustered broker's questions (may this client log in, publish, subscribe?) answered from the files
``shegong hub broker`` keeps for Mosquitto: one set of users and rules whichever broker runs.

EMQX and VerneMQ have no ``passwd`` or ``acl_file``; they ask an HTTP service on every connection, publish
and subscribe (``hub.web.brokerhooks`` serves these answers; docs/scale.md). The answers come from the same
two files Mosquitto reads, read here with Mosquitto's meaning:

- ``passwd``: ``user:$7$<iterations>$<base64 salt>$<base64 hash>``, PBKDF2-HMAC-SHA512 as ``mosquitto_passwd``
  makes it; a revoked user has no line and is refused, also for publishing and subscribing while connected.
- ``acl``: ``user NAME`` starts a user's ``topic`` lines; ``pattern`` lines hold for every user, ``%u`` and
  ``%c`` standing for its user name and client id; access ``read``, ``write``, ``readwrite`` (the default)
  or ``deny``. The user's lines, then the patterns, in the file's order: the first that matches and denies,
  or grants the access asked, decides; when none does, the answer is no.

Three differences, each stricter than Mosquitto: the client id must equal the user name (Mosquitto replaces
it with ``use_username_as_clientid``; these brokers cannot, so a client giving another id is refused);
a subscription is granted only when every topic its filter can match may be read (Mosquitto grants any
filter and then delivers only what the ACL lets through); a shared subscription (``$share/<group>/…``) only
to a user with lines of its own in the ACL — the hub's users — never to a terminal.

Each answer stats the two files and re-reads one only when it changed (cached by inode, size and mtime),
so the broker's call on every publish costs a ``stat`` and a few topic matches.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cachetools import LRUCache, cached
from paho.mqtt.client import topic_matches_sub

from hub.broker.auth import BrokerFiles

__all__ = ["Acl", "Action", "Gate", "Verdict", "parse_acl", "parse_passwd", "verify_password"]

log = logging.getLogger(__name__)

SHARE = "$share/"
_WILDCARDS = frozenset("+#")


class Action(enum.StrEnum):
    """What a connected client asks to do with a topic."""

    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer, and why (for the log and the tests; never sent to the client)."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


_READ, _WRITE = 1, 2
_ACCESS = {"read": _READ, "write": _WRITE, "readwrite": _READ | _WRITE, "deny": 0}


@dataclass(frozen=True, slots=True)
class _Line:
    access: int  # 0: deny
    topic: str


@dataclass(frozen=True, slots=True)
class Acl:
    """A parsed Mosquitto ACL file: per-user ``topic`` lines and everyone's ``pattern`` lines."""

    patterns: tuple[_Line, ...] = ()
    users: Mapping[str, tuple[_Line, ...]] = field(default_factory=dict)

    def lines_for(self, username: str, client_id: str) -> list[_Line]:
        """The lines that decide for this client, in Mosquitto's order: its own, then the patterns filled in
        for it. Like Mosquitto, a name holding ``+`` or ``#`` gets no pattern but a refusal: it could widen one."""
        own = list(self.users.get(username, ()))
        if not self.patterns:
            return own
        if not _WILDCARDS.isdisjoint(username + client_id):
            return [*own, _Line(0, "#")]
        return own + [_Line(p.access, p.topic.replace("%u", username).replace("%c", client_id)) for p in self.patterns]


def parse_acl(text: str) -> Acl:
    """Mosquitto's ``acl_file`` syntax; ``topic`` lines before any ``user`` line (anonymous clients'), and
    lines this does not understand, are dropped: nothing here grants more than the file says."""
    patterns: list[_Line] = []
    users: dict[str, list[_Line]] = {}
    user: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        rest = rest.strip()
        if keyword == "user":
            user = rest
            users.setdefault(user, [])
            continue
        if keyword not in {"topic", "pattern"} or not rest:
            continue
        access, _, topic = rest.partition(" ")
        if access in _ACCESS and topic.strip():
            item = _Line(_ACCESS[access], topic.strip())
        else:  # no access word: readwrite
            item = _Line(_ACCESS["readwrite"], rest)
        if keyword == "pattern":
            patterns.append(item)
        elif user is not None:
            users[user].append(item)
    return Acl(tuple(patterns), {name: tuple(lines) for name, lines in users.items()})


def parse_passwd(text: str) -> dict[str, str]:
    """User name → the hash part of its line."""
    entries: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            name, _, hashed = line.partition(":")
            entries[name] = hashed.strip()
    return entries


def verify_password(hashed: str, password: str) -> bool:
    """``password`` against a ``mosquitto_passwd`` PBKDF2-SHA512 line (``$7$``), compared in constant time.
    Any other form (``$6$``, plain SHA-512, was Mosquitto 1.x's) is refused: issue a new password."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except (ValueError, binascii.Error):
        return False
    if not 1 <= iterations <= 10_000_000 or not expected:
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, len(expected))
    return hmac.compare_digest(got, expected)


# A hash to spend the same work on when the user does not exist, so timing does not tell who does.
_DUMMY = "$7$101$" + base64.b64encode(b"\0" * 12).decode() + "$" + base64.b64encode(b"\0" * 64).decode()


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


# Keyed by path and stamp: a changed file has a new stamp, so it is read again; the old entry ages out.
@cached(LRUCache(maxsize=16), lock=threading.Lock())
def _passwd_at(path: str, stamp: tuple[int, int, int, int] | None) -> Mapping[str, str]:
    return parse_passwd(Path(path).read_text("utf-8")) if stamp else {}


@cached(LRUCache(maxsize=16), lock=threading.Lock())
def _acl_at(path: str, stamp: tuple[int, int, int, int] | None) -> Acl:
    return parse_acl(Path(path).read_text("utf-8")) if stamp else Acl()


class Gate:
    """Answers for one folder of broker files (``shegong hub broker --dir``), always as they are now."""

    def __init__(self, files: BrokerFiles) -> None:
        self.files = files

    def _passwd(self) -> Mapping[str, str]:
        path = self.files.password_file
        return _passwd_at(str(path), _stamp(path))

    def _acl(self) -> Acl:
        path = self.files.acl_file
        return _acl_at(str(path), _stamp(path))

    def login(self, username: str | None, password: str | None, client_id: str | None) -> Verdict:
        """May this client connect? Its user must exist with this password, and its client id be its name."""
        if not username:
            return Verdict(False, "no user name (anonymous clients are refused)")
        hashed = self._passwd().get(username)
        ok = verify_password(hashed or _DUMMY, password or "")
        if client_id != username:
            return Verdict(False, "client id is not the user name")
        if hashed is None:
            return Verdict(False, "no such user (never added, or revoked)")
        if not ok:
            return Verdict(False, "wrong password")
        return Verdict(True, "password matches")

    def client(self, username: str | None, client_id: str | None) -> Verdict:
        """Is this connected client still one that may act at all (its user not revoked, its id its name)?"""
        if not username or client_id != username:
            return Verdict(False, "client id is not the user name")
        if username not in self._passwd():
            return Verdict(False, "no such user (revoked since it connected)")
        return Verdict(True, "a user")

    def may(self, username: str | None, client_id: str | None, action: Action, topic: str) -> Verdict:
        """May this connected client publish to ``topic``, or subscribe to the filter ``topic``?"""
        if not (known := self.client(username, client_id)):
            return known
        assert username is not None and client_id is not None
        acl = self._acl()
        lines = acl.lines_for(username, client_id)
        if action is Action.PUBLISH:
            if not topic or _WILDCARDS.intersection(topic) or topic.startswith(SHARE):
                return Verdict(False, "not a topic one can publish to")
            return _decide(lines, _WRITE, lambda grant: topic_matches_sub(grant, topic))
        wanted = topic
        if topic.startswith(SHARE):
            group, _, wanted = topic[len(SHARE) :].partition("/")
            if username not in acl.users:
                return Verdict(False, "shared subscriptions are for the hub's users")
            if not group or _WILDCARDS.intersection(group):
                return Verdict(False, "malformed shared subscription")
        if not _valid_filter(wanted):
            return Verdict(False, "malformed topic filter")
        return _decide(lines, _READ, lambda grant: _covers(grant, wanted), lambda d: _overlaps(d, wanted))


def _decide(
    lines: list[_Line], access: int, grants: Callable[[str], bool], denies: Callable[[str], bool] | None = None
) -> Verdict:
    """Mosquitto's order (its ``acl_file`` check): the first line that matches and either denies or grants
    this access decides; when none does, refused. For a subscription a ``deny`` line counts when it shares a
    topic with the filter, a grant only when it covers the filter whole: never more than Mosquitto delivers."""
    denies = denies or grants
    for line in lines:
        if line.access == 0:
            if denies(line.topic):
                return Verdict(False, f"denied by 'deny {line.topic}'")
        elif line.access & access and grants(line.topic):
            return Verdict(True, f"granted by {line.topic!r}")
    return Verdict(False, "no ACL line grants it")


def _valid_filter(topic: str) -> bool:
    levels = topic.split("/")
    if not topic or "#" in levels[:-1]:
        return False
    return all(level in {"+", "#"} or _WILDCARDS.isdisjoint(level) for level in levels)


def _covers(grant: str, wanted: str) -> bool:
    """Every topic the filter ``wanted`` matches is matched by the filter ``grant``."""
    g, w = grant.split("/"), wanted.split("/")
    if w[0].startswith("$") and g[0] in {"+", "#"}:
        return False  # a wildcard first level matches no $-topic
    for i, level in enumerate(g):
        if level == "#":
            return True
        if i >= len(w):
            return False
        if w[i] == "#" or (w[i] == "+" and level != "+") or (level not in {"+", w[i]}):
            return False
    return len(w) == len(g)


def _overlaps(a: str, b: str) -> bool:
    """Some topic matches both filters."""
    x, y = a.split("/"), b.split("/")
    for i in range(max(len(x), len(y))):
        p = x[i] if i < len(x) else None
        q = y[i] if i < len(y) else None
        if p == "#" or q == "#":
            return True
        if p is None or q is None:
            return False
        if p != q and "+" not in (p, q):
            return False
    return True
