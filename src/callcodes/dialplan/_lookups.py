"""The lookups a dial plan precomputes: same-length digit ranges and override prefixes.

One job: answer, in a few dict and set lookups, whether digits are one of a group's extensions
or public numbers (``Ranges``) and which override key matches them (``Prefixes``), with the
cheap tests that turn most numbers away before any loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..core.model import CallType

__all__ = ["Prefixes", "Ranges"]


class Ranges:
    """Exact strings and same-length ranges, for membership tests. O(1) + O(ranges of a length)."""

    __slots__ = ("common", "exact", "lengths", "ranges")

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        exact: set[str] = set()
        ranges: dict[int, list[tuple[str, str]]] = {}
        for start, end in items:
            if start == end:
                exact.add(start)
            else:
                ranges.setdefault(len(start), []).append((start, end))
        self.exact = frozenset(exact)
        self.ranges = {length: tuple(found) for length, found in ranges.items()}
        # What every member has: a caller in a hurry tests these before calling __contains__.
        # (Same-length strings between two ends share the ends' common prefix.)
        self.lengths = frozenset(map(len, exact)) | frozenset(self.ranges)
        self.common = _common_prefix(
            [*exact, *(bound for pairs in ranges.values() for pair in pairs for bound in pair)]
        )

    def __contains__(self, number: str) -> bool:
        if number in self.exact:
            return True
        found = self.ranges.get(len(number))
        if found is not None:  # usually not, for a phone number
            for start, end in found:
                if start <= number <= end:  # same-length digit strings compare as numbers do
                    return True
        return False


class Prefixes:
    """Override keys: exact matches, then the longest prefix. O(number of distinct key lengths)."""

    __slots__ = ("exact", "firsts", "lengths", "prefixes")

    def __init__(self, overrides: Mapping[str, CallType]) -> None:
        self.exact = {k[:-1]: (k, t) for k, t in overrides.items() if k.endswith("$")}
        self.prefixes = {k: (k, t) for k, t in overrides.items() if not k.endswith("$")}
        self.lengths = tuple(sorted({len(k) for k in self.prefixes}, reverse=True))
        # Every prefix key starts with one of these: most numbers are turned away in one lookup.
        self.firsts = frozenset(k[:1] for k in self.prefixes)

    def match(self, text: str) -> tuple[str, CallType] | None:
        found = self.exact.get(text)
        if found is not None:
            return found
        if text[:1] not in self.firsts:
            return None
        prefixes = self.prefixes
        for length in self.lengths:
            if length <= len(text):
                found = prefixes.get(text[:length])
                if found is not None:
                    return found
        return None

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefixes)


def _common_prefix(items: list[str]) -> str:
    """The longest prefix all of *items* share ("" when there are none)."""
    if not items:
        return ""
    low, high = min(items), max(items)
    size = 0
    while size < min(len(low), len(high)) and low[size] == high[size]:
        size += 1
    return low[:size]
