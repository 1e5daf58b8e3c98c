"""Case submissions sealed to the hub's public key, so a stolen terminal leaks nothing it has queued.

A terminal holds only the hub's public key (``hub_public_key`` in its settings, put there at
provisioning). Each :class:`~protocol.cases.CaseSubmission` is sealed on acceptance with libsodium's
``crypto_box`` (X25519, XSalsa20-Poly1305; PyNaCl's ``Box``) between the hub's key and an *ephemeral* key
pair that the terminal's :class:`Sealer` keeps in memory only and replaces at least every minute (or
1,000 cases). A timer drops the key when its minute is over even if no case comes to replace it: nothing
on the terminal's disk, and nothing left in its memory once the minute is over, can open what it has
queued. The hub keeps the shared key of each ephemeral key it meets, so opening costs a
cipher pass, not a key exchange per case. Any change to the sealed bytes makes opening fail.

``sealed`` is URL-safe base64 of: the ephemeral public key (32 bytes), the nonce (24), the ciphertext
with its tag. The case id stays outside, in clear (a random UUIDv7 says nothing about anyone), so acks,
rejections and duplicates work without opening anything; the id inside must equal it, so a box cannot be
passed off under another id.

A free text a resident typed beside an item (a rating's reason) is sealed the same way
(:meth:`Sealer.seal_text`), as JSON ``{"owner": <the item's id>, "text": …}``, so that it cannot be read
off the terminal either, nor passed off as another item's.

Keys travel as URL-safe base64 of their 32 raw bytes: ``generate_keypair()`` makes a pair.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache

from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey, PublicKey
from pydantic import ValidationError

from protocol.cases import CaseSubmission, SealedCase
from protocol.envelope import holds_nul

log = logging.getLogger(__name__)

__all__ = [
    "InvalidKey",
    "Opener",
    "SealError",
    "SealedCase",
    "Sealer",
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


def public_key(text: str, what: str = "hub public key") -> PublicKey:
    """A public key (the hub's, unless ``what`` says) from its configured text."""
    return PublicKey(_key_bytes(text, what))


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


class Sealer:
    """A terminal's sealing: one ephemeral key pair at a time, in memory only, replaced after ``rotate_s``
    seconds or ``rotate_n`` cases, whichever comes first. Safe to share between threads.

    With ``timer`` (the default) a daemon timer drops each key ``rotate_s`` seconds after it was made, so
    a key does not outlive its minute on a quiet terminal. :meth:`expire` does the same by ``clock`` (for
    a caller that keeps its own time); :meth:`close` drops the key at once.
    """

    def __init__(
        self,
        hub_key: PublicKey,
        rotate_s: float = 60.0,
        rotate_n: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        *,
        timer: bool = True,
    ) -> None:
        self.hub_key = hub_key
        self.rotate_s = rotate_s
        self.rotate_n = rotate_n
        self._clock = clock
        self._timer_on = timer
        self._lock = threading.Lock()
        self._box: Box | None = None
        self._prefix = b""
        self._made = 0.0
        self._used = 0
        self._generation = 0
        self._timer: threading.Timer | None = None

    @property
    def holds_key(self) -> bool:
        """Whether an ephemeral key is in memory now."""
        with self._lock:
            return self._box is not None

    def seal(self, case: CaseSubmission) -> SealedCase:
        return SealedCase(case_id=case.case_id, sealed=self._seal(case.model_dump_json().encode()))

    def seal_text(self, text: str, owner: uuid.UUID) -> str:
        """``text`` sealed the way cases are, bound to ``owner`` (the id of the item it goes with, such as a
        rating): :meth:`Opener.open_text` with another id refuses it, so a box cannot be moved to another item."""
        return self._seal(json.dumps({"owner": str(owner), "text": text}, ensure_ascii=False).encode())

    def _seal(self, plain: bytes) -> str:
        with self._lock:
            now = self._clock()
            if self._box is None or self._used >= self.rotate_n or now - self._made >= self.rotate_s:
                ephemeral = PrivateKey.generate()
                self._box = Box(ephemeral, self.hub_key)  # the shared key; the private half is dropped here
                self._prefix = bytes(ephemeral.public_key)
                self._made, self._used = now, 0
                self._generation += 1
                if self._timer_on:
                    self._arm(self._generation)
            self._used += 1
            box, prefix = self._box, self._prefix
        sealed = prefix + bytes(box.encrypt(plain))  # a fresh random nonce every time
        return base64.urlsafe_b64encode(sealed).decode("ascii")

    def expire(self) -> bool:
        """Drop the key if its ``rotate_s`` are over by ``clock``; True when one was dropped."""
        with self._lock:
            if self._box is None or self._clock() - self._made < self.rotate_s:
                return False
            self._drop()
            return True

    def close(self) -> None:
        """Drop the key now (and its timer); the next seal makes a new one."""
        with self._lock:
            self._drop()

    # -- inside the lock -------------------------------------------------------------------------------------
    def _arm(self, generation: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self.rotate_s, self._wipe, args=(generation,))
        self._timer.daemon = True  # a quiet terminal's shutdown does not wait for it
        self._timer.start()

    def _wipe(self, generation: int) -> None:
        """The timer of key ``generation``: drop it, unless a newer key has replaced it meanwhile."""
        with self._lock:
            if self._generation == generation:
                self._drop()

    def _drop(self) -> None:
        self._box, self._prefix, self._used = None, b"", 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def seal(key: PublicKey, case: CaseSubmission) -> SealedCase:
    """One case sealed under an ephemeral key of its own (dropped before this returns)."""
    sealer = Sealer(key, timer=False)
    try:
        return sealer.seal(case)
    finally:
        sealer.close()


class Opener:
    """The hub's opening: its private key, and the shared key of each ephemeral key met lately.

    With ``processes`` above 0, :meth:`open_each` hands the key agreements and deciphering of a large
    enough group to that many processes of its own (started by :meth:`start` or at the first such group,
    with the key; a ``spawn`` start, as the hub runs threads): libsodium's X25519 is a third of the hub's CPU per case,
    and in the hub's own process every case's Python around it shares one GIL with the commit. The group
    goes in parts of ``POOL_PART`` cases, all handed over at once; each part's plain text comes back as it
    is ready and is validated here while the processes decipher the parts after it. A pool that breaks (a
    process killed) is replaced, and the rest of that group opened here meanwhile."""

    def __init__(self, key: PrivateKey, remembered: int = 4096, processes: int = 0) -> None:
        self.key = key
        self.remembered = remembered
        self.processes = processes
        self._box = lru_cache(maxsize=remembered)(lambda ephemeral: Box(key, PublicKey(ephemeral)))
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._closed = False  # after close(), everything is opened here: no pool is started again

    def open(self, sealed: SealedCase) -> CaseSubmission:
        """The case inside ``sealed``; :class:`SealError` when it cannot be opened, is no valid case, or
        carries another case id than the one outside."""
        return _case(sealed, self.plain(sealed.sealed))

    def open_many(self, sealed: Sequence[SealedCase]) -> list[CaseSubmission | SealError]:
        """Each of ``sealed`` opened (see :meth:`open`), or why not; in the pool when there is one to use."""
        return list(self.open_each(sealed))

    def open_each(self, sealed: Sequence[SealedCase]) -> Iterator[CaseSubmission | SealError]:
        """Each of ``sealed`` opened (see :meth:`open`), or why not, in order and as soon as it is: the
        caller's work on the first cases overlaps the pool's deciphering of the later ones."""
        for box, plain in zip(sealed, self._plains([s.sealed for s in sealed]), strict=True):
            try:
                yield _case(box, plain)
            except SealError as exc:
                yield exc

    def open_text(self, sealed: str, owner: uuid.UUID) -> str:
        """The text :meth:`Sealer.seal_text` sealed for ``owner``; :class:`SealError` when it cannot be
        opened, is not such a text, or was sealed for another item."""
        plain = self.plain(sealed)
        if plain is None:
            raise SealError(f"text of {owner}: not openable with this hub's key (another key, or damaged)")
        try:
            inside = json.loads(plain)
            text, bound = inside["text"], inside["owner"]
        except (ValueError, TypeError, KeyError):
            raise SealError(f"text of {owner}: opened, but not a sealed text") from None
        if bound != str(owner) or not isinstance(text, str):
            raise SealError(f"text of {owner}: sealed for another item")
        return text

    def plain(self, text: str) -> bytes | None:
        """What ``text`` (a sealed case's ``sealed``) deciphers to, or None when this key cannot open it."""
        try:
            raw = base64.urlsafe_b64decode(text)
            if len(raw) < 32 + Box.NONCE_SIZE + 16:
                return None
            return bytes(self._box(raw[:32]).decrypt(raw[32:]))
        except (CryptoError, binascii.Error, ValueError, TypeError):
            return None

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def start(self) -> None:
        """Start the opening processes now (they take a moment), rather than at the first large group."""
        pool = self._current_pool() if self.processes else None
        if pool is not None:
            for _ in range(self.processes):
                pool.submit(_child_plains, [])

    def _current_pool(self) -> ProcessPoolExecutor | None:
        with self._pool_lock:
            if self._closed:
                return None
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_child,
                    initargs=(bytes(self.key), self.remembered, os.getpid()),
                )
            return self._pool

    def _plains(self, texts: list[str]) -> Iterator[bytes | None]:
        """What each of ``texts`` deciphers to (:meth:`plain`), in order: in the pool when there is one to use."""
        pool = self._current_pool() if self.processes and len(texts) >= POOL_FROM and not self._closed else None
        done = 0
        if pool is not None:
            try:
                for part in pool.map(
                    _child_plains, [texts[i : i + POOL_PART] for i in range(0, len(texts), POOL_PART)]
                ):
                    yield from part
                    done += len(part)
            except Exception as exc:  # noqa: BLE001 - a broken pool (a process killed, out of memory): open here
                log.warning("opening processes failed (%s); the rest of this group is opened in the hub's process", exc)
                with self._pool_lock:
                    if self._pool is pool:
                        self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
        for text in texts[done:]:
            yield self.plain(text)


POOL_FROM = 64  # cases in a group, at least, for the pool to be worth its round trip
POOL_PART = 32  # cases per part handed to the pool: about 1.5 ms of an opening process's work
_CHILD: Opener | None = None  # an opening process's own opener


def _start_child(key: bytes, remembered: int, parent: int) -> None:
    """An opening process's start: it ends with the hub (Linux: the parent's death signal), even when the
    hub is killed outright, as a worker of a scaled-out hub may be; and it keeps its own opener."""
    global _CHILD
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the hub died before the signal was asked for
        os._exit(1)
    _CHILD = Opener(PrivateKey(key), remembered)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _child_plains(texts: list[str]) -> list[bytes | None]:
    assert _CHILD is not None
    return [_CHILD.plain(t) for t in texts]


def _case(sealed: SealedCase, plain: bytes | None) -> CaseSubmission:
    if plain is None:
        raise SealError(f"case {sealed.case_id}: not openable with this hub's key (another key, or damaged)")
    try:
        case = CaseSubmission.model_validate_json(plain)
    except ValidationError as exc:
        raise SealError(f"case {sealed.case_id}: opened, but not a valid case: {exc.error_count()} error(s)") from None
    if case.case_id != sealed.case_id:
        raise SealError(f"case {sealed.case_id}: the sealed case has another id ({case.case_id})")
    if holds_nul(plain):
        raise SealError(f"case {sealed.case_id}: opened, but a text holds the character U+0000 (NUL)")
    return case


def open_case(key: PrivateKey, sealed: SealedCase) -> CaseSubmission:
    """One case opened (see :meth:`Opener.open`); the hub keeps an :class:`Opener` instead."""
    return Opener(key).open(sealed)
