"""Shared benchmark fixtures: large books built once per session, and ratio reporting."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest

import callcodes as cc

BATCH = 1000  # keys per benchmark round, so the loop overhead is shared across many lookups


def random_codes(count: int, length: int, seed: int = 7) -> list[str]:
    """*count* distinct random codes of *length* digits, reproducibly."""
    rng = random.Random(seed)
    found: set[str] = set()
    while len(found) < count:
        found.add(f"{rng.randrange(10**length):0{length}d}")
    return sorted(found)


def authorization_book(count: int, length: int = 8) -> tuple[cc.CodeBook, list[str]]:
    """A book whose group "acme" holds *count* codes and enrols user "alice"."""
    book = cc.CodeBook()
    book.set_group(
        "acme",
        cc.GroupSettings(
            mode=cc.Mode.AUTHORIZATION, code_length=length, mandatory_users=frozenset({"alice"})
        ),
    )
    codes = random_codes(count, length)
    book.add_codes("acme", codes)
    return book, codes


def sample(keys: list[str], seed: int = 11) -> list[str]:
    """A shuffled batch of keys to look up in each round."""
    return random.Random(seed).sample(keys, min(BATCH, len(keys)))


class Ratios:
    """Collects per-lookup medians and prints each figure beside its reference."""

    def __init__(self) -> None:
        self.medians: dict[str, float] = {}

    def record(self, name: str, benchmark: object, per_round: int = BATCH) -> float:
        stats = benchmark.stats.stats  # type: ignore[attr-defined]
        median = stats.median / per_round
        self.medians[name] = median
        return median

    def report(self, name: str, reference: str) -> str:
        value, floor = self.medians[name], self.medians[reference]
        line = (
            f"{name}: {value * 1e9:.0f} ns; {reference}: {floor * 1e9:.0f} ns; "
            f"ratio {value / floor:.2f}"
        )
        print(line)
        return line


@pytest.fixture(scope="session")
def ratios() -> Iterator[Ratios]:
    collected = Ratios()
    yield collected
    for name, value in sorted(collected.medians.items()):
        print(f"  {name:50} {value * 1e9:10.0f} ns per lookup")


def loop(function: Callable[[str], object], keys: list[str]) -> Callable[[], None]:
    """Call *function* on every key of the batch (one benchmark round)."""

    def run() -> None:
        for key in keys:
            function(key)

    return run
