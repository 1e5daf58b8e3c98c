"""What a card holder most likely came for: the items they may apply for, likeliest first.

An elderly resident may apply for some forty items; the first screen should show the handful they most
likely need. Which those are is catalogue data, not code: each item may say who most likely comes for it
(``ServiceItem.likely``, a rule in the eligibility language, in practice an age band from the centres'
experience: 20–45 birth, work, residence and the social-security card; 45–65 unemployment, flexible work,
pension and medical insurance; 65+ the elderly allowance, 敬老卡, meals, home care, care assessment and
medical aid) and its place among them (``likely_rank``, 1 first).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from operator import itemgetter

from protocol.catalogue import Catalogue
from protocol.eligibility import Attributes, Eligibility, ItemStatus

__all__ = ["FIRST_SCREEN", "Ranked", "rank"]

FIRST_SCREEN = 6
"""Items on the first screen: few enough to read at a glance, large enough to tap."""

_STATUS_ORDER = {status: n for n, status in enumerate(Eligibility)}


@dataclass(frozen=True)
class Ranked:
    """The items a holder may apply for (eligible or needing a staff check), split and ordered.

    ``likely``: the items whose ``likely`` rule holds for the holder, by ``likely_rank``, then eligible
    before needs-check, then catalogue order. ``others``: the rest they may apply for, eligible first, in
    catalogue order.
    """

    likely: tuple[ItemStatus, ...]
    others: tuple[ItemStatus, ...]

    def first(self, limit: int = FIRST_SCREEN) -> tuple[ItemStatus, ...]:
        """What the first screen shows: the likeliest ``limit`` items, or, when nothing is likely for this
        holder, the first ``limit`` they may apply for."""
        return (self.likely or self.others)[:limit]


def rank(
    catalogue: Catalogue,
    attrs: Attributes,
    statuses: Sequence[Eligibility] | None = None,
    likely_codes: Collection[str] | None = None,
) -> Ranked:
    """Rank ``catalogue``'s items for ``attrs``. A caller that has them already passes ``statuses`` (one per
    item, in catalogue order) and ``likely_codes`` (the items whose ``likely`` rule holds), so nothing is
    evaluated twice. Only statuses are needed: no verdict is worded."""
    if statuses is None:
        statuses = [item.status(attrs) for item in catalogue.items]
    likely: list[tuple[tuple[int, int], ItemStatus]] = []
    eligible: list[ItemStatus] = []
    to_check: list[ItemStatus] = []
    for item, status in zip(catalogue.items, statuses, strict=True):  # in catalogue order, kept by both sorts
        if status is Eligibility.NOT_ELIGIBLE:
            continue
        if item.code in likely_codes if likely_codes is not None else item.likely_for(attrs):
            likely.append(((item.likely_rank, _STATUS_ORDER[status]), ItemStatus(item, status)))
        else:
            (eligible if status is Eligibility.ELIGIBLE else to_check).append(ItemStatus(item, status))
    likely.sort(key=itemgetter(0))  # stable: catalogue order within a rank and status
    return Ranked(tuple(entry for _, entry in likely), (*eligible, *to_check))
