"""What a card holder most likely came for: the items they may apply for, likeliest first.

An elderly resident may apply for some forty items; the first screen should show the handful they most
likely need. Which those are is catalogue data, not code: each item may say who most likely comes for it
(``ServiceItem.likely``, a rule in the eligibility language, in practice an age band from the centres'
experience: 20–45 birth, work, residence and the social-security card; 45–65 unemployment, flexible work,
pension and medical insurance; 65+ the elderly allowance, 敬老卡, meals, home care, care assessment and
medical aid) and its place among them (``likely_rank``, 1 first).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from protocol.catalogue import Catalogue
from protocol.eligibility import Attributes, Eligibility, ItemVerdict, StatusGroup

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

    likely: tuple[ItemVerdict, ...]
    others: tuple[ItemVerdict, ...]

    def first(self, limit: int = FIRST_SCREEN) -> tuple[ItemVerdict, ...]:
        """What the first screen shows: the likeliest ``limit`` items, or, when nothing is likely for this
        holder, the first ``limit`` they may apply for."""
        return (self.likely or self.others)[:limit]


def rank(catalogue: Catalogue, attrs: Attributes, groups: Iterable[StatusGroup] | None = None) -> Ranked:
    """Rank ``catalogue``'s items for ``attrs``; ``groups`` are their verdicts when the caller has them
    (:func:`protocol.eligibility.evaluate_catalogue`), so nothing is evaluated twice."""
    order = {item.code: n for n, item in enumerate(catalogue.items)}
    if groups is None:
        verdicts = [ItemVerdict(item, item.evaluate(attrs)) for item in catalogue.items]
    else:
        verdicts = [iv for group in groups for dept in group.departments for iv in dept.items]
    open_ = [iv for iv in verdicts if iv.verdict.status is not Eligibility.NOT_ELIGIBLE]
    likely = [iv for iv in open_ if iv.item.likely_for(attrs)]
    others = [iv for iv in open_ if not iv.item.likely_for(attrs)]
    likely.sort(key=lambda iv: (iv.item.likely_rank, _STATUS_ORDER[iv.verdict.status], order[iv.item.code]))
    others.sort(key=lambda iv: (_STATUS_ORDER[iv.verdict.status], order[iv.item.code]))
    return Ranked(tuple(likely), tuple(others))
