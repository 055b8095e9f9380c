"""The demo behind ``callcodes demo``: two sample groups, representative calls, and a report.

Everything stays in memory: nothing is written to disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import callcodes as cc

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _ticking_clock() -> Callable[[], datetime]:
    """A clock that moves one minute per decision, so the demo prints the same every time."""
    ticks: Iterator[int] = iter(range(1_000_000))
    return lambda: START + timedelta(minutes=next(ticks))


def sample_book() -> cc.CodeBook:
    """Acme uses authorization codes; Globex tracks calls with account codes."""
    book = cc.CodeBook()
    book.set_group(
        "acme",
        cc.GroupSettings(
            mode=cc.Mode.AUTHORIZATION,
            allow_local_and_toll_free=True,
            mandatory_users=frozenset({"alice"}),
            optional_users=frozenset({"bob"}),
        ),
    )
    book.add_codes("acme", [cc.CodeEntry("1234", "Sales"), cc.CodeEntry("0042", "Support")])
    book.set_group(
        "globex",
        cc.GroupSettings(mode=cc.Mode.ACCOUNT, code_length=6, mandatory_users=frozenset({"hank"})),
    )
    book.add_codes("globex", [cc.CodeEntry("100200", "Client: Initech")])
    return book


CALLS = [
    ("acme", "alice", "011442071234567", cc.CallType.INTERNATIONAL, "1234"),
    ("acme", "alice", "011442071234567", cc.CallType.INTERNATIONAL, "9999"),
    ("acme", "alice", "911", cc.CallType.EMERGENCY, None),
    ("acme", "alice", "5551234", cc.CallType.LOCAL, None),
    ("acme", "bob", "12125551234", cc.CallType.NATIONAL, None),
    ("acme", "carol", "12125551234", cc.CallType.NATIONAL, None),
    ("globex", "hank", "12125550000", cc.CallType.NATIONAL, "100200"),
    ("globex", "hank", "12125550001", cc.CallType.NATIONAL, "777777"),
    ("globex", "hank", "12125550002", cc.CallType.NATIONAL, None),
]


def calls() -> list[dict[str, str | None]]:
    """The sample calls and their decisions, as JSON for scripts (code null when none)."""
    engine = cc.Engine(sample_book(), cc.MemorySink(), clock=_ticking_clock())
    found: list[dict[str, str | None]] = []
    for number, (group, user, dialed, call_type, code) in enumerate(CALLS, 1):
        decision = engine.decide(cc.Call(group, user, dialed, call_type, f"demo-{number}"), code)
        found.append(
            {
                "group": group,
                "user": user,
                "dialed": dialed,
                "call_type": call_type.value,
                "code": code or None,
                "verdict": decision.verdict.value,
                "reason": decision.reason.value,
            }
        )
    return found


def run(echo: Callable[[str], None] = print) -> None:
    """Decide the sample calls through an Engine, then print the per-account-code report."""
    sink = cc.MemorySink()
    engine = cc.Engine(sample_book(), sink, clock=_ticking_clock())
    echo("group   user   dialed           type           code     verdict   reason")
    for number, (group, user, dialed, call_type, code) in enumerate(CALLS, 1):
        decision = engine.decide(cc.Call(group, user, dialed, call_type, f"demo-{number}"), code)
        echo(
            f"{group:7} {user:6} {dialed:16} {call_type.value:14} {code or '-':8} "
            f"{decision.verdict.value:9} {decision.reason.value}"
        )
    echo("")
    echo("globex calls per account code (recorded in the event log):")
    for row in cc.report_events(sink, "globex", "code"):
        echo(
            f"  {row.key or '(none)':8} calls={row.calls} logged={row.log_only} "
            f"first={row.first:%H:%M} last={row.last:%H:%M}"
        )
