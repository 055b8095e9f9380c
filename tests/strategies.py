"""Hypothesis strategies for callcodes values, in one place for every test module."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import attrs
from hypothesis import strategies as st

import callcodes as cc
from callcodes._timefmt import zone
from callcodes.core.hours import DAYS

USERS = ("alice", "bob", "carol", "dave", "erin")
GROUPS = ("acme", "globex", "initech")
NON_ASCII_DIGITS = "١٢٣٤٥٦٧٨٩٠０１２３４５６７８９۰۱۲۳۴߀०१২৩੪૫୬௭౮೯൦๑໒༣၄႕១᠒᥆᧑"

modes = st.sampled_from(cc.Mode)
call_types = st.sampled_from(cc.CallType)
code_lengths = st.integers(2, 14)
# hypothesis takes naive bounds and attaches the timezone itself.
aware_times = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=datetime(2035, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def codes_of(length: int) -> st.SearchStrategy[str]:
    """Well-formed codes of exactly *length* ASCII digits."""
    return st.text(alphabet="0123456789", min_size=length, max_size=length)


descriptions = st.none() | st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
    max_size=80,
)


@st.composite
def entries(draw: st.DrawFn, length: int, *, limits: bool = False) -> cc.CodeEntry:
    """A code entry of *length* digits; with *limits*, sometimes a level, window, use limit and
    hours."""
    code = draw(codes_of(length))
    if not limits:
        return cc.CodeEntry(code, draw(descriptions))
    start = draw(st.none() | aware_times)
    span = draw(
        st.none() | st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=400))
    )
    until = None if span is None else (start or datetime(2027, 1, 1, tzinfo=UTC)) + span
    return cc.CodeEntry(
        code,
        draw(descriptions),
        level=draw(st.integers(0, 255)),
        valid_from=start,
        valid_until=until,
        max_uses=draw(st.none() | st.integers(1, 5)),
        hours=draw(st.none() | st.none() | hours_texts),
    )


@st.composite
def settings(draw: st.DrawFn, mode: cc.Mode | None = None) -> cc.GroupSettings:
    """Group settings; users are split between the mandatory and optional lists at random."""
    placement = draw(
        st.lists(
            st.sampled_from(("mandatory", "optional", "none")),
            min_size=len(USERS),
            max_size=len(USERS),
        )
    )
    return cc.GroupSettings(
        mode=draw(modes) if mode is None else mode,
        code_length=draw(st.integers(2, 6)),
        allow_local_and_toll_free=draw(st.booleans()),
        mandatory_users=frozenset(
            u for u, p in zip(USERS, placement, strict=True) if p == "mandatory"
        ),
        optional_users=frozenset(
            u for u, p in zip(USERS, placement, strict=True) if p == "optional"
        ),
        max_attempts=draw(st.integers(1, 10)),
        min_levels=draw(
            st.dictionaries(
                call_types.filter(lambda t: t not in (cc.CallType.EMERGENCY, cc.CallType.INTERNAL)),
                st.integers(0, 255),
                max_size=3,
            )
        ),
    )


@st.composite
def books(draw: st.DrawFn, mode: cc.Mode | None = None, *, limits: bool = False) -> cc.CodeBook:
    """A book with one to three groups, each with settings and up to 30 codes."""
    book = cc.CodeBook()
    for group in draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=3, unique=True)):
        group_settings = draw(settings(mode))
        book.set_group(group, group_settings)
        found = draw(
            st.lists(
                entries(group_settings.code_length, limits=limits),
                max_size=30,
                unique_by=lambda e: e.code,
            )
        )
        book.add_codes(group, found)
    return book


dialed_strings = st.text(alphabet="0123456789*#+", max_size=20)
calls = st.builds(
    cc.Call,
    group=st.sampled_from((*GROUPS, "unknown-group")),
    user=st.sampled_from((*USERS, "mallory")),
    dialed=dialed_strings,
    call_type=call_types,
    call_id=st.none()
    | st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12),
)


@st.composite
def judged_calls(
    draw: st.DrawFn, mode: cc.Mode | None = None, *, limits: bool = False
) -> tuple[cc.CodeBook, cc.Call]:
    """A book and a call whose code is judged: no rule from 1 to 6 lets it through unasked.

    The call's group is in *mode* (ACCOUNT or AUTHORIZATION, drawn when not given) and holds at
    least one code and no lock; the caller is on one of its lists; the call type is one the group
    codes, often one with a minimum code level.
    """
    if mode is None:
        mode = draw(st.sampled_from((cc.Mode.ACCOUNT, cc.Mode.AUTHORIZATION)))
    book = draw(books(mode, limits=limits))
    group = draw(st.sampled_from(book.groups()))
    policy = book.group(group)
    if not book.count(group):
        book.add_codes(group, [draw(entries(policy.code_length, limits=limits))])
    user = draw(st.sampled_from(USERS))
    if user not in policy.mandatory_users | policy.optional_users:
        policy = attrs.evolve(policy, mandatory_users=policy.mandatory_users | {user})
        book.set_group(group, policy)
    coded = [t for t in cc.CallType if policy.needs_code(t)]
    kinds = st.sampled_from(coded)
    if levelled := [t for t in coded if t in policy.min_levels]:
        kinds |= st.sampled_from(levelled)  # often a type that wants a minimum code level
    return book, cc.Call(group, user, draw(dialed_strings), draw(kinds))


@st.composite
def calls_to_books(
    draw: st.DrawFn, mode: cc.Mode | None = None, *, limits: bool = False
) -> tuple[cc.CodeBook, cc.Call]:
    """A book and a call to one of its groups, from anyone (enrolled or not), of any type."""
    book = draw(books(mode, limits=limits))
    group = draw(st.sampled_from(book.groups()))
    user = draw(st.sampled_from((*USERS, "mallory")))
    return book, cc.Call(group, user, draw(dialed_strings), draw(call_types))


def cases(
    mode: cc.Mode | None = None, *, limits: bool = False
) -> st.SearchStrategy[tuple[cc.CodeBook, cc.Call]]:
    """A book and a call: any call, a call to one of its groups, or a call whose code is judged."""
    judged = judged_calls(mode, limits=limits) if mode is not cc.Mode.DEACTIVATED else st.nothing()
    return (
        st.tuples(books(mode, limits=limits), calls) | calls_to_books(mode, limits=limits) | judged
    )


# What a caller may key in or a softswitch may pass: nothing, well-formed digits of any length,
# digits with non-ASCII look-alikes, signs, spaces.
entered_codes = (
    st.none()
    | st.text(alphabet="0123456789", max_size=15)
    | st.text(alphabet="0123456789 +-#*" + NON_ASCII_DIGITS, max_size=15)
)


def lockout_settings(
    user_attempts: int, group_attempts: int, spans: st.SearchStrategy[timedelta]
) -> st.SearchStrategy[cc.Lockout]:
    """Lockouts with thresholds from 1 to the given ones, windows and timed locks from *spans*."""
    return st.builds(
        cc.Lockout,
        user_attempts=st.integers(1, user_attempts),
        user_window=spans,
        group_attempts=st.integers(1, group_attempts),
        group_window=spans,
        lock_for=st.none() | spans,
    )


# Toll-fraud settings an attacker walking a code space of 100 codes reaches: thresholds up to 20
# (60 for the group), windows from a second to a day, timed or manual locks.
lockouts = lockout_settings(
    20, 60, st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=1))
)

# What a caller's keypad and the softswitch's timer send a digit collector.
key_events: st.SearchStrategy[cc.Key | cc.Timeout] = st.sampled_from(
    [cc.Key(k) for k in "0123456789*#"]
) | st.just(cc.Timeout())

# Feature access codes a group may use to enter a code inline.
code_prefixes = st.sampled_from(["*71", "#71", "*", "*99#", "**12345"])

# Dial plans: a handful of well-known countries, and any region with a known emergency number.
DIAL_REGIONS = ("US", "CA", "GB", "DE", "FR", "AU", "NZ")
dial_regions = st.sampled_from(DIAL_REGIONS) | st.sampled_from(
    sorted(region for region, numbers in cc.EMERGENCY_NUMBERS.items() if numbers)
)
outside_prefixes = st.none() | st.sampled_from(("9", "0", "8", "99")) | codes_of(1)
# Override values: any call type but EMERGENCY (an override may not make calls EMERGENCY).
override_types = st.sampled_from(sorted(set(cc.CallType) - {cc.CallType.EMERGENCY}))
override_keys = st.one_of(
    st.text(alphabet="0123456789*#", min_size=1, max_size=6),
    st.builds(lambda d: f"{d}$", st.text(alphabet="0123456789", min_size=1, max_size=6)),
    st.builds(lambda d: f"+{d}", st.text(alphabet="0123456789", min_size=1, max_size=6)),
)


@st.composite
def extensions_avoiding(draw: st.DrawFn, prefix: str | None) -> list[str]:
    """Extensions and ranges of 2 to 6 digits, none starting with the outside-line *prefix*."""
    firsts = [d for d in "0123456789" if prefix is None or d != prefix[0]]
    found = []
    for _ in range(draw(st.integers(0, 4))):
        first = draw(st.sampled_from(firsts))
        length = draw(st.integers(1, 5))
        low, high = sorted(draw(st.lists(codes_of(length), min_size=2, max_size=2)))
        found.append(first + low if low == high else f"{first}{low}-{first}{high}")
    return found


@st.composite
def dial_plans(draw: st.DrawFn, *, overrides: bool = True) -> cc.DialPlan:
    """A valid dial plan: region, outside prefix, extensions, a few overrides (if asked)."""
    prefix = draw(outside_prefixes)
    return cc.DialPlan(
        draw(dial_regions),
        extensions=draw(extensions_avoiding(prefix)),
        outside_prefix=prefix,
        extra_emergency=draw(st.lists(codes_of(4), max_size=2)),
        local_prefixes=draw(st.lists(st.text(alphabet="123456789", min_size=1, max_size=3))),
        overrides=draw(st.dictionaries(override_keys, override_types, max_size=4))
        if overrides
        else {},
    )


# -- the event log ---------------------------------------------------------------------------------

# Any text a softswitch may pass (no lone surrogates: they are not valid UTF-8 or JSON text).
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
event_groups = st.sampled_from(GROUPS) | st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc")), min_size=1, max_size=12
).filter(lambda g: g == g.strip())
masks = st.integers(1, 32).map(lambda n: "*" * n)


@st.composite
def events(
    draw: st.DrawFn,
    group: st.SearchStrategy[str] | None = None,
    times: st.SearchStrategy[datetime] | None = None,
) -> cc.Event:
    """A valid event: a code in clear only for account codes, a mask or nothing otherwise."""
    reason = draw(st.sampled_from(cc.Reason))
    code = None
    if reason is cc.Reason.ACCOUNT_CODE:
        code = draw(st.none() | code_lengths.flatmap(codes_of))
    masked = draw(st.none() | masks) if code is None else None
    return cc.Event(
        draw(aware_times if times is None else times),
        draw(event_groups if group is None else group),
        draw(st.sampled_from(USERS) | any_text),
        draw(st.text(alphabet="0123456789*#+", max_size=20) | any_text),
        draw(call_types),
        draw(st.none() | modes),
        draw(st.sampled_from(cc.Verdict)),
        reason,
        attempt=draw(st.integers(1, 10)),
        retry=draw(st.booleans()),
        call_id=draw(st.none() | any_text),
        code=code,
        masked=masked,
        description=draw(descriptions),
    )


# -- policy files and the policy store ------------------------------------------------------------

durations = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=30))
# Any valid lockout, from a microsecond and up to large thresholds: what files and stores keep.
stored_lockouts = lockout_settings(1000, 100_000, durations)
# Descriptions a spreadsheet would run as a formula, or that start with the quote that defuses one.
spreadsheet_descriptions = descriptions | st.sampled_from(
    ["=1+1", "+33 1", "-", "@SUM(A1)", "'", "''", "'=x", "'Tis", "' =x"]
)


# -- toll fraud beyond guessing: hours, zones, use limits, redirected legs -----------------------

#: Zones with and without summer time, east and west, and one off the hour.
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
zones = st.sampled_from(ZONES).map(zone)
day_names = st.sampled_from(DAYS)
minutes = st.integers(0, 24 * 60)


@st.composite
def spans(draw: st.DrawFn) -> str:
    """One span of allowed hours as text: a day or day range, then start-end (maybe overnight)."""
    first, last = draw(day_names), draw(day_names)
    start = draw(st.integers(0, 24 * 60 - 1))
    end = draw(minutes.filter(lambda m: m != start))
    days = first if first == last or draw(st.booleans()) else f"{first}-{last}"
    return f"{days} {start // 60:02}:{start % 60:02}-{end // 60:02}:{end % 60:02}"


hours_texts = st.lists(spans(), min_size=1, max_size=4).map(", ".join)
counts = st.none() | st.integers(1, 5)
limits_values = st.builds(
    cc.Limits,
    window=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=2)),
    calls_per_code=counts,
    users_per_code=counts,
    costly_per_code=counts,
    costly_per_user=counts,
    concurrent_per_code=counts,
    suspend=st.booleans(),
)
coded_types = sorted(cc.OUTSIDE_CALL_TYPES)


@st.composite
def fraud_settings(draw: st.DrawFn, base: cc.GroupSettings) -> cc.GroupSettings:
    """*base* with allowed hours per call type, a zone, use limits and a redirect setting."""
    return attrs.evolve(
        base,
        hours=draw(st.dictionaries(st.sampled_from(coded_types), hours_texts, max_size=3)),
        time_zone=draw(zones),
        limits=draw(limits_values),
        redirect=draw(st.sampled_from(cc.Redirect)),
    )


@st.composite
def full_settings(draw: st.DrawFn) -> cc.GroupSettings:
    """Settings with every field drawn: call types, levels, lockout, code prefix, fraud limits."""
    base = draw(settings())
    return draw(
        fraud_settings(
            attrs.evolve(
                base,
                coded_call_types=draw(
                    st.frozensets(st.sampled_from(sorted(cc.OUTSIDE_CALL_TYPES)))
                ),
                lockout=draw(stored_lockouts),
                code_prefix=draw(st.from_regex(r"\A[*#][0-9*#]{0,7}\Z")),
            )
        )
    )


@st.composite
def group_documents(draw: st.DrawFn) -> tuple[str, cc.GroupSettings, list[cc.CodeEntry]]:
    """A whole group: its name, full settings and up to 20 codes with every field."""
    group_settings = draw(full_settings())
    codes = draw(
        st.lists(
            entries(group_settings.code_length, limits=True),
            max_size=20,
            unique_by=lambda e: e.code,
        )
    )
    return draw(st.sampled_from(GROUPS)), group_settings, codes
