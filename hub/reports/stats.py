"""Order statistics computed in Python, so SQLite and PostgreSQL give the same figures."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile"]


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0–1) of already sorted values, interpolated linearly between closest ranks.

    The same definition as NumPy's default and PostgreSQL's ``percentile_cont``; ``None`` for no values.
    """
    if not sorted_values:
        return None
    if not 0.0 <= q <= 1.0:
        raise ValueError("q must lie in [0, 1]")
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac
