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

Beyond guessing, two attackers with a valid way in, run through the real ``Engine`` (with its
use counter) on the same kind of clock, over a weekend from Friday 20:00 to Monday 08:00 in the
group's zone (Europe/Paris), each line placing back-to-back international calls of
``CALL_MINUTES`` and trying again a minute after a refusal:

* ``stolen code``: a valid code leaked to strangers who call from ``FRAUD_LINES`` lines of the
  group (hijacked phones), one after the other user;
* ``forwarding``: a user forwards their line to an international number and the attacker dials
  the user's number from ``FRAUD_LINES`` outside lines; each call is the user's redirected leg.

For each, the minutes of fraudulent international calling before the weekend ends, under the
defaults and under each protection, beside the bound the protection states.

Run ``python benchmarks/bruteforce.py`` to print the tables, ``--write FILE`` to update them in
place between the ``bruteforce`` and ``fraud`` markers of a Markdown file, ``--check FILE`` to
fail when the file's tables are stale.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs

import callcodes as cc

START = datetime(2026, 1, 1, tzinfo=UTC)
ENTRY_SECONDS = 5.0
VALID_CODES = 20
MEASURE_HOURS = 24
SEEDS = 40
SIMULATE_UP_TO = 4
BEGIN, END = "<!-- bruteforce:begin -->", "<!-- bruteforce:end -->"
FRAUD_BEGIN, FRAUD_END = "<!-- fraud:begin -->", "<!-- fraud:end -->"


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


# -- beyond guessing: a stolen code, call forwarding ---------------------------------------------

PARIS = ZoneInfo("Europe/Paris")
#: Friday 2 January 2026, 20:00 in Paris, to Monday 5 January, 08:00: a weekend nobody watches.
WEEKEND_START = datetime(2026, 1, 2, 20, 0, tzinfo=PARIS).astimezone(UTC)
WEEKEND_END = datetime(2026, 1, 5, 8, 0, tzinfo=PARIS).astimezone(UTC)
CALL_MINUTES = 10
RETRY = timedelta(minutes=1)
FRAUD_LINES = 5
OFFICE_HOURS = "mon-fri 08:00-18:00"


@attrs.frozen
class Protection:
    """One way a group is set up against the attacker, and the bound on fraud it states."""

    name: str
    settings: dict[str, object]
    bound: str
    bound_minutes: float | None  # None: no bound below the whole weekend
    redirected: bool = True  # forwarding: whether the softswitch marks the leg redirected


def _bound(calls: int, windows: int = 1) -> float:
    return float(calls * windows * CALL_MINUTES)


_WINDOWS = math.ceil((WEEKEND_END - WEEKEND_START) / timedelta(hours=1)) + 1
STOLEN = (
    Protection("defaults (no limits)", {}, "none", None),
    Protection(
        "international only in office hours",
        {"hours": {cc.CallType.INTERNATIONAL: OFFICE_HOURS}},
        "no call outside the hours",
        0.0,
    ),
    Protection(
        "5 international calls per code per hour",
        {"limits": cc.Limits(costly_per_code=5)},
        "5 calls an hour",
        _bound(5, _WINDOWS),
    ),
    Protection(
        "5 international calls per code per hour, suspend",
        {"limits": cc.Limits(costly_per_code=5, suspend=True)},
        "5 calls, then suspended",
        _bound(5),
    ),
    Protection(
        "2 users per code per day, suspend",
        {"limits": cc.Limits(users_per_code=2, window=timedelta(days=1), suspend=True)},
        "2 users' calls, then suspended",
        _bound(2),
    ),
    Protection(
        "1 call of a code at a time",
        {"limits": cc.Limits(concurrent_per_code=1)},
        "1 line at a time",
        (WEEKEND_END - WEEKEND_START) / timedelta(minutes=1),
    ),
)
FORWARDING = (
    Protection(
        "call not marked redirected (before)",
        {},
        "none: the outside caller is not enrolled",
        None,
        redirected=False,
    ),
    Protection("redirect block (the default)", {"redirect": cc.Redirect.BLOCK}, "no call", 0.0),
    Protection("redirect exempt_only", {"redirect": cc.Redirect.EXEMPT_ONLY}, "no coded call", 0.0),
    Protection(
        "redirect allow, office hours",
        {"redirect": cc.Redirect.ALLOW, "hours": {cc.CallType.INTERNATIONAL: OFFICE_HOURS}},
        "no call outside the hours",
        0.0,
    ),
    Protection(
        "redirect allow, 3 international calls per user per hour",
        {"redirect": cc.Redirect.ALLOW, "limits": cc.Limits(costly_per_user=3)},
        "3 calls an hour",
        _bound(3, _WINDOWS),
    ),
)


@attrs.frozen
class Fraud:
    """What one attacker got through over the weekend."""

    minutes: float
    calls: int
    refusals: int
    first_refusal: str  # the reason of the first refusal, or "none"


def fraud_run(protection: Protection, *, forwarding: bool) -> Fraud:
    """Run one attacker against a group set up with *protection*, through the real engine."""
    settings = cc.GroupSettings(
        mode=cc.Mode.AUTHORIZATION,
        code_length=8,
        mandatory_users=frozenset({"owner", *(f"line{i}" for i in range(FRAUD_LINES))}),
        time_zone=PARIS,
        **protection.settings,  # type: ignore[arg-type]
    )
    book = cc.CodeBook()
    book.set_group("victim", settings)
    book.add_codes("victim", ["48151623"])
    clock = [WEEKEND_START]
    engine = cc.Engine(book, clock=lambda: clock[0])
    marked = forwarding and protection.redirected
    pending = [(WEEKEND_START, line) for line in range(FRAUD_LINES)]
    ending: list[tuple[datetime, str]] = []
    minutes = calls = refusals = 0
    first = "none"
    serial = 0
    while pending:
        at, line = heapq.heappop(pending)
        if at >= WEEKEND_END:
            continue
        while ending and ending[0][0] <= at:  # calls that ended free their code
            engine.end("victim", heapq.heappop(ending)[1])
        clock[0] = at
        serial += 1
        call_id = f"c{serial}"
        if forwarding:  # the owner's redirected leg; before: an outside caller, not enrolled
            user = "owner" if marked else f"+4420794609{line:02}"
            call = cc.Call("victim", user, "0014155550100", "international", call_id,
                           redirected=marked)  # fmt: skip
            decision = engine.decide(call)
        else:
            call = cc.Call("victim", f"line{line}", "0014155550100", "international", call_id)
            decision = engine.decide(call, "48151623")
        if decision.verdict is cc.Verdict.ALLOW:
            ends = at + timedelta(minutes=CALL_MINUTES)
            minutes += CALL_MINUTES
            calls += 1
            heapq.heappush(ending, (ends, call_id))
            heapq.heappush(pending, (ends, line))
        else:
            refusals += 1
            first = decision.reason.value if first == "none" else first
            heapq.heappush(pending, (at + RETRY, line))
    return Fraud(minutes, calls, refusals, first)


def fraud_tables() -> str:
    """The Markdown tables of the stolen-code and forwarding attackers."""
    hours = (WEEKEND_END - WEEKEND_START) / timedelta(hours=1)
    out = [
        f"A weekend of {hours:.0f} hours (Friday 20:00 to Monday 08:00, Europe/Paris),"
        f" {FRAUD_LINES} lines, international calls of {CALL_MINUTES} minutes back to back, a"
        " new try a minute after each refusal:",
        "",
    ]
    for title, protections, forwarding in (
        ("stolen code", STOLEN, False),
        ("forwarding", FORWARDING, True),
    ):
        out += [
            f"| {title}: protection | fraudulent minutes | calls | refusals | first refusal"
            " | stated bound |",
            "|---|---:|---:|---:|---|---|",
        ]
        for protection in protections:
            got = fraud_run(protection, forwarding=forwarding)
            if protection.bound_minutes is not None and got.minutes > protection.bound_minutes:
                raise AssertionError(f"{title}, {protection.name}: over its bound: {got}")
            out.append(
                f"| {protection.name} | {got.minutes:,.0f} | {got.calls:,} | {got.refusals:,}"
                f" | {got.first_refusal} | {protection.bound} |"
            )
        out.append("")
    return "\n".join(out)


def _replace(text: str, body: str, begin_mark: str = BEGIN, end_mark: str = END) -> str:
    head, begin, rest = text.partition(begin_mark)
    _, end, tail = rest.partition(end_mark)
    if not begin or not end:
        raise SystemExit(f"the file has no {begin_mark} ... {end_mark} section to fill")
    return f"{head}{begin_mark}\n{body}{end_mark}{tail}"


def _filled(text: str) -> str:
    """*text* with both sections filled: the guessing tables and the fraud tables."""
    text = _replace(text, tables())
    return _replace(text, fraud_tables(), FRAUD_BEGIN, FRAUD_END)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, help="update the tables in this Markdown file")
    group.add_argument("--check", type=Path, help="exit 1 if this file's tables are stale")
    args = parser.parse_args(argv)
    if args.write is not None:
        text = args.write.read_text(encoding="utf-8")
        args.write.write_text(_filled(text), encoding="utf-8")
    elif args.check is not None:
        text = args.check.read_text(encoding="utf-8")
        if _filled(text) != text:
            print(f"{args.check}: the brute-force tables are stale; rerun with --write")
            return 1
    else:
        sys.stdout.write(tables() + "\n" + fraud_tables())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
