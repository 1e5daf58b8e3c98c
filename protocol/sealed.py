"""Case submissions sealed to the hub's public key, so a stolen terminal leaks nothing it has queued.

A terminal holds only the hub's public key (``hub_public_key`` in its settings, put there at
provisioning). Each :class:`~protocol.cases.CaseSubmission` is sealed on acceptance with a libsodium
sealed box (an ephemeral X25519 key, XSalsa20-Poly1305; PyNaCl's ``SealedBox``): only the holder of the
hub's private key can open it, and any change to the sealed bytes makes opening fail. The case id stays
outside, in clear (a random UUIDv7 says nothing about anyone), so acks, rejections and duplicates work
without opening anything; the id inside must equal it, so a box cannot be passed off under another id.

Keys travel as URL-safe base64 of their 32 raw bytes: ``generate_keypair()`` makes a pair.
"""

from __future__ import annotations

import base64
import binascii

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from pydantic import ValidationError

from protocol.cases import CaseSubmission, SealedCase

__all__ = [
    "InvalidKey",
    "SealError",
    "SealedCase",
    "generate_keypair",
    "open_case",
    "private_key",
    "public_key",
    "seal",
]


class SealError(ValueError):
    """A sealed case that cannot be opened or is not a case: wrong key, damaged, or swapped."""


class InvalidKey(ValueError):
    """A configured key that is not 32 bytes of URL-safe base64."""


def _key_bytes(text: str, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidKey(f"the {what} is not URL-safe base64") from None
    if len(raw) != 32:
        raise InvalidKey(f"the {what} must be 32 bytes, not {len(raw)}")
    return raw


def public_key(text: str) -> PublicKey:
    """The hub's public key from its configured text."""
    return PublicKey(_key_bytes(text, "hub public key"))


def private_key(text: str) -> PrivateKey:
    """The hub's private key from its configured text."""
    return PrivateKey(_key_bytes(text, "hub private key"))


def generate_keypair() -> tuple[str, str]:
    """A new (private, public) pair as URL-safe base64 text."""
    key = PrivateKey.generate()
    return (
        base64.urlsafe_b64encode(bytes(key)).decode("ascii"),
        base64.urlsafe_b64encode(bytes(key.public_key)).decode("ascii"),
    )


def seal(key: PublicKey, case: CaseSubmission) -> SealedCase:
    box = SealedBox(key).encrypt(case.model_dump_json().encode())
    return SealedCase(case_id=case.case_id, sealed=base64.urlsafe_b64encode(box).decode("ascii"))


def open_case(key: PrivateKey, sealed: SealedCase) -> CaseSubmission:
    """The case inside ``sealed``; :class:`SealError` when it cannot be opened, is no valid case, or
    carries another case id than the one outside."""
    try:
        plain = SealedBox(key).decrypt(base64.urlsafe_b64decode(sealed.sealed))
    except (CryptoError, binascii.Error, ValueError):
        raise SealError(f"case {sealed.case_id}: not openable with this hub's key (another key, or damaged)") from None
    try:
        case = CaseSubmission.model_validate_json(plain)
    except ValidationError as exc:
        raise SealError(f"case {sealed.case_id}: opened, but not a valid case: {exc.error_count()} error(s)") from None
    if case.case_id != sealed.case_id:
        raise SealError(f"case {sealed.case_id}: the sealed case has another id ({case.case_id})")
    return case
