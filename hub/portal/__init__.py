"""The resident portal's core (issue 16): progress look-ups limited per client and per receipt
(:mod:`~hub.portal.lookup`, :mod:`~hub.portal.throttle`), signed tokens for printed records and downloads
(:mod:`~hub.portal.token`), public statistics cut to aggregates (:mod:`~hub.portal.stats`). The pages and
the PDF are the web side's (``hub.web.pages.portal``); nothing here imports it."""
