"""Brute-force simulation: how long guessing an authorization code takes under a lockout policy.

The attack runs against the real core (``CodeBook``, ``decide``, ``settle``, ``FailureTracker``)
on a simulated clock, so the figures are what the library does, not what a formula hopes. Each
entry occupies a line for ``ENTRY_SECONDS`` (prompt, keying, answer). Attackers:

* ``greedy``: guesses as fast as its lines allow and waits out each lock;
* ``paced``: knows the policy and keeps just under the thresholds, so it is never locked.

Step 1 measures each attacker's sustained guess rate over a simulated day against a group where
every guess fails. Step 2 turns rates into the expected time to find one of ``VALID_CODES``
codes, for code lengths 2 to 14 (expected guesses: ``(space + 1) / (valid + 1)``). Step 3 runs
the whole attack until success for short codes, over several random placements of the valid
codes, to check the extrapolation.

Run ``python benchmarks/bruteforce.py`` to print the tables, ``--write FILE`` to update them in
place between the ``bruteforce`` markers of a Markdown file, ``--check FILE`` to fail when the
file's tables are stale.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

import callcodes as cc

START = datetime(2026, 1, 1, tzinfo=UTC)
ENTRY_SECONDS = 5.0
VALID_CODES = 20
MEASURE_HOURS = 24
SEEDS = 40
SIMULATE_UP_TO = 4
BEGIN, END = "<!-- bruteforce:begin -->", "<!-- bruteforce:end -->"


@attrs.frozen
class Attacker:
    """Who attacks: how many lines (one user each), and whether it paces itself."""

    name: str
    users: int
    paced: bool
    lockout: cc.Lockout | None = None  # None: the group's default Lockout()


NO_LOCKOUT = cc.Lockout(
    user_attempts=1000,
    user_window=timedelta(microseconds=1),
    group_attempts=100_000,
    group_window=timedelta(microseconds=1),
)
ATTACKERS = (
    Attacker("no lockout, 1 line", 1, paced=False, lockout=NO_LOCKOUT),
    Attacker("1 user, greedy", 1, paced=False),
    Attacker("1 user, paced", 1, paced=True),
    Attacker("50 users, greedy", 50, paced=False),
    Attacker("50 users, paced", 50, paced=True),
)


@attrs.frozen
class Outcome:
    guesses: int
    seconds: float
    found: bool
    locks: int


def _book(attacker: Attacker, length: int, valid: list[int]) -> cc.CodeBook:
    users = frozenset(f"line{i}" for i in range(attacker.users))
    settings = cc.GroupSettings(
        mode=cc.Mode.AUTHORIZATION,
        code_length=length,
        mandatory_users=users,
        max_attempts=1,
        lockout=attacker.lockout or cc.Lockout(),
    )
    book = cc.CodeBook()
    book.set_group("victim", settings)
    book.add_codes("victim", [f"{n:0{length}}" for n in valid])
    return book


def _pace(times: deque[datetime], limit: int, window: timedelta, at: datetime) -> datetime:
    """The earliest time from *at* when one more failure keeps *times* under *limit*."""
    if len(times) >= limit - 1 and limit > 1:
        return max(at, times[-(limit - 1)] + window)
    return at


def attack(
    attacker: Attacker,
    length: int,
    valid: list[int],
    guesses: Iterator[int],
    until: datetime | None = None,
) -> Outcome:
    """Run one attack on a simulated clock until a code is found, *until*, or guesses run out."""
    book = _book(attacker, length, valid)
    policy = book.group("victim").lockout
    tracker = cc.FailureTracker()
    entry = timedelta(seconds=ENTRY_SECONDS)
    free = [START] * attacker.users  # when each line can start its next entry
    mine: list[deque[datetime]] = [deque() for _ in range(attacker.users)]
    ours: deque[datetime] = deque()
    made = locks = 0
    now = START
    for guess in guesses:
        line = min(range(attacker.users), key=free.__getitem__)
        now = free[line]
        if attacker.paced:
            now = _pace(mine[line], policy.user_attempts, policy.user_window, now)
            now = _pace(ours, policy.group_attempts, policy.group_window, now)
        else:
            held = [
                lock for lock in book.locks("victim", now) if lock.user in (None, f"line{line}")
            ]
            if held:
                ends = [lock.until for lock in held]
                if None in ends:
                    return Outcome(made, float("inf"), found=False, locks=locks)
                now = max(end for end in ends if end is not None)
        if until is not None and now >= until:
            break
        call = cc.Call("victim", f"line{line}", "0114420712345", cc.CallType.INTERNATIONAL)
        decision = cc.decide(book, call, f"{guess:0{length}}", 1, now=now)
        decision, applied = cc.settle(book, tracker, call, decision, attempt=1, now=now)
        made += 1
        locks += len(applied)
        free[line] = now + entry
        if decision.verdict is cc.Verdict.ALLOW:
            return Outcome(made, (now + entry - START).total_seconds(), found=True, locks=locks)
        mine[line].append(now)
        ours.append(now)
        if len(mine[line]) > policy.user_attempts:
            mine[line].popleft()
        if len(ours) > policy.group_attempts:
            ours.popleft()
    return Outcome(made, (now - START).total_seconds(), found=False, locks=locks)


def rate_per_hour(attacker: Attacker) -> tuple[float, int]:
    """Guesses per hour sustained over MEASURE_HOURS against a group where all guesses fail."""
    until = START + timedelta(hours=MEASURE_HOURS)
    outcome = attack(attacker, 8, [], iter(range(10**8)), until=until)
    return outcome.guesses / MEASURE_HOURS, outcome.locks


def expected_guesses(length: int, valid: int = VALID_CODES) -> float:
    """Mean guesses to hit one of *valid* codes walking a space of 10**length without repeats."""
    return (10**length + 1) / (valid + 1)


def human(seconds: float) -> str:
    """A duration in the largest unit that keeps it at least 1."""
    if seconds == float("inf"):
        return "never"
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600), ("min", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
    return f"{seconds:.0f} s"


def simulated_means(attacker: Attacker, length: int) -> tuple[float, float]:
    """Mean guesses and mean time to success over SEEDS random placements of the valid codes."""
    outcomes = []
    for seed in range(SEEDS):
        valid = random.Random(seed).sample(range(10**length), VALID_CODES)
        outcomes.append(attack(attacker, length, valid, iter(range(10**length))))
    return (
        statistics.fmean(o.guesses for o in outcomes),
        statistics.fmean(o.seconds for o in outcomes),
    )


def tables() -> str:
    """The Markdown tables: measured rates, expected times by length, and the check."""
    rates = {a.name: rate_per_hour(a) for a in ATTACKERS}
    out = [
        f"Sustained guess rate over a simulated day ({ENTRY_SECONDS:.0f} s per entry per line,"
        " default `Lockout()` unless stated):",
        "",
        "| attacker | guesses per hour | locks in the day |",
        "|---|---:|---:|",
    ]
    out += [f"| {name} | {rate:,.1f} | {locks} |" for name, (rate, locks) in rates.items()]
    out += [
        "",
        f"Expected time to find one of {VALID_CODES} valid codes (walking the code space"
        " without repeats):",
        "",
        "| digits | code space | expected guesses | " + " | ".join(rates) + " |",
        "|---:|---:|---:|" + "---:|" * len(rates),
    ]
    for length in range(2, 15):
        guesses = expected_guesses(length)
        cells = [human(guesses / rate * 3600) for rate, _ in rates.values()]
        out.append(f"| {length} | 10^{length} | {guesses:,.0f} | " + " | ".join(cells) + " |")
    out += [
        "",
        f"Check: the whole attack run until success, mean over {SEEDS} random placements of the"
        " valid codes, beside the extrapolation above:",
        "",
        "| digits | attacker | guesses made | expected guesses | simulated time | extrapolated |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for length in range(2, SIMULATE_UP_TO + 1):
        for attacker in ATTACKERS:
            made, simulated = simulated_means(attacker, length)
            guesses = expected_guesses(length)
            extrapolated = guesses / rates[attacker.name][0] * 3600
            out.append(
                f"| {length} | {attacker.name} | {made:,.0f} | {guesses:,.0f} "
                f"| {human(simulated)} | {human(extrapolated)} |"
            )
    return "\n".join(out) + "\n"


def _replace(text: str, body: str) -> str:
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise SystemExit(f"the file has no {BEGIN} ... {END} section to fill")
    return f"{head}{BEGIN}\n{body}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, help="update the tables in this Markdown file")
    group.add_argument("--check", type=Path, help="exit 1 if this file's tables are stale")
    args = parser.parse_args(argv)
    body = tables()
    if args.write is not None:
        text = args.write.read_text(encoding="utf-8")
        args.write.write_text(_replace(text, body), encoding="utf-8")
    elif args.check is not None:
        text = args.check.read_text(encoding="utf-8")
        if _replace(text, body) != text:
            print(f"{args.check}: the brute-force tables are stale; rerun with --write")
            return 1
    else:
        sys.stdout.write(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
