"""``shegong edge reader …``: a technician's tools for the card readers.

``shegong edge reader read --port /dev/shegong-reader`` reads one card and prints its fields as JSON with
the ID number masked; ``--unmasked`` prints it whole (and logs that it did, without the number).
``--sscard-lib PATH`` reads a social-security card through a vendor library instead.
"""

from __future__ import annotations

import json
import logging
import sys

import click

from edge.devices.errors import DeviceError
from edge.devices.idreader import DEFAULT_BAUDRATE, IdCardReader
from edge.devices.reader import CardReader, wait_for_card
from edge.devices.sscard import SSCardReader

__all__ = ["reader"]

log = logging.getLogger(__name__)


@click.group()
def reader() -> None:
    """Card reader tools."""


@reader.command()
@click.option("--port", help="serial port of a GA 467 ID card reader, e.g. /dev/shegong-reader")
@click.option("--sscard-lib", metavar="PATH", help="vendor library exporting iReadCardBas")
@click.option("--baud", type=int, default=DEFAULT_BAUDRATE, show_default=True, help="UART rate")
@click.option("--timeout", type=float, default=15.0, show_default=True, help="seconds to wait for a card")
@click.option("--unmasked", is_flag=True, help="print the whole ID number (technicians only; logged)")
def read(port: str | None, sscard_lib: str | None, baud: int, timeout: float, unmasked: bool) -> int:
    """Read one card and print its fields as JSON (ID number masked).

    Give exactly one of --port and --sscard-lib.
    """
    if bool(port) == bool(sscard_lib):
        raise click.UsageError("give exactly one of --port and --sscard-lib")
    card_reader: CardReader = IdCardReader(port, baudrate=baud) if port else SSCardReader(sscard_lib or "")
    try:
        card_reader.open()
        card_reader.self_test()
        facts = wait_for_card(card_reader, timeout)
    finally:
        card_reader.close()
    if unmasked:
        log.warning("unmasked card read on %s: the whole ID number was printed", card_reader.name)
    print(json.dumps(facts.as_dict(unmasked=unmasked), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":  # python -m edge.devices.cli reader read …
    args = sys.argv[1:]
    try:
        reader.main(args[1:] if args[:1] == ["reader"] else args, prog_name="shegong edge reader")
    except DeviceError as exc:
        print(f"shegong edge reader: {exc}", file=sys.stderr)
        sys.exit(2)
