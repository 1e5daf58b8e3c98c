"""The resident kiosk: a Litestar app with server-rendered pages, card events by server-sent events.

Nothing is imported here. ``edge.kiosk.server`` serves it (``serve`` for ``shegong edge run``,
``create_app`` for tests); the parts:

- ``config``: kiosk settings (host, port, idle timeout, staff PINs, device ports), read once at start-up
- ``i18n`` and ``messages/``: the zh/en message catalogues; every word on screen and paper comes from them
- ``session``: server-side sessions holding the card holder's facts, idle timeout, claim tokens
- ``directory``: the catalogue as the kiosk shows it (eligibility per holder, pinyin search, due dates)
- ``receipts``: what goes on paper (ESC/POS) and the on-screen QR code
- ``staff``: staff PINs (scrypt) with a lockout; none ships, so no staff mode until some are provisioned
- ``gate``: this start's secret, so that only the kiosk's own browser is served (claims, pages, events)
- ``throttle``: the rate limit of failed progress lookups
- ``events``: card and scan events from the device threads to the browsers' event streams
- ``app`` and ``routes/``: the web app (its latency benchmark is ``harness.bench.kiosk_measure``)
"""

__all__: list[str] = []
