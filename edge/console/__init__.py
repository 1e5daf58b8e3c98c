"""The field maintenance console (``shegong edge console``): a technician's view of one running terminal.

Nothing is imported here. The console is a separate process: it reads the terminal's store (reads take no
write lock) and asks the running terminal, over :mod:`edge.control`, for what only the terminal
knows or does (the link, send now, reconnect, device tests while the kiosk holds the devices, PINs read
again). The parts:

- ``store``: what the console reads from and records in the terminal's database; every action audited
- ``checks``: the overview's figures, each red, amber or green with its reason in words
- ``devices``: each device's port and whether it is there; device tests on the ports when no terminal runs
- ``pins``: a staff member's PIN reset in the configuration file
- ``netdiag``: name resolution, TCP and TLS to the broker, the hub's clock
- ``logs``: the terminal's recent log lines (journald, else the log file), ID numbers masked
- ``app`` and ``panes/``: the Textual UI (the only modules that import Textual)
"""

__all__: list[str] = []
