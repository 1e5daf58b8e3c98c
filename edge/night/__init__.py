"""The terminal's night (issue 15): ``shegong edge nightly`` runs each overnight step once — backup,
reconciliation with the hub, clock and catalogue checks, audit witnessing, retention — and reports the
result to the hub (:mod:`edge.night.steps`)."""
