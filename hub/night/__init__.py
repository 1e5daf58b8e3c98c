"""The hub's night (issue 15): answering terminals' reconciliations, keeping their nightly results and
audit witnesses (ingest hooks, :func:`attach`), and the hub's own overnight steps (``shegong hub nightly``,
:mod:`hub.night.steps`)."""
