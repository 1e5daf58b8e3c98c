"""The ID card reader driver and device service against the GA 467 simulator, over a real pty.

The service polls find (20 01) → select (20 02) → read (30 01). A tap gives one event; a card left on
the reader is not announced again (the SAM answers 80 until it leaves the field); a different card, or
the same one put down again, is a new event. A read answering 41 or 80 part-way is retried within the
same tap. Pulling the cable half-way through the 1295-byte answer, a reader that stops answering, and a
SAM that fails its self-test (60) are reported as health, and the service recovers when they do.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import serial

from edge.devices.errors import DeviceTimeout
from edge.devices.events import CardTapped, CardUnreadable, DeviceEvent
from edge.devices.health import ReaderState
from edge.devices.idreader import IdCardReader
from edge.devices.sam import encode_frame
from edge.devices.sam_codes import Baud, Status
from edge.devices.service import DeviceService
from edge.devices.sim.identities import BAD_CHECK_DIGIT
from edge.devices.sim.idreader import IdReaderSim

pytestmark = pytest.mark.timeout(10)

Start = Callable[..., DeviceService]
Wait = Callable[..., None]
Drain = Callable[..., list[DeviceEvent]]


def names(events: list[DeviceEvent]) -> list[str]:
    return [e.facts.name for e in events if isinstance(e, CardTapped)]


def test_a_tap_gives_one_event_with_the_holders_facts(
    id_sim: IdReaderSim, fast_reader: IdCardReader, start_service: Start, wait_until: Wait, drain: Drain
) -> None:
    service = start_service(fast_reader)
    wait_until(lambda: service.health().reader is ReaderState.OK, what="reader ok")
    person = id_sim.place("wang-xiuying")
    event = service.events.get(timeout=3)
    assert isinstance(event, CardTapped)
    assert event.facts.id_number == person.id_number and event.facts.name == "王秀英"
    assert event.facts.region_code == "310115" and event.facts.sex == "F"
    assert event.reader == id_sim.path


def test_a_card_left_on_the_reader_is_not_announced_again(
    id_sim: IdReaderSim, fast_reader: IdCardReader, start_service: Start, wait_until: Wait, drain: Drain
) -> None:
    service = start_service(fast_reader)
    id_sim.place("zhang-wei")
    wait_until(lambda: id_sim.reads == 1, what="the first read")
    finds = id_sim.commands["FIND_CARD"]
    assert names(drain(service, settle=0.8)) == ["张伟"]
    assert id_sim.commands["FIND_CARD"] > finds + 5  # still polling, the SAM answering 80
    assert id_sim.reads == 1


def test_a_different_card_or_the_same_card_put_down_again_is_a_new_event(
    id_sim: IdReaderSim, fast_reader: IdCardReader, start_service: Start, wait_until: Wait, drain: Drain
) -> None:
    service = start_service(fast_reader)
    id_sim.place("zhang-wei")
    wait_until(lambda: id_sim.reads == 1)
    id_sim.place("li-na")  # swapped
    wait_until(lambda: id_sim.reads == 2)
    id_sim.remove()
    time.sleep(0.2)
    id_sim.place("li-na")  # lifted and put down again
    wait_until(lambda: id_sim.reads == 3)
    assert names(drain(service, settle=0.3)) == ["张伟", "李娜", "李娜"]


@pytest.mark.parametrize(
    ("step", "status"), [("read", Status.READ_FAILED), ("read", Status.NO_CARD), ("select", Status.SELECT_FAILED)]
)
def test_a_read_interrupted_part_way_is_retried_within_the_tap(
    id_sim: IdReaderSim,
    fast_reader: IdCardReader,
    start_service: Start,
    wait_until: Wait,
    drain: Drain,
    step: str,
    status: int,
) -> None:
    id_sim.fail_next(step, status)
    service = start_service(fast_reader)
    id_sim.place("chen-jianguo")
    wait_until(lambda: id_sim.reads == 1)
    assert names(drain(service, settle=0.3)) == ["陈建国"]
    assert id_sim.commands["FIND_CARD"] >= 2


def test_a_card_that_keeps_failing_is_reported_as_unreadable(
    id_sim: IdReaderSim, fast_reader: IdCardReader, start_service: Start, wait_until: Wait, drain: Drain
) -> None:
    id_sim.fail_next("read", Status.READ_FAILED, times=3)
    service = start_service(fast_reader)
    id_sim.place("li-na")
    event = service.events.get(timeout=3)
    assert isinstance(event, CardUnreadable) and event.code == "read_failed" and "重新" in event.message
    assert service.events.get(timeout=3).facts.name == "李娜"  # type: ignore[union-attr]


def test_a_damaged_card_left_on_the_reader_is_reported_once_until_the_pad_is_empty(
    id_sim: IdReaderSim, fast_reader: IdCardReader, start_service: Start, wait_until: Wait, drain: Drain
) -> None:
    """An accessibility review: a damaged card left on the pad sent the page to the notice fourteen times in
    ten seconds. Once while it stays; again once the pad was empty and a card fails again."""
    id_sim.fail_next("read", Status.READ_FAILED, times=1000)
    service = start_service(fast_reader)
    id_sim.place("li-na")
    wait_until(lambda: id_sim.commands["READ_BASE"] >= 5)
    events = drain(service, settle=0.4)
    assert [(type(e), e.code) for e in events] == [(CardUnreadable, "read_failed")]  # type: ignore[union-attr]
    id_sim.remove()
    # Three looks at the empty pad after the removal (the count ran on while the card lay there: waiting for
    # three in all returned at once on a slow machine, before the service had seen the pad empty).
    looked = id_sim.commands["FIND_CARD"]
    wait_until(lambda: id_sim.commands["FIND_CARD"] >= looked + 3)
    drain(service, settle=0.3)
    id_sim.place("li-na")
    assert isinstance(service.events.get(timeout=3), CardUnreadable), "a card put down again that fails is said"


def test_a_card_with_a_bad_check_digit_is_refused_once_with_a_chinese_message(
    id_sim: IdReaderSim, fast_reader: IdCardReader, start_service: Start, wait_until: Wait, drain: Drain
) -> None:
    service = start_service(fast_reader)
    bad = id_sim.place(BAD_CHECK_DIGIT)
    wait_until(lambda: id_sim.reads == 1)
    events = drain(service, settle=0.4)
    assert len(events) == 1 and isinstance(events[0], CardUnreadable)
    assert events[0].code == "card_refused" and "校验码不符" in events[0].message
    assert bad.id_number not in events[0].message


def test_unplugged_mid_frame_then_replugged_the_card_is_read_without_a_restart(
    id_sim: IdReaderSim, fast_reader: IdCardReader, start_service: Start, wait_until: Wait, drain: Drain
) -> None:
    service = start_service(fast_reader)
    wait_until(lambda: service.health().reader is ReaderState.OK)
    id_sim.unplug_during_next_read()
    id_sim.place("sun-zhiming")
    wait_until(lambda: service.health().reader is ReaderState.NO_DEVICE, what="no_device")
    assert drain(service) == []
    time.sleep(0.3)  # the service keeps trying a path that is not there
    id_sim.replug()
    event = service.events.get(timeout=3)
    assert isinstance(event, CardTapped) and event.facts.name == "孙志明"
    assert service.health().reader is ReaderState.OK


def test_a_reader_that_stops_answering_is_reported_and_nothing_hangs(
    id_sim: IdReaderSim, fast_reader: IdCardReader, start_service: Start, wait_until: Wait, drain: Drain
) -> None:
    service = start_service(fast_reader)
    wait_until(lambda: service.health().reader is ReaderState.OK)
    id_sim.set_silent()
    wait_until(lambda: service.health().reader is ReaderState.NOT_RESPONDING, what="not_responding")
    assert "unanswered" in service.health().readers[0].detail
    id_sim.set_silent(False)
    wait_until(lambda: service.health().reader is ReaderState.OK, what="recovery")
    started = time.monotonic()
    id_sim.set_silent()
    time.sleep(0.1)
    service.stop()
    assert time.monotonic() - started < 2.0


def test_a_failed_sam_self_test_is_reported_to_health(
    id_sim: IdReaderSim, fast_reader: IdCardReader, start_service: Start, wait_until: Wait, drain: Drain
) -> None:
    id_sim.set_sam_failed()
    id_sim.place("zhang-wei")
    service = start_service(fast_reader)
    wait_until(lambda: service.health().reader is ReaderState.SAM_FAILED, what="sam_failed")
    assert "60" in service.health().readers[0].detail
    assert drain(service, settle=0.3) == [] and id_sim.reads == 0
    id_sim.set_sam_failed(False)
    event = service.events.get(timeout=3)
    assert isinstance(event, CardTapped) and service.health().reader is ReaderState.OK


def test_garbage_and_a_damaged_answer_are_survived_and_counted(
    id_sim: IdReaderSim, fast_reader: IdCardReader, start_service: Start, wait_until: Wait, drain: Drain
) -> None:
    service = start_service(fast_reader)
    wait_until(lambda: service.health().reader is ReaderState.OK)
    id_sim.noise(bytes(range(1, 64)))
    id_sim.corrupt_next()
    id_sim.garbage_before_next(b"\xaa\xaa\x00\x13")
    id_sim.place("ma-li")
    assert service.events.get(timeout=3).facts.name == "马丽"  # type: ignore[union-attr]
    assert service.health().readers[0].bad_frames >= 2


def test_every_exchange_is_bounded_by_its_timeout(id_sim: IdReaderSim, fast_reader: IdCardReader) -> None:
    with fast_reader:
        id_sim.set_silent()
        started = time.monotonic()
        with pytest.raises(DeviceTimeout):
            fast_reader.poll()
        assert time.monotonic() - started < 0.3 + 0.2


def test_the_sam_answers_a_damaged_command_with_a_checksum_error(id_sim: IdReaderSim) -> None:
    bad = bytearray(encode_frame(b"\x20\x01"))
    bad[-1] ^= 0xFF
    with serial.Serial(id_sim.path, 115200, timeout=0.5) as port:
        port.write(bytes(bad))
        expected = encode_frame(bytes([0, 0, Status.CHECKSUM_ERROR]))
        assert port.read(len(expected)) == expected


def test_the_baud_rate_is_changed_with_60_xx(id_sim: IdReaderSim, fast_reader: IdCardReader) -> None:
    with fast_reader:
        fast_reader.set_baud(Baud.B9600)
        assert fast_reader.baudrate == 9600
        fast_reader.self_test()
