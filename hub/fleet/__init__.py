"""Fleet health: what births, deaths and heartbeats say about every terminal, the alerts an operator can
act on, the dashboard and the Prometheus figures. ``settings`` holds the thresholds, ``assess`` the pure
rules, ``registry`` the ingest hooks and the periodic evaluator, ``view`` the queries the pages show and
``board`` the service they ask. The pages themselves are in :mod:`hub.web.pages.fleet`."""
