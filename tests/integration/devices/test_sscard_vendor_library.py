"""The social-security card reader through a vendor library, as the kiosk will load a real one.

A small C library implementing ``int iReadCardBas(int iType, char *pOutInfo)`` is compiled into a pytest
temporary directory and loaded with ctypes. Its card is set through a control file: the record comes
back in GB18030 and becomes the holder's facts; an inserted card is announced once however often it is
read; removing and reinserting it, or another card, is a new event; a disconnected reader (-11) and a
library call that hangs are reported to health without hanging the service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.devices.errors import DeviceTimeout, DeviceUnavailable
from edge.devices.events import CardTapped, CardUnreadable, DeviceEvent
from edge.devices.health import ReaderState
from edge.devices.service import DeviceService
from edge.devices.sim.identities import BAD_CHECK_DIGIT
from edge.devices.sim.sscard import SSCardSim
from edge.devices.sscard import SSCardReader

pytestmark = pytest.mark.timeout(10)

Wait = Callable[..., None]
Drain = Callable[..., list[DeviceEvent]]


@pytest.fixture
def card(sscard_sim: SSCardSim) -> Iterator[SSCardSim]:
    sscard_sim.remove()
    yield sscard_sim
    sscard_sim.remove()


@pytest.fixture
def reader(card: SSCardSim) -> SSCardReader:
    return SSCardReader(str(card.library), timeout=0.3)


def test_an_inserted_card_gives_the_holders_facts_decoded_from_gb18030(card: SSCardSim, reader: SSCardReader) -> None:
    person = card.place("zhou-guilan")
    reader.open()
    facts = reader.poll()
    assert facts is not None
    assert (facts.card_type, facts.id_number, facts.name, facts.sex) == ("sscard", person.id_number, "周桂兰", "F")
    assert facts.birth_date == person.birth_date and facts.age() == 95
    card.remove()
    assert reader.poll() is None


def test_a_card_left_inserted_is_announced_once_and_reinserting_it_is_new(
    card: SSCardSim, reader: SSCardReader, start_service: Callable[..., DeviceService], wait_until: Wait, drain: Drain
) -> None:
    service = start_service(reader)
    wait_until(lambda: service.health().reader is ReaderState.OK)
    card.place("zhaxi-ciren")
    first = service.events.get(timeout=3)
    assert isinstance(first, CardTapped) and first.facts.name == "扎西次仁"
    assert drain(service, settle=0.5) == []  # read about ten times meanwhile, announced once
    card.remove()
    time.sleep(0.2)
    card.place("zhaxi-ciren")
    card_again = service.events.get(timeout=3)
    card.place("ayiguli")
    other = service.events.get(timeout=3)
    assert [e.facts.name for e in (card_again, other) if isinstance(e, CardTapped)] == ["扎西次仁", "阿依古丽"]


def test_a_card_with_a_bad_number_is_refused_once(
    card: SSCardSim, reader: SSCardReader, start_service: Callable[..., DeviceService], drain: Drain
) -> None:
    service = start_service(reader)
    card.place(BAD_CHECK_DIGIT)
    events = drain(service, settle=0.6)
    assert len(events) == 1 and isinstance(events[0], CardUnreadable) and "校验码不符" in events[0].message


def test_a_disconnected_reader_is_reported_and_recovers(
    card: SSCardSim, reader: SSCardReader, start_service: Callable[..., DeviceService], wait_until: Wait
) -> None:
    card.fail(-11, "读卡器连接错")
    service = start_service(reader)
    wait_until(lambda: service.health().reader is ReaderState.NO_DEVICE, what="no_device")
    assert "-11 读卡器连接错" in service.health().readers[0].detail
    card.place("huang-jun")
    event = service.events.get(timeout=3)
    assert isinstance(event, CardTapped) and service.health().reader is ReaderState.OK


def test_a_hung_library_call_times_out_and_is_not_called_again_until_it_returns(
    card: SSCardSim, reader: SSCardReader
) -> None:
    card.hang(800)
    reader.open()
    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match="did not return"):
        reader.poll()
    with pytest.raises(DeviceTimeout, match="has not returned"):
        reader.poll()
    assert time.monotonic() - started < 0.5
    card.place("li-na")
    time.sleep(0.9)
    facts = reader.poll()
    assert facts is not None and facts.name == "李娜"


def test_a_hung_library_shows_as_not_responding_and_the_service_still_stops(
    card: SSCardSim, reader: SSCardReader, wait_until: Wait
) -> None:
    card.hang(1500)
    service = DeviceService([reader], poll_interval=0.05, retry_first=0.05, retry_max=0.1).start()
    wait_until(lambda: service.health().reader is ReaderState.NOT_RESPONDING, what="not_responding")
    started = time.monotonic()
    service.stop()
    assert time.monotonic() - started < 1.0


def test_a_missing_library_is_no_device(tmp_path: Path) -> None:
    with pytest.raises(DeviceUnavailable):
        SSCardReader(str(tmp_path / "libvendor.so")).open()
