"""Realistic traffic for bench_kamailio.py: many groups, many destinations, some wrong codes.

Deterministic (seeded). 1,000 groups, each chosen by the caller's SIP domain (the group is
named by the domain), with 100 six-digit authorization codes and 10 users who must enter one.
Destinations are drawn from 100,000 valid numbers (80,000 in the US, dialed nationally after
the outside prefix; 20,000 in 30 other countries, dialed with 011) with a Zipf law of exponent
1: a few numbers are dialed often, most rarely, as in real call records. Each call is, at
random: internal (10 %, an extension, no code), emergency (2 %, 911, no code), an outside call
with a wrong code (10 %: refused with 403), or an outside call with a valid code (78 %). The
calls go to sipp as an injection file (``kamailio_caller_traffic.xml``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import phonenumbers

import callcodes as cc
from callcodes.store import PolicyStore

GROUPS = 1_000
CODES_PER_GROUP = 100
USERS = tuple(str(n) for n in range(2001, 2011))
DESTINATIONS = 100_000
US_SHARE = 0.8
INTERNAL, EMERGENCY, WRONG = 0.10, 0.02, 0.10
# The 30 countries of the international destinations.
COUNTRIES = (
    *("GB", "DE", "FR", "IT", "ES", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "PL", "PT", "IE"),
    *("MX", "BR", "AR", "CO", "CL", "IN", "CN", "JP", "KR", "PH", "AU", "NZ", "ZA", "NG", "EG"),
)
DIAL_PLAN = 'region = "US"\nextensions = ["1000-1999"]\noutside_prefix = "9"\n'
PREFIX = "*71"


def domain(group: int) -> str:
    return f"g{group:04d}.example"


def group_codes(group: int) -> list[str]:
    return sorted(
        random.Random(f"codes {group}").sample(range(100_000, 1_000_000), CODES_PER_GROUP)
    )


def make_store(path: Path) -> None:
    """The policy: every group in authorization mode, its codes and its users."""
    with PolicyStore(path) as store:
        for group in range(GROUPS):
            name = domain(group)
            store.set_group(
                name,
                cc.GroupSettings(
                    mode=cc.Mode.AUTHORIZATION,
                    code_length=6,
                    mandatory_users=frozenset(USERS),
                    allow_local_and_toll_free=True,
                ),
                actor="bench",
            )
            store.add_codes(name, [str(code) for code in group_codes(group)], actor="bench")


def _valid(region: str, national: str) -> bool:
    try:
        number = phonenumbers.parse(national, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number_for_region(number, region)


def destinations(rng: random.Random) -> list[str]:
    """100,000 distinct dial strings after the outside prefix, most frequent first."""
    found: dict[str, None] = {}
    us = int(DESTINATIONS * US_SHARE)
    while len(found) < us:
        national = f"{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        if _valid("US", national):
            found["1" + national if rng.random() < 0.5 else national] = None
    samples = {
        region: [
            phonenumbers.national_significant_number(example)
            for kind in (
                phonenumbers.PhoneNumberType.FIXED_LINE,
                phonenumbers.PhoneNumberType.MOBILE,
            )
            if (example := phonenumbers.example_number_for_type(region, kind)) is not None
        ]
        for region in COUNTRIES
    }
    while len(found) < DESTINATIONS:
        region = rng.choice(COUNTRIES)
        base = rng.choice(samples[region])
        national = base[:-4] + f"{rng.randint(0, 9999):04d}"
        if _valid(region, national):
            code = phonenumbers.country_code_for_region(region)
            found[f"011{code}{national}"] = None
    ranked = list(found)
    rng.shuffle(ranked)  # US and international numbers mixed among the ranks
    return ranked


@dataclass(frozen=True)
class Calls:
    """An injection file and what the callcodes route must decide for it."""

    path: Path
    calls: int
    blocked: int  # wrong codes: 403, and a "block" event each
    emergency: int
    internal: int


def write_calls(path: Path, calls: int, seed: int = 1) -> Calls:
    """*calls* rows ``user;domain;dial string`` for sipp's ``-inf`` (read in order)."""
    rng = random.Random(seed)
    numbers = destinations(rng)
    weights = [1 / rank for rank in range(1, len(numbers) + 1)]
    drawn = rng.choices(numbers, weights=weights, k=calls)
    codes = {group: group_codes(group) for group in range(GROUPS)}
    blocked = emergency = internal = 0
    lines = ["SEQUENTIAL"]
    for number in drawn:
        group = rng.randrange(GROUPS)
        user = rng.choice(USERS)
        kind = rng.random()
        if kind < INTERNAL:
            dialed, internal = f"1{rng.randint(0, 999):03d}", internal + 1
        elif kind < INTERNAL + EMERGENCY:
            dialed, emergency = rng.choice(("911", "9911")), emergency + 1
        elif kind < INTERNAL + EMERGENCY + WRONG:
            listed = set(codes[group])
            wrong = next(
                c for c in iter(lambda: rng.randint(100_000, 999_999), None) if c not in listed
            )
            dialed, blocked = f"{PREFIX}{wrong}9{number}", blocked + 1
        else:
            dialed = f"{PREFIX}{rng.choice(codes[group])}9{number}"
        lines.append(f"{user};{domain(group)};{dialed}")
    path.write_text("\n".join(lines) + "\n")
    return Calls(path, calls, blocked, emergency, internal)
