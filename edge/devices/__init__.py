"""Terminal devices: card readers, QR scanner and receipt printer, each over pyserial or a vendor library.

Nothing is imported here: the kiosk imports what it uses (``edge.devices.service``, ``edge.devices.idreader``
…), and a process that never touches hardware never loads pyserial.

Layout:

- ``sam``, ``idtext``, ``codes``: the GA 467 SAM protocol and the ID card's text block (pure, no I/O)
- ``escpos``, ``escpos_decode``: ESC/POS encoder, status bytes and decoder (pure)
- ``facts``: :class:`~edge.devices.facts.CardFacts`, the holder's facts every reader produces
- ``idreader``, ``sscard``, ``scanner``, ``printer``: the drivers
- ``reader``: the :class:`~edge.devices.reader.CardReader` interface the kiosk takes
- ``service``: polling, one event per tap, health, reconnect
- ``sim``: simulators speaking the same bytes on a real pty
"""

__all__: list[str] = []
