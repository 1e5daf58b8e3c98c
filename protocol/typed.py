"""What residents type, made comparable with what was printed or stored: the one place it is read.

A receipt number, a query code and an ID number reach us typed on a phone (its Chinese input gives
full-width ``ＪＷ００１``, ``１２３``), on a kiosk, or pasted from a message (with white space around it, a
zero-width space inside, a line break at the end); people write a lower-case ``x`` and group digits with
spaces or dashes. Every channel — the resident portal, Open311, the kiosk's progress look-up — reads them
through these functions before it validates or looks anything up, so the same keystrokes find the same case
everywhere:

- Unicode NFKC first (full-width letters, digits and dash to ASCII; the ideographic space to a space);
- every dash (Unicode category Pd, and the minus sign NFKC keeps) to ``-``;
- white space and invisible format characters (zero-width space, BOM, direction marks) removed;
- upper-cased where the printed value is upper case (the ID number's check character ``X``, the query code).

Stdlib only: :mod:`protocol.idnumber` and the edge's device layer may use it without pydantic.
"""

from __future__ import annotations

import unicodedata

__all__ = ["fold", "typed_id_number", "typed_query_code", "typed_receipt"]

_DASHES = {"\u2212": "-"}  # the minus sign; NFKC keeps it, as it keeps every dash but the full-width one


def fold(text: str) -> str:
    """``text`` after NFKC, with every dash as ``-`` and no white space or invisible format character."""
    return "".join(
        "-" if unicodedata.category(c) == "Pd" else _DASHES.get(c, c)
        for c in unicodedata.normalize("NFKC", text)
        if not c.isspace() and unicodedata.category(c) != "Cf"
    )


def typed_receipt(text: str) -> tuple[str, str]:
    """A receipt number as a person typed it, made comparable with the one printed (:func:`fold`:
    ``ＪＷ００１－…`` to ``JW001-…``): returned upper-cased (how committee codes are written) and, second,
    with its letters as typed (for a committee code configured in lower case, which the receipt pattern
    allows). The dashes stay: they are part of the number."""
    folded = fold(text)
    return folded.upper(), folded


def typed_query_code(text: str) -> str:
    """A receipt's query code (six of ``0-9A-Z``) as typed: :func:`fold`, dashes dropped, upper-cased."""
    return _compact(text)


def typed_id_number(text: str) -> str:
    """A resident ID number as typed (``３１０１０１ 1990-0307 751x``), ready for
    :func:`protocol.idnumber.validate`: :func:`fold`, the dashes people group digits with dropped (the
    number has none), the check character upper-cased. Nothing is checked here: a wrong number stays wrong."""
    return _compact(text)


def _compact(text: str) -> str:
    """A value with no dash of its own, as typed: :func:`fold`, dashes dropped, upper-cased."""
    return fold(text).replace("-", "").upper()
