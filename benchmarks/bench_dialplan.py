"""Dial plan classification on a realistic mix of dialed digits, cached and uncached.

The mix is what a US office dials: extensions, local and national calls with and without the
outside-line prefix, toll-free, some international, premium and emergency numbers. The reference
is a bare dict.get on the same strings, in the same run.
"""

from __future__ import annotations

import gc
import random
import time
import tracemalloc

import pytest

import callcodes as cc
from callcodes.dialplan.plan import _Path
from conftest import BATCH, Ratios, loop

AREAS = ("212", "312", "415", "617", "702", "206", "305", "404", "512", "646")


def mix(count: int = BATCH, seed: int = 5) -> list[str]:
    """*count* dialed strings in the proportions of an office's outgoing calls."""
    rng = random.Random(seed)
    kinds = [
        (25, lambda: str(rng.randrange(1000, 2000))),  # extension
        (20, lambda: f"91212555{rng.randrange(10000):04d}"),  # local, outside prefix
        (5, lambda: f"212555{rng.randrange(10000):04d}"),  # local, 10 digits
        (20, lambda: f"91{rng.choice(AREAS)}555{rng.randrange(10000):04d}"),  # national
        (10, lambda: f"91800{rng.randrange(2000000, 10000000)}"),  # toll-free
        (8, lambda: f"9011447946{rng.randrange(1000000):06d}"),  # international (GB mobile)
        (4, lambda: f"901133{rng.randrange(100000000, 200000000)}"),  # international (FR)
        (3, lambda: f"91900{rng.randrange(2000000, 10000000)}"),  # premium
        (3, lambda: rng.choice(("911", "9911", "933"))),  # emergency
        (2, lambda: rng.choice(("411", "0", "*71", "12"))),  # odd ones
    ]
    weights = [weight for weight, _ in kinds]
    makers = [make for _, make in kinds]
    return [rng.choices(makers, weights)[0]() for _ in range(count)]


@pytest.fixture(scope="module")
def office() -> tuple[cc.DialPlan, list[str]]:
    plan = cc.DialPlan(
        "US",
        extensions=["1000-1999"],
        public_numbers=["+12125551000-+12125551099"],
        outside_prefix="9",
        local_prefixes=["212", "646"],
        overrides={"0$": "operator", "411": "directory_assistance"},
    )
    return plan, mix()


def _per_second(name: str, ratios: Ratios) -> None:
    print(f"{name}: {1 / ratios.medians[name]:,.0f} classifications/s")


def test_floor_dict_get(benchmark, office, ratios: Ratios) -> None:
    plan, keys = office
    plain = {key: plan.classify_uncached(key) for key in keys}
    benchmark(loop(plain.get, keys))
    ratios.record("dict.get, dial mix", benchmark)


def test_classify_cached(benchmark, office, ratios: Ratios) -> None:
    plan, keys = office
    for key in keys:  # warm: every string of the mix seen once
        plan.classify(key)
    benchmark(loop(plan.classify, keys))
    ratios.record("classify cached, dial mix", benchmark)
    ratios.report("classify cached, dial mix", "dict.get, dial mix")
    _per_second("classify cached, dial mix", ratios)


def test_classify_uncached(benchmark, office, ratios: Ratios) -> None:
    plan, keys = office
    benchmark.pedantic(loop(plan.classify_uncached, keys), rounds=5, iterations=1)
    ratios.record("classify uncached, dial mix", benchmark)
    ratios.report("classify uncached, dial mix", "dict.get, dial mix")
    _per_second("classify uncached, dial mix", ratios)
    types = {plan.classify(key).call_type for key in keys}
    assert types >= {cc.CallType.INTERNAL, cc.CallType.LOCAL, cc.CallType.INTERNATIONAL}


def distinct_numbers(kind: str, count: int = BATCH, seed: int = 9) -> list[str]:
    """*count* different valid numbers dialed after the outside prefix: nothing repeats."""
    import phonenumbers

    rng = random.Random(seed)
    found: dict[str, None] = {}
    regions = ("GB", "DE", "FR", "IN", "JP", "MX", "BR", "AU")
    while len(found) < count:
        if kind == "national":
            national = f"{rng.choice(AREAS)}{rng.randrange(200, 1000)}{rng.randrange(10000):04d}"
            number, dialed = phonenumbers.parse(national, "US"), f"91{national}"
        else:
            region = rng.choice(regions)
            example = phonenumbers.example_number_for_type(region, rng.choice((0, 1)))
            nsn = phonenumbers.national_significant_number(example)
            nsn = nsn[:-4] + f"{rng.randrange(10000):04d}"
            number = phonenumbers.parse(f"+{example.country_code}{nsn}")
            dialed = f"9011{example.country_code}{nsn}"
        if phonenumbers.is_valid_number(number):
            found[dialed] = None
    return list(found)


@pytest.mark.parametrize("kind", ["national", "international"])
@pytest.mark.parametrize("path", ["compiled tables", "phonenumbers"])
def test_classify_uncached_distinct_numbers(
    benchmark, office, ratios: Ratios, kind: str, path: str
) -> None:
    """Every call a number not seen before, through the compiled tables or phonenumbers alone."""
    plan, _ = office
    keys = distinct_numbers(kind)
    if path == "phonenumbers":

        def classify(dialed: str) -> object:
            return plan._classify(dialed, _Path.REFERENCE)  # the tables switched off

    else:
        classify = plan.classify_uncached
        # Every number is valid: the tables read each one, none is handed to phonenumbers.
        assert all(plan._classify(key, _Path.TABLES) is not None for key in keys)
    rounds = 5 if path == "phonenumbers" else 50
    benchmark.pedantic(loop(classify, keys), rounds=rounds, iterations=1, warmup_rounds=1)
    name = f"classify uncached, distinct {kind} numbers, {path}"
    ratios.record(name, benchmark)
    ratios.report(name, "dict.get, dial mix")


# The regions a US office calls most, and the other common ones: compiled on first use.
COMMON = ("US", "CA", "GB", "DE", "FR", "IT", "ES", "NL", "IN", "AU", "JP", "BR", "MX")


def _compile(regions: tuple[str, ...], *, traced: bool = False) -> float:
    """Compile *regions* afresh: the seconds taken, or the bytes they hold when *traced*."""
    from phonenumbers import PhoneMetadata

    from callcodes.dialplan import _numbertables

    for region in regions:  # phonenumbers' own metadata loading is not the tables' cost
        PhoneMetadata.metadata_for_region(region)
    _numbertables._tables.clear()
    _numbertables._mains.clear()
    _numbertables._code_info.clear()
    gc.collect()
    if traced:
        tracemalloc.start()
    began = time.perf_counter()
    for region in regions:
        _numbertables.table_for(region)
    took = time.perf_counter() - began
    if not traced:
        return took
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return held


def test_compile_region_tables(benchmark) -> None:
    """What compiling costs: one region, the common ones, every region (time and memory)."""
    import phonenumbers

    every = tuple(sorted(phonenumbers.SUPPORTED_REGIONS))
    for name, regions in (
        ("US", ("US",)),
        ("GB", ("GB",)),
        ("DE", ("DE",)),
        (f"{len(COMMON)} common regions", COMMON),
        (f"all {len(every)} regions", every),
    ):
        took, held = _compile(regions), _compile(regions, traced=True)
        print(f"compile {name}: {took * 1e3:.1f} ms, {held / 1024:.0f} KiB")
    benchmark.pedantic(lambda: _compile(("US",)), rounds=5, iterations=1)
    benchmark.extra_info.update(per_round=1)
