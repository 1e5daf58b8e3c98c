"""The ``shegong`` command: a thin root that loads each side's commands only when asked."""
