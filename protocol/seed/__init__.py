"""Data shipped with the protocol: the seed catalogue and the working-day calendar (read with importlib.resources)."""
