"""Audit entries sealed as they are appended, with keys kept outside the database (issue 15).

The attack: someone with the database edits an entry after it was appended (before any night) and
recomputes every hash after it and the anchor — the unkeyed chain then holds. On the terminal each entry
carries an Ed25519 signature made at append with the terminal's own key file; on the hub each carries an
HMAC made at append with the hub's audit key file. Neither can be recomputed from the database, so
``audit verify`` fails — on both sides, through the CLI. The hub keeps only the public half of a
terminal's key: a segment it forges in the terminal's name (signed with any other key) is not kept.
"""

from __future__ import annotations

import json
import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from sqlalchemy import text

from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings
from edge.store import audit as edge_audit
from edge.store.auditkey import TerminalAuditKey
from edge.store.cases import NewCase
from hub import cli as hub_cli
from hub import settings as hub_settings
from hub.audit.chain import AuditRecord, append, bind_key_file, verify
from hub.audit.keyed import AuditKey, AuditKeyError
from hub.db.engine import open_engine
from hub.night.steps import run_night as hub_night
from hub.night.witness import on_segment, terminal_key
from protocol.auditchain import GENESIS, entry_hash, signed_text
from protocol.witness import AuditSegment, AuditSegmentBody, SegmentEntry
from shegong import cli
from tests.support import applicant

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _recompute(conn, table: str, edit_id: int, seal_column: str | None = None) -> None:
    """Edit entry ``edit_id``'s details, then recompute every hash and the anchor (leaving seals alone)."""
    rows = conn.execute(text(f"SELECT id, at, actor, action, subject, data FROM {table} ORDER BY id")).all()
    prev = GENESIS
    for entry_id, at, actor, action, subject, data in rows:
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if entry_id == edit_id:
            data = data.replace("{", '{"edited":true,', 1) if data != "{}" else '{"edited":true}'
        h = entry_hash(prev, at, actor, action, subject, data)
        conn.execute(
            text(f"UPDATE {table} SET data = :d, prev_hash = :p, hash = :h WHERE id = :i"),
            {"d": data, "p": prev, "h": h, "i": entry_id},
        )
        prev = h
    anchor_table = "audit_anchor"
    conn.execute(text(f"UPDATE {anchor_table} SET head_hash = :h WHERE id = 1"), {"h": prev})


# -- the terminal ----------------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EdgeSettings:
    monkeypatch.setenv("SHEGONG_DATA_DIR", str(tmp_path / "edge"))
    monkeypatch.setenv("SHEGONG_TERMINAL_ID", "T1")
    monkeypatch.setenv("SHEGONG_COMMITTEE_CODE", "JW001")
    monkeypatch.setenv("SHEGONG_AUDIT_KEY_FILE", str(tmp_path / "keys" / "audit.key"))
    return EdgeSettings(
        terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge", audit_key_file=tmp_path / "keys/audit.key"
    )


def test_terminal_keys_init_makes_a_private_key_file_outside_the_database(settings, capsys):
    assert cli.main(["edge", "keys", "init"]) == 0
    public = capsys.readouterr().out.strip()
    path = settings.audit_key_path
    assert path.parent != settings.db_path.parent
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public == TerminalAuditKey.load(path).public_hex and len(public) == 64
    assert cli.main(["edge", "keys", "public"]) == 0
    assert capsys.readouterr().out.strip() == public
    assert cli.main(["edge", "keys", "init"]) != 0
    assert "exists already" in capsys.readouterr().err


def test_a_terminal_entry_edited_before_the_night_fails_verify_though_every_hash_is_recomputed(settings, capsys):
    TerminalAuditKey.init(settings.audit_key_path)  # as provisioning makes it
    rt = EdgeRuntime(settings)
    try:
        for n in range(3):
            rt.cases.submit(NewCase(item_code="JB-001", applicant=applicant(n)))
        key = TerminalAuditKey.load(settings.audit_key_path)
        with rt.engine.connect() as conn:
            rows = conn.execute(text("SELECT hash, sig FROM audit_entries ORDER BY id")).all()
            assert len(rows) >= 3 and all(
                key.signing_key.verify_key.verify(signed_text(h), bytes.fromhex(sig)) for h, sig in rows
            ), "each entry signed at append, with the terminal's key"
            assert edge_audit.verify(conn)[1] is None
        assert cli.main(["edge", "audit", "verify"]) == 0

        with rt.engine.begin() as conn:
            _recompute(conn, "audit_entries", edit_id=2)
        with rt.engine.connect() as conn:
            assert edge_audit.walk(edge_audit._rows(conn, 100), [edge_audit.anchor(conn)])[1] is None, (
                "the unkeyed chain is fooled"
            )
            checked, broken = edge_audit.verify(conn)
        assert broken is not None and broken.entry_id == 2 and "signature" in broken.problem and checked == 1
        capsys.readouterr()
        assert cli.main(["edge", "audit", "verify"]) != 0
        assert "broken at entry 2: its signature does not hold" in capsys.readouterr().err

        # Removing the signatures too does not help, and a restart does not sign them again.
        with rt.engine.begin() as conn:
            conn.execute(text("UPDATE audit_entries SET sig = NULL WHERE id >= 2"))
    finally:
        rt.close()
    rt = EdgeRuntime(settings)
    try:
        with rt.engine.connect() as conn:
            broken = edge_audit.verify(conn)[1]
        assert broken is not None and broken.entry_id == 2 and "not signed" in broken.problem
    finally:
        rt.close()


def test_a_chain_from_before_signing_is_signed_once_at_start_after_it_is_checked(settings):
    rt = EdgeRuntime(settings)
    try:
        rt.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
        with rt.engine.begin() as conn:
            conn.execute(text("UPDATE audit_entries SET sig = NULL"))  # as after the migration
    finally:
        rt.close()
    rt = EdgeRuntime(settings)
    try:
        with rt.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_entries WHERE sig IS NULL")).scalar() == 0
            assert edge_audit.verify(conn)[1] is None
    finally:
        rt.close()


# -- the hub ---------------------------------------------------------------------------------------------


@pytest.fixture
def hub_engine(hub_db_url, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    key_file = tmp_path / "hub-audit.key"
    AuditKey.init(key_file)
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
    monkeypatch.setenv("SHEGONG_HUB_AUDIT_KEY_FILE", str(key_file))
    e = open_engine(hub_db_url)
    bind_key_file(e, key_file)
    with e.begin() as conn:
        for n in range(1, 6):
            append(conn, [AuditRecord(T0 + timedelta(minutes=n), "user:clerk1", "case.accept", f"case-{n}", {"n": n})])
    yield e, AuditKey.load(key_file)
    e.dispose()


def test_a_hub_entry_edited_before_the_night_fails_audit_verify_though_every_hash_is_recomputed(hub_engine, capsys):
    engine, key = hub_engine
    with engine.connect() as conn:
        macs = conn.execute(text("SELECT hash, mac FROM audit ORDER BY id")).all()
    assert all(mac == key.mac(h) for h, mac in macs), "each entry sealed at append, no night run"
    assert hub_cli.main(["audit", "verify"]) == 0
    with engine.begin() as conn:
        _recompute(conn, "audit", edit_id=3)
    with engine.connect() as conn:
        assert verify(conn, batch=2)[1] is not None  # the bound key's seals
    with pytest.raises(hub_cli.AuditBroken, match="entry 3: its MAC does not hold"):
        hub_cli.main(["audit", "verify"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit SET mac = NULL WHERE id >= 3"))
    with pytest.raises(hub_cli.AuditBroken, match="entry 3: it is not sealed"):
        hub_cli.main(["audit", "verify"])


def test_a_stripped_seal_fails_audit_verify_and_the_night_which_name_the_entry_and_seal_nothing(
    hub_engine, tmp_path: Path
):
    """Every hub process seals what it appends, so an entry without a MAC was stripped (or written by someone
    without the key file): the night must not seal it — that would launder the attack — but fail, as
    ``audit verify`` does, naming the entry."""
    engine, key = hub_engine
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit SET mac = NULL WHERE id = 4"))
    with pytest.raises(hub_cli.AuditBroken, match="entry 4: it is not sealed: its seal was removed"):
        hub_cli.main(["audit", "verify"])
    settings = hub_settings.load().model_copy(
        update={"backup_dir": str(tmp_path / "backups"), "archive_dir": str(tmp_path / "archive")}
    )
    night = hub_night(engine, settings, T0 + timedelta(days=1))
    step = {s.name: s for s in night.steps}["anchor"]
    assert not night.ok and not step.ok
    assert "audit entry 4: it is not sealed" in str(step.error)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT mac FROM audit WHERE id = 4")).scalar() is None, "the night sealed it"
        assert conn.execute(text("SELECT count(*) FROM audit_day_anchors")).scalar() == 0, "an anchor was signed"


def _hub_before_sealing(hub_db_url, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, AuditKey]:
    """A hub upgraded from before h0016: three entries nobody sealed; then, as a hub run by this release
    before the fix did, two more sealed as they were appended (the MAC written here by hand)."""
    key_file = tmp_path / "hub-audit.key"
    AuditKey.init(key_file)
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
    monkeypatch.setenv("SHEGONG_HUB_AUDIT_KEY_FILE", str(key_file))
    key = AuditKey.load(key_file)
    e = open_engine(hub_db_url)  # no key bound: entries as a hub before h0016 appended them
    with e.begin() as conn:
        for n in range(1, 6):
            append(conn, [AuditRecord(T0 + timedelta(minutes=n), "user:clerk1", "case.accept", f"case-{n}", {"n": n})])
        for entry_id, h in conn.execute(text("SELECT id, hash FROM audit WHERE id > 3")).all():
            conn.execute(text("UPDATE audit SET mac = :m WHERE id = :i"), {"m": key.mac(h), "i": entry_id})
    return e, key


def test_entries_from_before_sealing_are_sealed_once_at_the_next_start_and_never_again(
    hub_db_url, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Upgrade review: a hub upgraded from before h0016 had its first entries unsealed, so `audit verify`
    and every night's anchor step failed on entry 1 for good. A hub process's start seals that unsealed
    run at the chain's start once, each entry after checking the chain up to it, and says so in the chain;
    after that a stripped seal is a break again."""
    engine, key = _hub_before_sealing(hub_db_url, tmp_path, monkeypatch)
    try:
        assert hub_cli.main(["audit", "verify"]) == 0
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT hash, mac, action, data FROM audit ORDER BY id")).all()
        assert all(mac == key.mac(h) for h, mac, _, _ in rows), "every entry sealed with the key file's MAC"
        assert [(a, json.loads(d)) for _, _, a, d in rows[5:]] == [
            ("audit.sealed_unkeyed", {"entries": 3, "last_id": 3})
        ]
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit SET mac = NULL WHERE id <= 2"))
        with pytest.raises(hub_cli.AuditBroken, match="entry 1: it is not sealed"):
            hub_cli.main(["audit", "verify"])
    finally:
        engine.dispose()


def test_entries_unsealed_after_a_night_signed_an_anchor_are_not_sealed(
    hub_db_url, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Once a night has signed an anchor the chain was whole and sealed: an unsealed first entry after that
    was stripped of its seal, and sealing it would launder an edit."""
    engine, _key = _hub_before_sealing(hub_db_url, tmp_path, monkeypatch)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO audit_day_anchors (day, entries, last_id, head_hash, at, signature)"
                    " VALUES ('2026-03-01', 5, 5, 'x', :at, 'y')"
                ),
                {"at": T0},
            )
        with pytest.raises(hub_cli.AuditBroken, match="entry 1: it is not sealed"):
            hub_cli.main(["audit", "verify"])
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit WHERE mac IS NULL")).scalar() == 3
    finally:
        engine.dispose()


def test_every_hub_command_stops_at_start_without_its_audit_key(hub_db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
    monkeypatch.setenv("SHEGONG_HUB_AUDIT_KEY_FILE", str(tmp_path / "nowhere.key"))
    with pytest.raises(AuditKeyError, match=r"no audit key at .*nowhere\.key: run `shegong hub keys init`"):
        hub_cli.main(["terminal", "register", "T9", "--committee", "JW009"])
    engine = open_engine(hub_db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit")).scalar() == 0, "an unsealed entry was appended"
    engine.dispose()


def _segment(terminal: str, signer: SigningKey, public: str) -> AuditSegment:
    prev, entries = GENESIS, []
    for n in range(1, 4):
        at = T0 + timedelta(minutes=n)
        data = f'{{"n":{n}}}'
        h = entry_hash(prev, at, "kiosk", "case.accept", f"case-{n}", data)
        sig = signer.sign(signed_text(h)).signature.hex()
        entries.append(
            SegmentEntry(
                id=n,
                at=at,
                actor="kiosk",
                action="case.accept",
                subject=f"case-{n}",
                data=data,
                prev_hash=prev,
                hash=h,
                sig=sig,
            )
        )
        prev = h
    return AuditSegment(
        terminal=terminal,
        sent_at=T0,
        body=AuditSegmentBody(correlation_id=uuid.uuid4(), after_id=0, entries=entries, public_key=public),
    )


def test_the_hub_keeps_a_terminal_segment_only_when_signed_with_the_terminal_key(hub_engine):
    engine, _ = hub_engine
    terminal_key_pair = SigningKey.generate()
    public = bytes(terminal_key_pair.verify_key).hex()
    with engine.begin() as conn:
        from hub.night.witness import register_key

        register_key(conn, "T7", public, "provisioning", T0, "cli:test")
    forger = SigningKey.generate()  # the hub (or anyone with its database) signing in T7's name
    with engine.begin() as conn:
        on_segment(conn, _segment("T7", forger, public), T0)
        on_segment(conn, _segment("T7", forger, bytes(forger.verify_key).hex()), T0)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM terminal_audit_segments")).scalar() == 0
        assert terminal_key(conn, "T7") == public, "a segment cannot replace the registered key"
        refused = conn.execute(
            text("SELECT subject, data FROM audit WHERE action = 'terminal.audit_key_refused'")
        ).all()
    forged = bytes(forger.verify_key).hex()
    assert [(s, json.loads(d)) for s, d in refused] == [
        ("T7", {"presented": forged[:16], "registered": public[:16], "entries": 3})
    ], "the refusal is on the hub's own sealed audit trail, naming both keys"
    with engine.begin() as conn:
        on_segment(conn, _segment("T7", terminal_key_pair, public), T0)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM terminal_audit_segments WHERE sig IS NOT NULL")).scalar() == 3


def test_hub_keys_init_makes_the_audit_key_beside_a_case_key_made_before_it(tmp_path, monkeypatch, capsys):
    """A hub whose case key predates the audit key gets one from `shegong hub keys init`, the documented
    upgrade step, which succeeds (an upgrade review's `set -e` script stopped on its exit 2), keeps the case
    key and prints its public half; run again, it refuses to replace either."""
    from hub import casekey
    from hub import settings as hub_settings
    from hub.casekey import CaseKeyError

    audit = tmp_path / "later" / "hub-case.key.audit"
    monkeypatch.setenv("SHEGONG_HUB_AUDIT_KEY_FILE", str(audit))
    case_key = Path(hub_settings.load().case_key_file)
    before = case_key.read_bytes()
    assert hub_cli.main(["keys", "init"]) == 0
    assert capsys.readouterr().out.strip() == casekey.public_text(casekey.load(case_key))
    assert case_key.read_bytes() == before
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
    assert len(AuditKey.load(audit).secret) == 32
    with pytest.raises(CaseKeyError, match="exists already"):
        hub_cli.main(["keys", "init"])


def test_hub_keys_audit_public_prints_the_key_terminals_check_the_hubs_anchors_with(tmp_path, capsys):
    """What ``shegong hub keys audit-public`` prints (the terminals' ``hub_audit_public_key``) is the public
    half of the Ed25519 key the hub signs its anchors with: worked out here from the key file (the signing
    seed is HMAC-SHA256 of the file's secret, URL-safe base64 there, and ``shegong/audit/sign``), and a
    signature of the hub's checked with the ``cryptography`` package."""
    import base64
    import hashlib
    import hmac

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    assert hub_cli.main(["keys", "audit-public"]) == 0
    printed = capsys.readouterr().out.strip()
    path = Path(f"{hub_settings.load().case_key_file}.audit")  # made beside the case key (tests.support)
    secret = base64.urlsafe_b64decode(path.read_text().strip())
    seed = hmac.new(secret, b"shegong/audit/sign", hashlib.sha256).digest()
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert printed == public.hex()
    text = b"shegong/audit-anchor/v1|2026-03-02|3|3|" + b"a" * 64 + b"|2026-03-02T18:00:00+00:00"
    hub_signature = bytes.fromhex(AuditKey.load(path).sign(text))
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(printed)).verify(hub_signature, text)  # raises if not
