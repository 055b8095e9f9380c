r"""libphonenumber's number patterns compiled into minimal automata over the digits 0-9.

One job: turn patterns of the small regular-expression subset libphonenumber's metadata uses
(digits, ``\d``, classes with ranges, groups, ``|``, ``?``, ``{n}``, ``{n,m}``) into one
deterministic automaton whose states carry the set of patterns that match there, or refuse a
pattern outside the subset (``UnsupportedError``) so that its region is left to phonenumbers.
The patterns are finite languages, so the automaton is acyclic and built minimal: equal states
are shared as they are made. A state whose future depends only on how many digits are left
keeps that as a small table, read in one step; the first ``JUMP`` digits are one lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

__all__ = [
    "DIGITS",
    "JUMP",
    "Automaton",
    "UnsupportedError",
    "automaton",
    "expand",
    "first_digits",
    "parse",
]

_ALL_DIGITS: Final = 0b11_1111_1111
DIGITS: Final = frozenset("0123456789")
_DIGIT_TEXTS: Final = tuple("0123456789")
JUMP: Final = 3  # digits an automaton reads in one lookup at the start of a number
# Every string of at most JUMP digits, once, so that all the tables share their keys.
_PREFIX_TEXTS: Final = {
    text: text
    for length in range(1, JUMP + 1)
    for number in range(10**length)
    for text in [f"{number:0{length}d}"]
}


class UnsupportedError(Exception):
    """A pattern outside the subset: the region falls back to phonenumbers."""


class _Class(NamedTuple):
    digits: int  # bit d set when digit d matches


class _Cat(NamedTuple):
    items: tuple[_Node, ...]


class _Alt(NamedTuple):
    items: tuple[_Node, ...]


class _Rep(NamedTuple):
    item: _Node
    low: int
    high: int


_Node = _Class | _Cat | _Alt | _Rep


class _Parser:
    """Recursive descent over the subset; anything else raises ``UnsupportedError``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def parse(self) -> _Node:
        node = self._alt()
        if self.at != len(self.text):
            raise UnsupportedError(self.text)
        return node

    def _peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def _alt(self) -> _Node:
        items = [self._cat()]
        while self._peek() == "|":
            self.at += 1
            items.append(self._cat())
        return items[0] if len(items) == 1 else _Alt(tuple(items))

    def _cat(self) -> _Node:
        items: list[_Node] = []
        while self._peek() not in ("", "|", ")"):
            items.append(self._repeat())
        return items[0] if len(items) == 1 else _Cat(tuple(items))

    def _repeat(self) -> _Node:
        node = self._atom()
        while True:
            char = self._peek()
            if char == "?":
                self.at += 1
                node = _Rep(node, 0, 1)
            elif char == "{":
                end = self.text.find("}", self.at)
                low, comma, high = self.text[self.at + 1 : end].partition(",")
                if end < 0 or not _is_number(low) or (comma and not _is_number(high)):
                    raise UnsupportedError(self.text)
                bounds = (int(low), int(high) if comma else int(low))
                if bounds[0] > bounds[1] or bounds[1] > 32:
                    raise UnsupportedError(self.text)
                self.at = end + 1
                node = _Rep(node, *bounds)
            else:
                return node
            if self._peek() in ("?", "+", "*"):  # lazy, possessive or unbounded: not the subset
                raise UnsupportedError(self.text)

    def _atom(self) -> _Node:
        char = self._peek()
        self.at += 1
        if "0" <= char <= "9":
            return _Class(1 << (ord(char) - 48))
        if char == "\\" and self._peek() == "d":
            self.at += 1
            return _Class(_ALL_DIGITS)
        if char == "[":
            return self._class()
        if char == "(":
            if self.text.startswith("?:", self.at):
                self.at += 2
            node = self._alt()
            if self._peek() != ")":
                raise UnsupportedError(self.text)
            self.at += 1
            return node
        raise UnsupportedError(self.text)

    def _class(self) -> _Class:
        digits = 0
        while True:
            char = self._peek()
            self.at += 1
            if char == "]" and digits:
                return _Class(digits)
            if char == "\\" and self._peek() == "d":
                self.at += 1
                digits |= _ALL_DIGITS
            elif "0" <= char <= "9":
                low = high = ord(char) - 48
                if self._peek() == "-" and "0" <= self.text[self.at + 1 : self.at + 2] <= "9":
                    high = ord(self.text[self.at + 1]) - 48
                    self.at += 2
                if low > high:
                    raise UnsupportedError(self.text)
                digits |= ((1 << (high + 1)) - 1) & ~((1 << low) - 1)
            else:
                raise UnsupportedError(self.text)


def _is_number(text: str) -> bool:
    return bool(text) and len(text) <= 3 and all("0" <= c <= "9" for c in text)


# --- patterns to one automaton (Glushkov positions, then subsets) ---------------------------------


class _Positions:
    """The positions of one or more patterns, each position a digit class owned by one pattern."""

    def __init__(self) -> None:
        self.digits: list[int] = []
        self.follow: list[set[int]] = []
        self.final: list[int] = []  # the owner's bit when the position may end a match, else 0
        self.first: set[int] = set()
        self.nullable = 0  # bits of the patterns that match the empty string

    def add(self, node: _Node, bit: int) -> None:
        nullable, first, last = self._walk(node, bit)
        self.first |= first
        for position in last:
            self.final[position] = bit
        if nullable:
            self.nullable |= bit

    def _walk(self, node: _Node, bit: int) -> tuple[bool, set[int], set[int]]:
        if isinstance(node, _Class):
            position = len(self.digits)
            self.digits.append(node.digits)
            self.follow.append(set())
            self.final.append(0)
            return False, {position}, {position}
        if isinstance(node, _Alt):
            nullable, first, last = False, set[int](), set[int]()
            for item in node.items:
                n, f, la = self._walk(item, bit)
                nullable, first, last = nullable or n, first | f, last | la
            return nullable, first, last
        if isinstance(node, _Rep):
            # a{n,m} is n copies of a, then m-n optional copies: the same language.
            copies: list[tuple[bool, set[int], set[int]]] = [
                self._walk(node.item, bit) for _ in range(node.high)
            ]
            for index in range(node.low, node.high):
                copies[index] = (True, copies[index][1], copies[index][2])
            return self._concat(copies)
        return self._concat([self._walk(item, bit) for item in node.items])

    def _concat(
        self, parts: Sequence[tuple[bool, set[int], set[int]]]
    ) -> tuple[bool, set[int], set[int]]:
        nullable, first, last = True, set[int](), set[int]()
        for n, f, la in parts:
            for position in last:
                self.follow[position] |= f
            if nullable:
                first = first | f
            last = (last | la) if n else set(la)
            nullable = nullable and n
        return nullable, first, last


class Automaton:
    """A minimal deterministic automaton over digits; state 0 is dead.

    ``accept[s]`` is the set (bits) of patterns that match a string ending in state ``s``.
    ``tails[s]`` is, for a state whose future depends only on how many digits are left, the
    accepted bits by count of digits left (``None`` for other states); ``steps[s]`` maps each
    digit to the next state for the other states. ``jump`` maps the first ``JUMP`` digits to
    the state they lead to (the dead state when missing), which spares the first steps.
    """

    __slots__ = ("accept", "jump", "start", "steps", "tails")

    def __init__(self, positions: _Positions) -> None:
        digits, follow, final = positions.digits, positions.follow, positions.final
        by_digit: list[tuple[frozenset[int], ...]] = [
            tuple(frozenset(q for q in follow[p] if digits[q] >> d & 1) for d in range(10))
            for p in range(len(digits))
        ]
        first = tuple(
            frozenset(q for q in positions.first if digits[q] >> d & 1) for d in range(10)
        )
        self.accept: list[int] = [0]
        children: list[tuple[int, ...]] = [(0,) * 10]
        tails: list[dict[int, int] | None] = [{}]
        known: dict[tuple[int, tuple[int, ...]], int] = {}
        shared_tails: dict[tuple[tuple[int, int], ...], dict[int, int]] = {}
        memo: dict[frozenset[int], int] = {}

        def state(nexts: Sequence[frozenset[int]], accept: int) -> int:
            kids = tuple((memo[n] if n in memo else build(n)) if n else 0 for n in nexts)
            if not accept and not any(kids):
                return 0
            key = (accept, kids)
            found = known.get(key)
            if found is not None:
                return found
            number = len(self.accept)
            known[key] = number
            self.accept.append(accept)
            children.append(kids)
            tail = None
            if all(kid == kids[0] for kid in kids) and tails[kids[0]] is not None:
                after = tails[kids[0]]
                assert after is not None
                items = {count + 1: bits for count, bits in after.items()}
                if accept:
                    items[0] = accept
                shape = tuple(sorted(items.items()))
                tail = shared_tails.setdefault(shape, items)
            tails.append(tail)
            return number

        def build(subset: frozenset[int]) -> int:
            nexts: list[set[int]] = [set() for _ in range(10)]
            accept = 0
            for position in subset:
                accept |= final[position]
                for digit, targets in enumerate(by_digit[position]):
                    if targets:
                        nexts[digit] |= targets
            number = state([frozenset(n) for n in nexts], accept)
            memo[subset] = number
            return number

        self.start = state(first, positions.nullable)
        self.tails = tails
        self.steps: list[dict[str, int] | None] = [
            None if tail is not None else dict(zip(_DIGIT_TEXTS, kids, strict=True))
            for kids, tail in zip(children, tails, strict=True)
        ]
        reached = {"": self.start}
        for _ in range(JUMP):
            reached = {
                _PREFIX_TEXTS[prefix + digit]: kid
                for prefix, at in reached.items()
                for digit, kid in zip(_DIGIT_TEXTS, children[at], strict=True)
                if kid
            }
        self.jump = reached
        # The two builders refer to each other: a cycle that would keep these until the next
        # garbage collection.
        memo.clear()
        known.clear()

    def match(self, digits: str) -> int:
        """The bits of the patterns that match all of *digits* (ASCII digits only)."""
        tails, steps = self.tails, self.steps
        if len(digits) >= JUMP:
            state = self.jump.get(digits[:JUMP], 0)
            at = JUMP
        else:
            state = self.start
            at = 0
        tail = tails[state]
        while tail is None:
            if at == len(digits):
                return self.accept[state]
            state = steps[state][digits[at]]  # type: ignore[index]  # None only where tail is set
            at += 1
            tail = tails[state]
        return tail.get(len(digits) - at, 0)

    def size(self) -> int:
        """The number of states (the dead one included)."""
        return len(self.accept)


def automaton(patterns: Iterable[tuple[str, int]]) -> Automaton:
    positions = _Positions()
    for pattern, bit in patterns:
        positions.add(_Parser(pattern).parse(), bit)
    return Automaton(positions)


_EXPANSION_LIMIT: Final = 10_000


def expand(node: _Node) -> set[str]:
    """Every string a (finite) pattern matches; refused beyond ``_EXPANSION_LIMIT`` strings."""
    if isinstance(node, _Class):
        found = {str(d) for d in range(10) if node.digits >> d & 1}
    elif isinstance(node, _Alt):
        found = set().union(*map(expand, node.items))
    elif isinstance(node, _Cat):
        found = {""}
        for item in node.items:
            found = {head + tail for head in found for tail in expand(item)}
            if len(found) > _EXPANSION_LIMIT:
                raise UnsupportedError("leading digits")
    else:
        once = expand(node.item)
        found, layer = set(), {""}
        for count in range(node.high + 1):
            if count >= node.low:
                found |= layer
            layer = {head + tail for head in layer for tail in once}
            if len(layer) > _EXPANSION_LIMIT:
                raise UnsupportedError("leading digits")
    if len(found) > _EXPANSION_LIMIT:
        raise UnsupportedError("leading digits")
    return found


def parse(pattern: str) -> _Node:
    """The tree of a pattern of the subset; ``UnsupportedError`` for anything else."""
    return _Parser(pattern).parse()


def first_digits(pattern: str) -> frozenset[str] | None:
    """The digits a match of *pattern* can start with.

    None when it may match the empty string or is outside the subset: any digit may start one.
    """
    try:
        node = parse(pattern)
    except UnsupportedError:
        return None
    positions = _Positions()
    positions.add(node, 1)
    if positions.nullable:
        return None
    return frozenset(
        str(d) for p in positions.first for d in range(10) if positions.digits[p] >> d & 1
    )
