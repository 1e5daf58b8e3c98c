"""Social-security card (社保卡) reader through the vendor library of the national standard API.

Vendors ship a shared library exporting ``int iReadCardBas(int iType, char *pOutInfo)``: ``iType`` 1
contact, 2 contactless, 3/4 automatic; 0 on success with ``pOutInfo`` holding
``区划码|社会保障号码|卡号|卡识别码|姓名|复位信息|规范版本|发卡日期|有效期|终端机编号|终端设备号|`` in
GBK/GB18030, otherwise an error code and a message. The 社会保障号码 is the holder's ID number: sex and
birth date come from it.

A vendor call cannot be interrupted, so each runs on one worker thread with a deadline: a hung library
makes :meth:`SSCardReader.poll` raise :class:`DeviceTimeout` instead of hanging the kiosk, and no
further call is made until the hung one returns.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import date

from edge.devices import messages
from edge.devices.errors import CardRefused, DeviceProtocolError, DeviceTimeout, DeviceUnavailable
from edge.devices.facts import CardFacts, card_key, checked_id_number, parse_date
from protocol import idnumber

__all__ = ["NO_CARD_CODES", "NO_DEVICE_CODES", "SSCardReader", "SSCardRecord", "parse_record"]

log = logging.getLogger(__name__)

ENCODING = "gb18030"  # a superset of GBK: decodes what either kind of vendor library writes
FIELDS = 11
#: Return codes meaning "no card there" in the vendor headers we have seen (-1 wrong card type, -2 no
#: card, -3 card not powered, -4 card does not answer). Pass others for a vendor that differs.
NO_CARD_CODES = frozenset({-1, -2, -3, -4})
#: "The reader is not there": -11 reader connection error, -12 no connection established.
NO_DEVICE_CODES = frozenset({-11, -12})


@dataclass(frozen=True, slots=True)
class SSCardRecord:
    """The eleven fields of ``iReadCardBas``'s answer, as text. ``repr`` masks the number."""

    region: str  # 区划码 of the issuing area
    ss_number: str  # 社会保障号码 = ID number
    card_number: str
    card_id: str  # 卡识别码
    name: str
    atr: str  # 复位信息
    version: str  # 规范版本
    issued: str  # 发卡日期 YYYYMMDD
    expires: str  # 有效期 YYYYMMDD
    terminal: str
    device: str

    def __repr__(self) -> str:
        return f"SSCardRecord(region={self.region!r}, ss_number={idnumber.mask(self.ss_number)!r}, …)"


def parse_record(raw: bytes) -> SSCardRecord:
    """Decode and split the answer; ``ValueError`` if it is not GB18030 or has too few fields."""
    text = raw.split(b"\0", 1)[0].decode(ENCODING)
    parts = [p.strip() for p in text.split("|")]
    if len(parts) < FIELDS:
        raise ValueError(f"{len(parts)} fields, expected {FIELDS}")
    return SSCardRecord(*parts[:FIELDS])


def _date(value: str) -> date | None:
    try:
        return parse_date(value)
    except ValueError:
        return None  # dates are information here; the number is what is checked


def facts_from_record(record: SSCardRecord, today: date | None = None) -> CardFacts:
    number = checked_id_number(record.ss_number, "sscard", today)
    if not record.name:
        raise CardRefused(messages.text("refused_unreadable"), key=card_key("sscard", number))
    return CardFacts(
        card_type="sscard",
        id_number=number,
        name=record.name,
        sex="M" if idnumber.sex(number) == "M" else "F",
        birth_date=idnumber.birth_date(number),
        valid_from=_date(record.issued),
        valid_to=_date(record.expires),
    )


class SSCardReader:
    """A vendor library behind :class:`edge.devices.reader.CardReader`.

    ``card_interface`` is ``iType`` (3: try contact, then contactless). ``buffer_size`` must be at least
    what the vendor documents for ``pOutInfo``.
    """

    card_type = "sscard"

    def __init__(
        self,
        library: str,
        *,
        card_interface: int = 3,
        timeout: float = 3.0,
        buffer_size: int = 4096,
        no_card_codes: frozenset[int] = NO_CARD_CODES,
        no_device_codes: frozenset[int] = NO_DEVICE_CODES,
    ) -> None:
        self.library = library
        self.card_interface = card_interface
        self.timeout = timeout
        self.buffer_size = buffer_size
        self.no_card_codes = no_card_codes
        self.no_device_codes = no_device_codes
        self._fn: Callable[..., int] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._hung: Future[tuple[int, bytes]] | None = None

    @property
    def name(self) -> str:
        return self.library

    @property
    def is_open(self) -> bool:
        return self._fn is not None

    def open(self) -> None:
        if self._fn is not None:
            return
        try:
            lib = ctypes.CDLL(self.library)
            fn = lib.iReadCardBas
        except (OSError, AttributeError) as exc:
            raise DeviceUnavailable(f"{self.library}: {exc}") from None
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p]
        fn.restype = ctypes.c_int
        self._fn = fn
        self._pool = self._pool or ThreadPoolExecutor(max_workers=1, thread_name_prefix="sscard")

    def close(self) -> None:
        """Forget the library (a loaded library cannot be unloaded safely); the worker stays if busy."""
        self._fn = None
        if self._pool is not None and self._hung is None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def self_test(self) -> None:
        """The standard API has no self-test: opening the library is the check."""
        if self._fn is None:
            raise DeviceUnavailable(f"{self.library}: not open")

    def poll(self) -> CardFacts | None:
        code, raw = self._call()
        if code == 0:
            try:
                record = parse_record(raw)
            except ValueError as exc:
                log.warning("%s: unreadable answer: %s", self.library, exc)
                raise CardRefused(messages.text("refused_unreadable"), key=card_key("sscard", raw.hex())) from None
            return facts_from_record(record)
        message = raw.split(b"\0", 1)[0].decode(ENCODING, "replace").strip()
        if code in self.no_card_codes:
            return None
        if code in self.no_device_codes:
            raise DeviceUnavailable(f"{self.library}: iReadCardBas {code} {message}")
        raise DeviceProtocolError(f"{self.library}: iReadCardBas {code} {message}")

    def _call(self) -> tuple[int, bytes]:
        if self._fn is None or self._pool is None:
            raise DeviceUnavailable(f"{self.library}: not open")
        if self._hung is not None:
            if not self._hung.done():
                raise DeviceTimeout(f"{self.library}: an earlier iReadCardBas has not returned")
            self._hung = None
        fn, size, itype = self._fn, self.buffer_size, self.card_interface

        def call() -> tuple[int, bytes]:
            out = ctypes.create_string_buffer(size)
            return int(fn(itype, out)), out.raw

        future = self._pool.submit(call)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            self._hung = future
            raise DeviceTimeout(f"{self.library}: iReadCardBas did not return in {self.timeout:g} s") from None
