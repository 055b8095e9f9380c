"""Spreadsheet-safe cells: text a spreadsheet would run as a formula is written behind a ``'``.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
spreadsheets as a formula (CSV injection). Every export writes such a cell behind a ``'``; files
that callcodes reads back (code lists) take the ``'`` off again, so a description survives a
round trip unchanged.
"""

from __future__ import annotations

from typing import Final

__all__ = ["FORMULA_STARTS", "cell", "quote", "unquote"]

#: The first characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
_QUOTED_STARTS: Final = ("'", *FORMULA_STARTS)


def quote(text: str) -> str:
    """*text* made safe: a ``'`` before a formula, or before text that already starts so.

    ``unquote(quote(t)) == t`` for every *t*.
    """
    if text.startswith(FORMULA_STARTS) or (text.startswith("'") and text[1:2] in _QUOTED_STARTS):
        return "'" + text
    return text


def unquote(text: str) -> str:
    """The text that :func:`quote` made *text* from."""
    if text.startswith("'") and text[1:2] in _QUOTED_STARTS:
        return text[1:]
    return text


def cell(value: object) -> str:
    """A value as a safe CSV cell: ``""`` for None, ``true``/``false``, else its text, quoted."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return quote(str(value))
