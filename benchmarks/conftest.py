"""Shared benchmark helpers: books of any size built once, keys to look up, and ratio reports.

Each benchmark round looks up a whole batch of keys (``per_round`` in ``extra_info``), so the
loop's own cost is shared; ``report.py`` divides by it to give the cost of one lookup.
"""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

import callcodes as cc

KEYS_PER_ROUND = 100_000  # enough random keys that lookups at large sizes miss the CPU caches
BATCH = 1000  # keys per round for the smaller, cache-resident benchmarks


def random_codes(count: int, length: int, seed: int = 7) -> list[str]:
    """*count* distinct random codes of *length* digits, reproducibly, in code order."""
    rng = random.Random(seed)
    found: set[str] = set()
    while len(found) < count:
        found.add(f"{rng.randrange(10**length):0{length}d}")
    return sorted(found)


def settings(mode: cc.Mode = cc.Mode.AUTHORIZATION, length: int = 8) -> cc.GroupSettings:
    return cc.GroupSettings(
        mode=mode,
        code_length=length,
        mandatory_users=frozenset({"alice"}),
        allow_local_and_toll_free=True,
    )


def build_book(codes: list[str], mode: cc.Mode = cc.Mode.AUTHORIZATION) -> cc.CodeBook:
    """A book whose group "acme" holds *codes* and enrols user "alice" as mandatory."""
    book = cc.CodeBook()
    book.replace_group("acme", settings(mode, len(codes[0])), codes)
    return book


def measured_book(codes: list[str]) -> tuple[cc.CodeBook, float]:
    """Build a book and return it with the bytes it holds per code (tracemalloc)."""
    tracemalloc.start()
    try:
        book = build_book(codes)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return book, held / len(codes)


def lookup_keys(codes: list[str], seed: int = 11) -> list[str]:
    """The keys each round looks up: a random sample of the codes, at most KEYS_PER_ROUND."""
    rng = random.Random(seed)
    if len(codes) >= KEYS_PER_ROUND:
        return rng.sample(codes, KEYS_PER_ROUND)
    return [rng.choice(codes) for _ in range(KEYS_PER_ROUND)]


def loop(function: Callable[[str], object], keys: list[str]) -> Callable[[], None]:
    """One benchmark round: call *function* on every key."""

    def run() -> None:
        for key in keys:
            function(key)

    return run


def run_rounds(benchmark: object, run: Callable[[], None], per_round: int, **info: object) -> None:
    """Time *run* over a few rounds and record how many operations each round holds."""
    benchmark.extra_info.update(per_round=per_round, **info)  # type: ignore[attr-defined]
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)  # type: ignore[attr-defined]


class Ratios:
    """Per-operation medians of this run, printed beside their references at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.medians: dict[str, float] = {}

    def record(self, name: str, benchmark: object, per_round: int = BATCH) -> float:
        """Remember a finished benchmark's median per operation under *name*."""
        stats = benchmark.stats.stats  # type: ignore[attr-defined]
        benchmark.extra_info.setdefault("per_round", per_round)  # type: ignore[attr-defined]
        self.medians[name] = float(stats.median) / per_round
        return self.medians[name]

    def report(self, name: str, reference: str) -> str:
        """Add and return the line comparing two recorded medians."""
        mine, floor = self.medians[name], self.medians[reference]
        line = (
            f"{name}: {mine * 1e9:.0f} ns; {reference}: {floor * 1e9:.0f} ns; "
            f"ratio {mine / floor:.2f}"
        )
        self.lines.append(line)
        return line

    def add(self, benchmark: object, reference: object) -> float:
        """Record the ratio of two finished benchmarks' per-operation medians."""
        mine, floor = per_op(benchmark), per_op(reference)
        name = benchmark.name  # type: ignore[attr-defined]
        other = reference.name  # type: ignore[attr-defined]
        self.lines.append(
            f"{name}: {mine * 1e9:.0f} ns; {other}: {floor * 1e9:.0f} ns; ratio {mine / floor:.2f}"
        )
        return mine / floor


def per_op(benchmark: object) -> float:
    stats = benchmark.stats.stats  # type: ignore[attr-defined]
    return float(stats.median) / benchmark.extra_info["per_round"]  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def ratios() -> Iterator[Ratios]:
    collected = Ratios()
    yield collected
    print("\nRatios (median per operation):")
    for line in collected.lines:
        print(f"  {line}")
