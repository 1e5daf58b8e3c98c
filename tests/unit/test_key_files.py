"""The three secret key files — the hub's case key, the hub's audit key, a terminal's audit signing key — are
made and read by one reader (kernel.keyfile). Each is 32 bytes of URL-safe base64 in a 0600 file: files
written here by hand load to the keys the RFCs' published samples give, and a missing, open, malformed or
unreadable file is refused with its side's own error naming the key and what to do."""

from __future__ import annotations

import base64
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.store.auditkey import AuditKeyError as EdgeAuditKeyError
from edge.store.auditkey import TerminalAuditKey
from hub import casekey
from hub.audit.keyed import AuditKey
from hub.audit.keyed import AuditKeyError as HubAuditKeyError

# RFC 7748 section 6.1: Alice's X25519 private key and its public key.
X25519_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
X25519_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
# RFC 8032 section 7.1, TEST 1: an Ed25519 secret key and its public key.
ED25519_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
ED25519_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
# RFC 8037 appendix A.1: the same secret as a JWK's "d" (URL-safe base64; the file keeps the padding).
ED25519_SECRET_TEXT = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
# bytes 0, 1, …, 31 as URL-safe base64, worked out by hand (3 bytes to 4 characters).
COUNTING = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

Kind = tuple[str, Callable[[Path], object], type[Exception], str]
KINDS: list[Kind] = [
    ("case key", casekey.load, casekey.CaseKeyError, "shegong hub keys init"),
    ("audit key", AuditKey.load, HubAuditKeyError, "shegong hub keys init"),
    ("audit key", TerminalAuditKey.load, EdgeAuditKeyError, "shegong edge keys init"),
]
IDS = ["hub case key", "hub audit key", "terminal audit key"]


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_key_files_written_by_hand_load_to_the_rfc_sample_keys(tmp_path: Path) -> None:
    case = _write(tmp_path / "case.key", base64.urlsafe_b64encode(X25519_PRIVATE).decode() + "\n")
    assert bytes(casekey.load(case).public_key) == X25519_PUBLIC
    assert base64.urlsafe_b64decode(casekey.public_text(casekey.load(case))) == X25519_PUBLIC

    terminal = _write(tmp_path / "audit.key", ED25519_SECRET_TEXT)
    assert bytes(TerminalAuditKey.load(terminal).signing_key) == ED25519_SECRET
    assert TerminalAuditKey.load(terminal).public_hex == ED25519_PUBLIC

    hub = _write(tmp_path / "hub-case.key.audit", f"  {COUNTING}\n\n")  # white space around it is no matter
    assert AuditKey.load(hub).secret == bytes(range(32))


@pytest.mark.parametrize(("what", "load", "error", "command"), KINDS, ids=IDS)
def test_a_bad_key_file_is_refused_with_a_message_that_says_what_to_do(
    tmp_path: Path, what: str, load: Callable[[Path], object], error: type[Exception], command: str
) -> None:
    with pytest.raises(error, match=f"no {what} at .*none.key: run `{command}` \\(once\\)"):
        load(tmp_path / "none.key")

    open_to_group = _write(tmp_path / "group.key", COUNTING, 0o640)
    with pytest.raises(error, match=f"the {what} .*group.key is readable by others: chmod 600 it"):
        load(open_to_group)

    for text in ("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "AAEC", "not a key at all!", ""):
        short = _write(tmp_path / "short.key", text)
        with pytest.raises(error, match=f"short.key does not hold a 32-byte {what}"):
            load(short)

    not_ascii = tmp_path / "gbk.key"
    not_ascii.write_bytes("密钥".encode("gbk"))
    not_ascii.chmod(0o600)
    with pytest.raises(error, match=f"cannot read the {what} .*gbk.key"):
        load(not_ascii)


@pytest.mark.parametrize(
    ("init", "load", "error"),
    [
        (casekey.init, casekey.load, casekey.CaseKeyError),
        (AuditKey.init, AuditKey.load, HubAuditKeyError),
        (TerminalAuditKey.init, TerminalAuditKey.load, EdgeAuditKeyError),
    ],
    ids=IDS,
)
def test_a_key_file_is_made_0600_in_a_private_folder_once_and_never_overwritten(
    tmp_path: Path, init: Callable[[Path], object], load: Callable[[Path], object], error: type[Exception]
) -> None:
    path = tmp_path / "keys" / "the.key"
    init(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert text.endswith("=\n") and len(text) == 45  # 32 bytes: 44 characters of base64, one padding
    first = load(path)
    with pytest.raises(error, match="exists already: a new .* would"):
        init(path)
    assert path.read_text() == text and load(path) == first
