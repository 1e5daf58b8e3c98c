"""Second-generation ID card reader (GA 467 SAM over a UART or USB-serial bridge), on pyserial.

One :meth:`IdCardReader.poll` is the cycle find (20 01) → select (20 02) → read text + photo (30 01).
A card moved during a read answers 41 or 80 part-way: the cycle is retried a few times. After a good read
the SAM answers 80 until the card leaves the field, so a card left lying there is not read twice.
The photo is sliced past in memory and never kept.
"""

from __future__ import annotations

import logging
import time

from edge.devices import messages
from edge.devices.errors import (
    CardRefused,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnavailable,
    FrameCorrupted,
    ReadFailed,
    SamFailed,
)
from edge.devices.facts import CardFacts
from edge.devices.idtext import decode_text_block, facts_from_text, split_read_data
from edge.devices.sam import BadFrame, BadFrameKind, FrameParser, Response, encode_command
from edge.devices.sam_codes import SET_BAUD_CMD, STATUS_TEXT, UNKNOWN_STATUS_TEXT, Baud, Command, Status
from edge.devices.serialport import SerialPortDevice, read_some, write_all

__all__ = ["DEFAULT_BAUDRATE", "IdCardReader"]

log = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 115200
_SAM_DEAD = {Status.SAM_SELF_TEST_FAILED, Status.SAM_NOT_AUTHORISED}


class IdCardReader(SerialPortDevice):
    """A GA 467 reader on a serial port; implements :class:`edge.devices.reader.CardReader`.

    ``timeout`` bounds each short exchange; ``read_timeout`` the read itself (a SAM spends most of a
    second talking to the card, then sends 1295 bytes). ``attempts`` is how many find → select → read
    cycles one poll tries once a card has been found.
    """

    card_type = "id_card"

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        timeout: float = 1.0,
        read_timeout: float = 3.0,
        attempts: int = 3,
        retry_pause: float = 0.1,
    ) -> None:
        super().__init__(port, baudrate)
        self.timeout = timeout
        self.read_timeout = read_timeout
        self.attempts = attempts
        self.retry_pause = retry_pause
        #: Bad frames seen since this reader was made (garbage included); health reports it.
        self.bad_frames = 0
        self._parser = FrameParser()

    def open(self) -> None:
        self._ensure_open()

    def _on_open(self) -> None:
        self._parser.reset()

    def close(self) -> None:
        self._close_port()

    def transact(
        self, command: Command | tuple[int, int], data: bytes = b"", *, timeout: float | None = None
    ) -> Response:
        """Send one command and return the SAM's answer.

        Raises :class:`DeviceTimeout` (no answer), :class:`FrameCorrupted` (a damaged answer) or
        :class:`DeviceUnavailable` (the port went away; the reader is closed).
        """
        if self._serial is None:
            raise DeviceUnavailable(f"{self.port}: not open")
        ser = self._serial
        label = _label(command)
        wait = self.timeout if timeout is None else timeout
        self._parser.reset()
        try:
            write_all(ser, encode_command(command, data))
            deadline = time.monotonic() + wait
            while True:
                chunk = read_some(ser, deadline)
                records = self._parser.feed(chunk) if chunk else self._parser.flush()
                damaged: BadFrame | None = None
                for record in records:
                    if isinstance(record, BadFrame):
                        self._note(record)
                        if record.kind is not BadFrameKind.GARBAGE:
                            damaged = record
                        continue
                    response = record.as_response()
                    if response is not None:
                        return response
                    damaged = BadFrame(BadFrameKind.LENGTH, record.size, b"", "answer without SW1 SW2 SW3")
                    self._note(damaged)
                if damaged is not None:
                    raise FrameCorrupted(f"{label}: {damaged.kind.value} ({damaged.detail})")
                if not chunk:
                    raise DeviceTimeout(f"{self.port}: {label} unanswered after {wait:g} s")
        except DeviceUnavailable:
            self.close()
            raise

    def self_test(self) -> None:
        """SAM status (11 FF): returns when it answers 90, :class:`SamFailed` on 60/66."""
        self._expect(Command.SAM_STATUS, self.transact(Command.SAM_STATUS), {Status.OK})

    def set_baud(self, baud: Baud) -> None:
        """Move SAM and port to another rate (60 xx); the SAM answers at the old rate first."""
        command = (SET_BAUD_CMD, int(baud))
        self._expect(command, self.transact(command), {Status.OK})
        if self._serial is not None:
            self._serial.baudrate = baud.rate
        self.baudrate = baud.rate

    def poll(self) -> CardFacts | None:
        """One find → select → read cycle, retried while a found card fails part-way."""
        seen_card = False
        trouble = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.retry_pause)
            try:
                found = self._expect(
                    Command.FIND_CARD, self.transact(Command.FIND_CARD), {Status.CARD_FOUND, Status.NO_CARD}
                )
                if found is Status.NO_CARD:
                    if not seen_card:
                        return None
                    trouble = "card left during the read"
                    continue
                seen_card = True
                selected = self._expect(
                    Command.SELECT_CARD,
                    self.transact(Command.SELECT_CARD),
                    {Status.OK, Status.SELECT_FAILED, Status.NO_CARD},
                )
                if selected is not Status.OK:
                    trouble = f"select answered {int(selected):02X}"
                    continue
                answer = self.transact(Command.READ_BASE, timeout=self.read_timeout)
                status = self._expect(Command.READ_BASE, answer, {Status.OK, Status.READ_FAILED, Status.NO_CARD})
                if status is not Status.OK:
                    trouble = f"read answered {int(status):02X}"
                    continue
                block = split_read_data(answer.data)
            except FrameCorrupted as exc:
                trouble = str(exc.detail)
                continue
            except ValueError as exc:  # a read answer whose inner lengths do not add up
                self.bad_frames += 1
                trouble = str(exc)
                continue
            try:
                text = decode_text_block(block)
            except ValueError:
                raise CardRefused(messages.text("refused_unreadable")) from None
            return facts_from_text(text)
        if not seen_card:
            raise FrameCorrupted(trouble)
        raise ReadFailed(f"{self.attempts} attempts: {trouble}")

    def _expect(self, command: Command | tuple[int, int], response: Response, allowed: set[Status]) -> Status:
        status = response.status
        if status in _SAM_DEAD:
            raise SamFailed(f"{self.port}: SW3={response.sw3:02X} {STATUS_TEXT[status]}")
        if status is None or status not in allowed:
            text = STATUS_TEXT.get(status, UNKNOWN_STATUS_TEXT) if status is not None else UNKNOWN_STATUS_TEXT
            raise DeviceProtocolError(f"{self.port}: {_label(command)} answered SW3={response.sw3:02X} {text}")
        return status

    def _note(self, record: BadFrame) -> None:
        self.bad_frames += 1
        level = logging.DEBUG if record.kind is BadFrameKind.GARBAGE else logging.WARNING
        log.log(
            level,
            "%s: bad frame, %s, %d bytes (%s)",
            self.port,
            record.kind.value,
            record.size,
            record.detail,
        )

    def __enter__(self) -> IdCardReader:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _label(command: Command | tuple[int, int]) -> str:
    return command.name if isinstance(command, Command) else f"{command[0]:02X} {command[1]:02X}"
