"""The demo behind ``callcodes demo``: a sample group and the decision for representative calls."""

from __future__ import annotations

from collections.abc import Callable

import callcodes as cc


def run(echo: Callable[[str], None] = print) -> None:
    """Build a sample group in memory and print the decision for a handful of calls."""
    book = cc.CodeBook()
    book.set_group(
        "acme",
        cc.GroupSettings(
            mode=cc.Mode.AUTHORIZATION,
            code_length=4,
            allow_local_and_toll_free=True,
            mandatory_users=frozenset({"alice"}),
            optional_users=frozenset({"bob"}),
        ),
    )
    book.add_codes("acme", [cc.CodeEntry("1234", "Sales"), cc.CodeEntry("0042", "Support")])
    calls = [
        ("alice", "011442071234567", cc.CallType.INTERNATIONAL, "1234"),
        ("alice", "011442071234567", cc.CallType.INTERNATIONAL, "9999"),
        ("alice", "911", cc.CallType.EMERGENCY, None),
        ("alice", "5551234", cc.CallType.LOCAL, None),
        ("bob", "18005551234", cc.CallType.TOLL_FREE, None),
        ("bob", "12125551234", cc.CallType.NATIONAL, None),
        ("carol", "12125551234", cc.CallType.NATIONAL, None),
    ]
    for user, dialed, call_type, code in calls:
        call = cc.Call("acme", user, dialed, call_type)
        decision = cc.decide(book, call, code)
        echo(
            f"{user:6} {dialed:16} {call_type:14} code={code or '-':5} -> "
            f"{decision.verdict.value} ({decision.reason.value})"
        )
