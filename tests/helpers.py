"""Helpers for the core tests: one group's book, a call from it, the instant it is judged at."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import callcodes as cc

#: The instant the core tests judge calls at (codes, locks and windows are placed around it).
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
#: The codes an acme book holds unless a test gives its own: one with a description, one not.
LISTED = (cc.CodeEntry("1234", "Sales"), cc.CodeEntry("0042"))


def make_book(
    mode: cc.Mode = cc.Mode.AUTHORIZATION,
    *,
    codes: tuple[cc.CodeEntry | str, ...] | list[cc.CodeEntry | str] = LISTED,
    **settings: Any,
) -> cc.CodeBook:
    """A book with one group, acme, in *mode*: alice must enter a code, bob may.

    The group holds *codes* (1234 'Sales' and 0042 unless given); *settings* replace any other
    group setting, the user lists included.
    """
    options: dict[str, Any] = {
        "mode": mode,
        "mandatory_users": frozenset({"alice"}),
        "optional_users": frozenset({"bob"}),
    }
    options.update(settings)
    book = cc.CodeBook()
    book.set_group("acme", cc.GroupSettings(**options))
    book.add_codes("acme", codes)
    return book


def call(user: str = "alice", call_type: cc.CallType = cc.CallType.NATIONAL) -> cc.Call:
    """A call from *user* of acme to a New York number, of *call_type*."""
    return cc.Call("acme", user, "12125551234", call_type)


def book_state(book: cc.CodeBook) -> dict[str, Any]:
    """A comparable snapshot of a book: settings, entries, use counts and locks of every group."""
    state: dict[str, Any] = {}
    for group in book.groups():
        entries = tuple(book.codes(group, limit=None))
        uses = {e.code: book.uses(group, e.code) for e in entries if book.uses(group, e.code)}
        state[group] = (book.group(group), entries, uses, tuple(book.locks(group)))
    return state
