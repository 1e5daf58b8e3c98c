"""A GA 467 ID card reader on a pty: answers SAM commands with correctly built frames.

It models what shapes the driver: a card read once is not read again until it leaves the field (find
answers 80); injected read failures (41, or 80 mid-cycle); a failed SAM self-test (60 to everything);
a reader that stops answering; garbage on the line; a damaged answer; and a cable pulled half-way
through the 1295-byte read answer. Cards are placed, swapped and removed from Python or, through
:mod:`edge.devices.sim.control`, from ``shegong sim id-reader place|remove|…``.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable
from typing import Any

from edge.devices.idtext import PHOTO_LEN, build_read_data, encode_text_block
from edge.devices.sam import PREAMBLE, BadFrame, BadFrameKind, CommandFrame, FrameParser, encode_response
from edge.devices.sam_codes import SET_BAUD_CMD, Baud, Command, Status
from edge.devices.sim.identities import Identity, identity
from edge.devices.sim.pty import SimDevice

__all__ = ["DUMMY_PHOTO", "IdReaderSim"]

#: Stands in for the WLT photo. It holds the frame preamble on purpose: a parser must go by LEN.
DUMMY_PHOTO = ((b"WLT-SIM " + PREAMBLE + bytes(range(256))) * 4)[:PHOTO_LEN]

_STEPS = {"find": Command.FIND_CARD, "select": Command.SELECT_CARD, "read": Command.READ_BASE}


class IdReaderSim(SimDevice):
    """The simulated reader. Settings may be changed from any thread while it runs."""

    def __init__(self, link: str | os.PathLike[str] | None = None) -> None:
        super().__init__(link)
        self.card: Identity | None = None
        self.card_read = False  # read since it entered the field: the SAM answers 80 until it leaves
        self.sam_failed = False
        self.silent = False
        self.reads = 0  # complete read answers sent
        self.commands: collections.Counter[str] = collections.Counter()
        self._failures: collections.deque[tuple[Command, int]] = collections.deque()
        self._garbage = b""
        self._corrupt_next = False
        self._unplug_in_read = False
        self._parser = FrameParser()

    # -- the card ---------------------------------------------------------------------------------
    def place(self, who: Identity | str) -> Identity:
        """Put a card on the reader (a different one swaps it; the same one again re-enters the field)."""
        person = identity(who) if isinstance(who, str) else who
        with self._lock:
            self.card, self.card_read = person, False
        return person

    def remove(self) -> None:
        with self._lock:
            self.card, self.card_read = None, False

    # -- faults -----------------------------------------------------------------------------------
    def fail_next(self, step: str = "read", status: int = Status.READ_FAILED, times: int = 1) -> None:
        """Answer the next ``times`` ``step`` commands ("find", "select", "read") with ``status``."""
        with self._lock:
            self._failures.extend([(_STEPS[step], status)] * times)

    def set_sam_failed(self, failed: bool = True) -> None:
        with self._lock:
            self.sam_failed = failed

    def set_silent(self, silent: bool = True) -> None:
        with self._lock:
            self.silent = silent

    def garbage_before_next(self, data: bytes) -> None:
        """Send ``data`` ahead of the next answer."""
        with self._lock:
            self._garbage += data

    def corrupt_next(self) -> None:
        """Send the next answer with a wrong checksum."""
        with self._lock:
            self._corrupt_next = True

    def unplug_during_next_read(self) -> None:
        """At the next read, send half the answer and pull the cable."""
        with self._lock:
            self._unplug_in_read = True

    def noise(self, data: bytes) -> None:
        """Send ``data`` now, unasked."""
        self.call(lambda: self.port.write(data))

    # -- the protocol -----------------------------------------------------------------------------
    def on_data(self, data: bytes) -> None:
        for record in self._parser.feed(data):
            with self._lock:
                if isinstance(record, BadFrame):
                    answer = self._answer_bad(record)
                else:
                    self.commands[_name(record.as_command())] += 1
                    answer = self._answer(record.as_command())
                if answer is None or self.silent:
                    continue
                answer, self._garbage = self._garbage + answer, b""
                if self._corrupt_next:
                    answer, self._corrupt_next = answer[:-1] + bytes([answer[-1] ^ 0xFF]), False
                unplug = self._unplug_in_read and self.card_read and len(answer) > PHOTO_LEN
                self._unplug_in_read &= not unplug
            if unplug:
                self.port.write(answer[: len(answer) // 2])
                self.port.unplug()
                self._parser.reset()
                with self._lock:  # the host never got it, and a re-powered SAM sees the card afresh
                    self.card_read, self.reads = False, self.reads - 1
                return
            self.port.write(answer)

    def _answer_bad(self, record: BadFrame) -> bytes | None:
        if record.kind is BadFrameKind.CHECKSUM:
            return encode_response(Status.CHECKSUM_ERROR)
        if record.kind is BadFrameKind.LENGTH:
            return encode_response(Status.LENGTH_ERROR)
        return None  # garbage: a SAM ignores what is not a frame

    def _answer(self, cmd: CommandFrame) -> bytes:
        command = cmd.command
        if self.sam_failed:
            return encode_response(Status.SAM_SELF_TEST_FAILED)
        if self._failures and self._failures[0][0] is command and self.card is not None:
            return encode_response(self._failures.popleft()[1])
        present = self.card is not None and not self.card_read
        if command in (Command.SAM_STATUS, Command.RESET_SAM):
            return encode_response(Status.OK)
        if command is Command.READ_SAM_ID:
            return encode_response(Status.OK, bytes.fromhex("0501") + bytes(14))
        if cmd.cmd == SET_BAUD_CMD:
            ok = cmd.para in {int(b) for b in Baud}
            return encode_response(Status.OK if ok else Status.COMMAND_ERROR)
        if command is Command.FIND_CARD:
            return encode_response(Status.CARD_FOUND, bytes(4)) if present else encode_response(Status.NO_CARD)
        if command is Command.SELECT_CARD:
            return encode_response(Status.OK, bytes(8)) if present else encode_response(Status.SELECT_FAILED)
        if command in (Command.READ_BASE, Command.READ_WITH_FINGERPRINT):
            if not present or self.card is None:
                return encode_response(Status.NO_CARD)
            block = encode_text_block(self.card.id_text())
            data = build_read_data(block, DUMMY_PHOTO)
            if command is Command.READ_WITH_FINGERPRINT:  # this card holds no fingerprint: length 0
                data = data[:4] + bytes(2) + data[4:]
            self.card_read = True
            self.reads += 1
            return encode_response(Status.OK, data)
        if command is Command.READ_ADDRESS:
            return encode_response(Status.ITEM_ABSENT)
        return encode_response(Status.COMMAND_ERROR)

    def control_handlers(self) -> dict[str, Callable[..., Any]]:
        """Commands for :class:`edge.devices.sim.control.ControlServer`."""
        return {
            "place": lambda identity: self.place(identity).key,
            "remove": self.remove,
            "fail": lambda step="read", status=0x41, times=1: self.fail_next(step, int(status), int(times)),
            "sam-fail": lambda on=True: self.set_sam_failed(bool(on)),
            "silent": lambda on=True: self.set_silent(bool(on)),
            "garbage": lambda size=16: self.noise(os.urandom(int(size))),
            **super().control_handlers(),
            "state": lambda: {
                "path": self.path,
                "pty": self.port.slave_path,
                "card": self.card.key if self.card else None,
                "card_read": self.card_read,
                "reads": self.reads,
            },
        }


def _name(cmd: CommandFrame) -> str:
    command = cmd.command
    return command.name if command is not None else f"{cmd.cmd:02X}{cmd.para:02X}"
