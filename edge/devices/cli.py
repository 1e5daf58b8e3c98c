"""``shegong edge reader …``: a technician's tools for the card readers.

``shegong edge reader read --port /dev/shegong-reader`` reads one card and prints its fields as JSON with
the ID number masked; ``--unmasked`` prints it whole (and logs that it did, without the number).
``--sscard-lib PATH`` reads a social-security card through a vendor library instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from edge.devices.errors import DeviceError
from edge.devices.idreader import DEFAULT_BAUDRATE, IdCardReader
from edge.devices.reader import CardReader, wait_for_card
from edge.devices.sscard import SSCardReader

__all__ = ["main"]

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shegong edge reader", description="Card reader tools.")
    sub = p.add_subparsers(dest="cmd", required=True)
    read = sub.add_parser("read", help="read one card and print its fields as JSON (ID number masked)")
    where = read.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial port of a GA 467 ID card reader, e.g. /dev/shegong-reader")
    where.add_argument("--sscard-lib", metavar="PATH", help="vendor library exporting iReadCardBas")
    read.add_argument("--baud", type=int, default=DEFAULT_BAUDRATE, help="UART rate (default %(default)s)")
    read.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for a card (default %(default)s)")
    read.add_argument("--unmasked", action="store_true", help="print the whole ID number (technicians only; logged)")
    return p


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if args[:1] == ["reader"]:
        args = args[1:]
    ns = _parser().parse_args(args)
    reader: CardReader = IdCardReader(ns.port, baudrate=ns.baud) if ns.port else SSCardReader(ns.sscard_lib)
    try:
        reader.open()
        reader.self_test()
        facts = wait_for_card(reader, ns.timeout)
    finally:
        reader.close()
    if ns.unmasked:
        log.warning("unmasked card read on %s: the whole ID number was printed", reader.name)
    print(json.dumps(facts.as_dict(unmasked=ns.unmasked), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":  # python -m edge.devices.cli reader read …
    try:
        sys.exit(main(sys.argv[1:]))
    except DeviceError as exc:
        print(f"shegong edge reader: {exc}", file=sys.stderr)
        sys.exit(2)
