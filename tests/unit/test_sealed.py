"""Sealed cases: only the hub's private key opens them; damage, another key or a swapped id is refused;
a terminal's ephemeral key lasts a minute or 1,000 cases, and nothing of it is stored."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from protocol.cases import CaseSubmission
from protocol.envelope import utcnow
from protocol.sealed import (
    InvalidKey,
    Opener,
    Sealer,
    SealError,
    generate_keypair,
    open_case,
    private_key,
    public_key,
    seal,
)
from tests.support import applicant, wait_for


def _case() -> CaseSubmission:
    return CaseSubmission(
        case_id=uuid.uuid4(),
        receipt_no="JW001-20261127-0001",
        query_code="ABCDEF",
        item_code="MZ-001",
        committee="JW001",
        created_at=utcnow(),
        applicant=applicant(1),
        form={"phone": "13800138000"},
    )


@pytest.fixture(scope="module")
def keys():
    secret, public = generate_keypair()
    return private_key(secret), public_key(public)


def test_a_sealed_case_opens_with_the_hubs_key_and_shows_nothing_in_clear(keys):
    secret, public = keys
    case = _case()
    sealed = seal(public, case)
    assert sealed.case_id == case.case_id
    text = sealed.model_dump_json()
    for clear in (case.applicant.id_number, case.applicant.name, "13800138000", case.receipt_no):
        assert clear not in text
    assert open_case(secret, sealed) == case
    assert seal(public, case).sealed[:43] != sealed.sealed[:43]  # a one-off seal: an ephemeral key of its own


def test_a_terminal_changes_its_ephemeral_key_by_time_and_count_and_the_hub_opens_every_case(keys):
    secret, public = keys
    now = [0.0]
    sealer = Sealer(public, rotate_s=60, rotate_n=3, clock=lambda: now[0])
    opener = Opener(secret)
    cases = [_case() for _ in range(5)]
    boxes = [sealer.seal(c) for c in cases]
    ephemeral = [base64.urlsafe_b64decode(b.sealed)[:32] for b in boxes]
    assert ephemeral[0] == ephemeral[1] == ephemeral[2] != ephemeral[3] == ephemeral[4]  # 3 cases a key
    assert boxes[0].sealed != sealer.seal(cases[0]).sealed  # a fresh nonce every time
    now[0] = 61.0
    later = base64.urlsafe_b64decode(sealer.seal(cases[0]).sealed)[:32]
    assert later not in ephemeral  # a minute on: another key
    assert [opener.open(b) for b in boxes] == cases


def test_another_key_damage_or_a_swapped_id_is_refused(keys):
    secret, public = keys
    sealed = seal(public, _case())
    other, _ = generate_keypair()
    with pytest.raises(SealError, match="not openable"):
        open_case(private_key(other), sealed)
    raw = bytearray(base64.urlsafe_b64decode(sealed.sealed))
    raw[-1] ^= 1
    damaged = sealed.model_copy(update={"sealed": base64.urlsafe_b64encode(bytes(raw)).decode()})
    with pytest.raises(SealError, match="not openable"):
        open_case(secret, damaged)
    for short in ("AAAA", sealed.sealed[:60]):
        with pytest.raises(SealError, match="not openable"):
            open_case(secret, sealed.model_copy(update={"sealed": short}))
    swapped = sealed.model_copy(update={"case_id": uuid.uuid4()})
    with pytest.raises(SealError, match="another id"):
        open_case(secret, swapped)


def test_a_box_holding_no_case_is_refused_without_echoing_its_content(keys):
    secret, public = keys
    from nacl.public import Box, PrivateKey

    ephemeral = PrivateKey.generate()
    junk = bytes(ephemeral.public_key) + bytes(
        Box(ephemeral, public).encrypt(b'{"applicant": {"id_number": "110101199003074514"}}')
    )
    sealed = seal(public, _case()).model_copy(update={"sealed": base64.urlsafe_b64encode(junk).decode()})
    with pytest.raises(SealError, match="not a valid case") as err:
        open_case(secret, sealed)
    assert "110101199003074514" not in str(err.value)


@pytest.mark.parametrize("text", ["", "not base64!", base64.urlsafe_b64encode(b"short").decode()])
def test_a_configured_key_that_is_not_a_key_is_named(text):
    with pytest.raises(InvalidKey):
        public_key(text)


def _ephemeral(box) -> bytes:
    return base64.urlsafe_b64decode(box.sealed)[:32]


def test_a_quiet_terminals_key_is_dropped_by_its_timer_when_the_minute_is_over(keys):
    """Real time: the key's timer drops it although no case came. The sealer's own clock is held still,
    so only the timer can explain a new key for the next case."""
    _, public = keys
    sealer = Sealer(public, rotate_s=0.3, clock=lambda: 0.0)
    first = _ephemeral(sealer.seal(_case()))
    assert _ephemeral(sealer.seal(_case())) == first  # within its time: the same key
    assert sealer.holds_key
    wait_for(lambda: not sealer.holds_key, timeout=5, what="the key's timer")
    assert _ephemeral(sealer.seal(_case())) != first
    sealer.close()
    assert not sealer.holds_key


def test_expire_drops_a_key_by_the_sealers_clock(keys):
    secret, public = keys
    now = [0.0]
    sealer = Sealer(public, rotate_s=60, clock=lambda: now[0], timer=False)
    assert not sealer.expire()  # nothing to drop
    case = _case()
    first = sealer.seal(case)
    now[0] = 59.0
    assert not sealer.expire() and sealer.holds_key
    now[0] = 60.0
    assert sealer.expire() and not sealer.holds_key
    now[0] = 60.5  # still inside what would have been the old key's next second: a new key all the same
    second = sealer.seal(case)
    assert _ephemeral(second) != _ephemeral(first)
    assert Opener(secret).open(first) == Opener(secret).open(second) == case


def test_a_sealed_text_is_libsodiums_box_of_its_owner_and_words_and_opens_only_for_that_owner(keys):
    """A rating's reason as a terminal seals it, opened by hand with PyNaCl (a second implementation):
    the ephemeral public key, the nonce, then crypto_box of ``{"owner", "text"}``."""
    from nacl.public import Box, PublicKey

    secret, public = keys
    owner = uuid.uuid4()
    box = Sealer(public, timer=False).seal_text("王阿姨很耐心，电话 13800138000", owner)
    assert "13800138000" not in box
    raw = base64.urlsafe_b64decode(box)
    inside = json.loads(Box(secret, PublicKey(raw[:32])).decrypt(raw[56:], raw[32:56]))
    assert inside == {"owner": str(owner), "text": "王阿姨很耐心，电话 13800138000"}
    opener = Opener(secret)
    assert opener.open_text(box, owner) == "王阿姨很耐心，电话 13800138000"
    with pytest.raises(SealError, match="another item"):
        opener.open_text(box, uuid.uuid4())  # moved to another rating
    damaged = bytearray(raw)
    damaged[-1] ^= 1
    with pytest.raises(SealError, match="not openable"):
        opener.open_text(base64.urlsafe_b64encode(bytes(damaged)).decode(), owner)
    a_case = seal(public, _case())  # a box that holds a case, not a text
    with pytest.raises(SealError, match="not a sealed text"):
        opener.open_text(a_case.sealed, a_case.case_id)
