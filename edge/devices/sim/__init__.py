"""Device simulators: each opens a real pty and speaks its device's protocol byte for byte.

Python classes for tests (each runs in a thread, ``with`` starts and stops it):
:class:`edge.devices.sim.idreader.IdReaderSim`, :class:`edge.devices.sim.printer.PrinterSim`,
:class:`edge.devices.sim.scanner.ScannerSim`, :class:`edge.devices.sim.sscard.SSCardSim`.
The command line is ``shegong sim …`` (:mod:`edge.devices.sim.cli`).
"""

__all__: list[str] = []
