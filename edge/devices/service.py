"""The device service: polls the card readers, reads the scanner, watches the printer, keeps health.

One event per tap: a reader's card is announced when it differs from the last one announced, or when the
reader has reported "no card" since. With an ID card reader the SAM itself answers 80 after a read until
the card leaves the field; with a social-security card, which reads the same while it stays inserted,
the rule above is what keeps it from repeating.

Every device runs on its own thread and every call it makes is bounded in time. A device that vanishes
(unplugged: the serial path disappears) is reopened with exponential backoff and, for a reader,
self-tested again before polling resumes: no restart needed. Events go to ``on_event`` (called on the
device's thread: keep it short; it may not raise into the service) or, without one, to :attr:`events`.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from edge.devices.errors import (
    CardRefused,
    DeviceError,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnavailable,
    FrameCorrupted,
    PrinterNotReady,
    ReadFailed,
    SamFailed,
)
from edge.devices.escpos import PrinterStatus, Receipt
from edge.devices.events import CardTapped, CardUnreadable, DeviceEvent, Scanned
from edge.devices.health import DeviceHealth, PrinterState, ReaderHealth, ReaderState, ScannerState
from edge.devices.printer import ReceiptPrinter
from edge.devices.reader import CardReader
from edge.devices.scanner import QrScanner
from protocol.idnumber import mask

__all__ = ["DeviceService"]

log = logging.getLogger(__name__)
_READ_FAILED = "\x00read failed"  # as the card last announced: a read failure, said once


def _now() -> datetime:
    return datetime.now(UTC)


_ERROR_STATES: tuple[tuple[type[DeviceError], ReaderState], ...] = (
    (DeviceUnavailable, ReaderState.NO_DEVICE),
    (DeviceTimeout, ReaderState.NOT_RESPONDING),
    (SamFailed, ReaderState.SAM_FAILED),
    (DeviceProtocolError, ReaderState.ERROR),
)


class _Backoff:
    def __init__(self, first: float, limit: float) -> None:
        self.first, self.limit, self._delay = first, limit, first

    def next(self) -> float:
        delay, self._delay = self._delay, min(self._delay * 2, self.limit)
        return delay

    def reset(self) -> None:
        self._delay = self.first


class DeviceService:
    """Runs ``readers`` (any :class:`CardReader`), an optional ``printer`` and ``scanner``.

    ``poll_interval``: seconds between read cycles when nothing is wrong. ``retry_first`` / ``retry_max``:
    the backoff while a device is missing or failing. ``printer_interval``: how often the printer's
    status is read when nobody prints.
    """

    def __init__(
        self,
        readers: Sequence[CardReader] = (),
        *,
        printer: ReceiptPrinter | None = None,
        scanner: QrScanner | None = None,
        on_event: Callable[[DeviceEvent], None] | None = None,
        poll_interval: float = 0.5,
        printer_interval: float = 10.0,
        retry_first: float = 0.2,
        retry_max: float = 5.0,
    ) -> None:
        self.readers = list(readers)
        self.printer = printer
        self.scanner = scanner
        self.on_event = on_event
        self.poll_interval = poll_interval
        self.printer_interval = printer_interval
        self.retry = (retry_first, retry_max)
        #: Events, when no ``on_event`` is given.
        self.events: queue.Queue[DeviceEvent] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        # One caller at a time on each serial line: the device's own thread, or a technician's test.
        self._reader_locks = [threading.Lock() for _ in self.readers]
        self._printer_lock = threading.Lock()
        # A technician waiting for the next card (by reader name) or scan ("scanner"): that event goes to
        # them, not to the kiosk, so a test card never opens a resident's session.
        self._captures: dict[str, queue.Queue[DeviceEvent]] = {}
        now = _now()
        self._readers = [ReaderHealth(r.name, r.card_type, ReaderState.STARTING, since=now) for r in self.readers]
        self._printer = (PrinterState.ABSENT if printer is None else PrinterState.OFFLINE, "")
        self._scanner = ScannerState.ABSENT if scanner is None else ScannerState.NO_DEVICE

    # -- life cycle ---------------------------------------------------------------------------------
    def start(self) -> DeviceService:
        jobs: list[tuple[str, Callable[[], None]]] = [
            (f"reader-{i}", functools.partial(self._run_reader, i)) for i in range(len(self.readers))
        ]
        if self.printer is not None:
            jobs.append(("printer", self._run_printer))
        if self.scanner is not None:
            jobs.append(("scanner", self._run_scanner))
        for name, job in jobs:
            thread = threading.Thread(target=job, name=f"devices-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling and close every device; returns once the threads have finished their last call."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        for device in [*self.readers, self.printer, self.scanner]:
            if device is not None:
                device.close()

    def __enter__(self) -> DeviceService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the kiosk asks --------------------------------------------------------------------------
    def health(self) -> DeviceHealth:
        with self._lock:
            readers = tuple(
                replace(h, bad_frames=getattr(r, "bad_frames", 0))
                for r, h in zip(self.readers, self._readers, strict=True)
            )
            return DeviceHealth(readers, self._printer[0], self._printer[1], self._scanner, taken_at=_now())

    def print_receipt(self, receipt: Receipt | bytes) -> None:
        """Print now, on the caller's thread; the printer's health follows what happened.

        Raises :class:`PrinterNotReady`, :class:`DeviceUnavailable` or :class:`DeviceTimeout` (and
        :class:`DeviceUnavailable` when no printer is configured).
        """
        if self.printer is None:
            raise DeviceUnavailable("no printer configured", code="printer_offline")
        try:
            with self._printer_lock:
                status = self.printer.print_receipt(receipt)
            self._set_printer(status)
        except DeviceError as exc:
            self._printer_failed(exc)
            raise

    def check_printer(self) -> PrinterState:
        """Read the printer's status now and return its state."""
        if self.printer is None:
            return PrinterState.ABSENT
        try:
            with self._printer_lock:
                status = self.printer.status()
            self._set_printer(status)
        except DeviceError as exc:
            self._printer_failed(exc)
        return self._printer[0]

    # -- what a technician asks (through the terminal's control socket) --------------------------------
    def reader_index(self, card_type: str) -> int:
        """The index of the reader of ``card_type`` (``id_card`` / ``ss_card``); DeviceUnavailable if none."""
        for i, reader in enumerate(self.readers):
            if str(reader.card_type) == card_type:
                return i
        raise DeviceUnavailable(f"no {card_type} reader configured", code="no_device")

    def self_test(self, index: int) -> int:
        """Run reader ``index``'s self-test now, between two of its polls; returns its frame errors so far.
        Raises the device's error (the reader's thread then finds out on its own next cycle)."""
        reader = self.readers[index]
        with self._reader_locks[index]:
            reader.self_test()
        return int(getattr(reader, "bad_frames", 0))

    def next_card(self, index: int, timeout: float) -> CardTapped | CardUnreadable | None:
        """The next card laid on reader ``index`` within ``timeout`` seconds (kept from the kiosk), or None."""
        event = self._capture(self.readers[index].name, timeout)
        assert event is None or isinstance(event, CardTapped | CardUnreadable)
        return event

    def next_scan(self, timeout: float) -> Scanned | None:
        """The next code scanned within ``timeout`` seconds (kept from the kiosk), or None."""
        if self.scanner is None:
            raise DeviceUnavailable("no scanner configured", code="no_device")
        event = self._capture("scanner", timeout)
        assert event is None or isinstance(event, Scanned)
        return event

    def _capture(self, key: str, timeout: float) -> DeviceEvent | None:
        box: queue.Queue[DeviceEvent] = queue.Queue(1)
        with self._lock:
            if key in self._captures:
                raise DeviceError(f"{key} is already being tested")
            self._captures[key] = box
        try:
            return box.get(timeout=timeout)
        except queue.Empty:
            return None
        finally:
            with self._lock:
                self._captures.pop(key, None)

    # -- threads ----------------------------------------------------------------------------------------
    def _run_reader(self, index: int) -> None:
        reader = self.readers[index]
        backoff = _Backoff(*self.retry)
        last_key: str | None = None  # the card last announced; None once the reader has seen no card
        ready = False
        while not self._stop.is_set():
            pause = self.poll_interval
            lock = self._reader_locks[index]
            lock.acquire()
            try:
                if not ready:
                    reader.open()
                    reader.self_test()
                    ready = True
                    log.info("reader %s ready", reader.name)
                try:
                    facts = reader.poll()
                except CardRefused as exc:
                    if exc.key != last_key or not exc.key:
                        last_key = exc.key
                        self._emit(CardUnreadable(exc.code, exc.message, reader.card_type, reader.name, _now()))
                else:
                    if facts is None:
                        last_key = None
                    elif facts.key != last_key:
                        last_key = facts.key
                        log.info("card %s read on %s", mask(facts.id_number), reader.name)
                        self._emit(CardTapped(facts, reader.name, _now()))
                self._set_reader(index, ReaderState.OK)
                backoff.reset()
            except ReadFailed as exc:
                log.info("reader %s: %s", reader.name, exc.detail)
                # Said once while the card stays: a damaged card left on the pad sent the page to the notice
                # fourteen times in ten seconds (accessibility review). Said again once the pad was empty.
                if last_key != _READ_FAILED:
                    last_key = _READ_FAILED
                    self._emit(CardUnreadable(exc.code, exc.message, reader.card_type, reader.name, _now()))
                self._set_reader(index, ReaderState.OK)
            except FrameCorrupted as exc:  # noise on the line: the next cycle asks again
                log.warning("reader %s: %s", reader.name, exc.detail)
            except DeviceError as exc:
                state = next((s for cls, s in _ERROR_STATES if isinstance(exc, cls)), ReaderState.ERROR)
                if isinstance(exc, DeviceUnavailable):
                    reader.close()
                ready = False  # reopen or self-test again before trusting it
                self._set_reader(index, state, exc.detail)
                pause = backoff.next()
            except Exception as exc:  # a bug: report it, keep the kiosk's other devices running
                log.exception("reader %s: unexpected error", reader.name)
                reader.close()
                ready = False
                self._set_reader(index, ReaderState.ERROR, repr(exc))
                pause = backoff.next()
            finally:
                lock.release()
            self._stop.wait(pause)

    def _run_printer(self) -> None:
        while not self._stop.is_set():
            self.check_printer()
            self._stop.wait(self.printer_interval)

    def _run_scanner(self) -> None:
        scanner = self.scanner
        assert scanner is not None
        backoff = _Backoff(*self.retry)
        while not self._stop.is_set():
            try:
                scanner.open()
                self._scanner = ScannerState.OK
                text = scanner.read_scan(timeout=0.5)
                backoff.reset()
                if text is not None:
                    self._emit(Scanned(text, scanner.name, _now()))
            except DeviceError as exc:
                scanner.close()
                if self._scanner is not ScannerState.NO_DEVICE:
                    log.warning("scanner %s: %s", scanner.name, exc.detail)
                self._scanner = ScannerState.NO_DEVICE
                self._stop.wait(backoff.next())

    # -- bookkeeping ------------------------------------------------------------------------------------
    def _emit(self, event: DeviceEvent) -> None:
        key = "scanner" if isinstance(event, Scanned) else event.reader
        with self._lock:
            box = self._captures.pop(key, None)
        if box is not None:
            box.put(event)
            return
        if self.on_event is None:
            self.events.put(event)
            return
        try:
            self.on_event(event)
        except Exception:
            log.exception("device event handler failed on %s", type(event).__name__)

    def _set_reader(self, index: int, state: ReaderState, detail: str = "") -> None:
        with self._lock:
            old = self._readers[index]
            if old.state is state and old.detail == detail:
                return
            if old.state is not state:
                level = logging.INFO if state is ReaderState.OK else logging.WARNING
                log.log(level, "reader %s: %s → %s %s", old.name, old.state.value, state.value, detail)
            since = old.since if old.state is state else _now()
            self._readers[index] = replace(old, state=state, detail=detail, since=since)

    def _set_printer(self, status: PrinterStatus) -> None:
        self._set_printer_state(status.state, "")

    def _printer_failed(self, exc: DeviceError) -> None:
        if isinstance(exc, PrinterNotReady):
            state = exc.state
        elif isinstance(exc, FrameCorrupted):
            state = PrinterState.ERROR
        else:
            state = PrinterState.OFFLINE
        self._set_printer_state(state, exc.detail)

    def _set_printer_state(self, state: PrinterState, detail: str) -> None:
        with self._lock:
            if self._printer[0] is not state:
                log.log(logging.INFO if state.can_print else logging.WARNING, "printer: %s %s", state.value, detail)
            self._printer = (state, detail)
