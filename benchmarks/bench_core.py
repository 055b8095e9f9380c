"""The decision against its floor and against what integrators use today, at every scale.

References, measured in the same run on the same keys: a bare ``dict.get`` (the floor: at a
million codes it is memory latency), a Python call returning a constant, an indexed SQLite point
query per call (Asterisk's AstDB, FusionPBX) and a linear scan of a code list (small PBXs).
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

import callcodes as cc
from conftest import (
    KEYS_PER_ROUND,
    Ratios,
    build_book,
    lookup_keys,
    loop,
    measured_book,
    random_codes,
    run_rounds,
)

MILLION = 1_000_000
# 10**7 codes take a few minutes to build and about 2 GB; set CALLCODES_BENCH_MAX to go lower.
MAX_SIZE = int(os.environ.get("CALLCODES_BENCH_MAX", "10000000"))
SIZES = [n for n in (10**2, 10**3, 10**4, 10**5, 10**6, 10**7) if n <= MAX_SIZE]
NATIONAL = cc.Call("acme", "alice", "12125551234", cc.CallType.NATIONAL)


@pytest.fixture(scope="module")
def million() -> tuple[cc.CodeBook, list[str], list[str]]:
    codes = random_codes(MILLION, 8)
    return build_book(codes), codes, lookup_keys(codes)


@pytest.fixture(scope="module")
def sqlite_codes(tmp_path_factory: pytest.TempPathFactory, million: tuple) -> Iterator:
    _, codes, _ = million
    path: Path = tmp_path_factory.mktemp("sql") / "codes.db"
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE codes (grp TEXT, code TEXT, description TEXT, PRIMARY KEY (grp, code))"
        " WITHOUT ROWID"
    )
    connection.executemany("INSERT INTO codes VALUES ('acme', ?, NULL)", ((c,) for c in codes))
    connection.commit()
    yield connection
    connection.close()


class TestReferences:
    """The floor and what integrators use today, at one million codes."""

    def test_dict_get(self, benchmark, million, ratios: Ratios) -> None:
        book, _, keys = million
        run_rounds(benchmark, loop(book._groups["acme"].codes.get, keys), len(keys), size=MILLION)
        ratios.record("dict.get 1e6", benchmark, len(keys))

    def test_constant_function(self, benchmark, million, ratios: Ratios) -> None:
        _, _, keys = million

        def constant(_key: str) -> int:
            return 0

        run_rounds(benchmark, loop(constant, keys), len(keys))
        ratios.record("constant function", benchmark, len(keys))

    def test_sqlite_point_query(self, benchmark, million, sqlite_codes, ratios: Ratios) -> None:
        _, _, keys = million
        keys = keys[:20_000]
        query = "SELECT description FROM codes WHERE grp = 'acme' AND code = ?"

        def lookup(code: str) -> object:
            return sqlite_codes.execute(query, (code,)).fetchone()

        run_rounds(benchmark, loop(lookup, keys), len(keys), size=MILLION)
        ratios.record("sqlite point query 1e6", benchmark, len(keys))

    @pytest.mark.parametrize("size", [100, 1000])
    def test_linear_scan(self, benchmark, size: int) -> None:
        codes = random_codes(size, 8)
        entries = [cc.CodeEntry(c) for c in codes]
        keys = lookup_keys(codes)[:10_000]

        def scan(code: str) -> object:
            for entry in entries:
                if entry.code == code:
                    return entry
            return None

        run_rounds(benchmark, loop(scan, keys), len(keys), size=size)


class TestDecideByRule:
    """decide() for each row that a softswitch meets most, at one million codes."""

    CASES: ClassVar = {
        "emergency": (cc.CallType.EMERGENCY, "listed"),
        "exempt": (cc.CallType.LOCAL, "listed"),
        "account": (cc.CallType.NATIONAL, "listed"),
        "authorized": (cc.CallType.NATIONAL, "listed"),
        "invalid": (cc.CallType.NATIONAL, "unlisted"),
    }

    @pytest.mark.parametrize("case", list(CASES))
    def test_decide(self, benchmark, million, case: str, ratios: Ratios) -> None:
        book, codes, keys = million
        call_type, which = self.CASES[case]
        if case == "account":
            book = build_book(codes, cc.Mode.ACCOUNT)
        if which == "unlisted":
            listed = set(codes)
            keys = [k for k in (f"{n:08d}" for n in range(0, 10**8, 997)) if k not in listed]
            keys = keys[:KEYS_PER_ROUND]
        call = cc.Call("acme", "alice", "12125551234", call_type)

        def judge(code: str) -> cc.Decision:
            return cc.decide(book, call, code)

        run_rounds(benchmark, loop(judge, keys), len(keys), size=MILLION, rule=case)
        name = f"decide {case} 1e6"
        ratios.record(name, benchmark, len(keys))
        if "dict.get 1e6" in ratios.medians:
            ratios.report(name, "dict.get 1e6")
        if "sqlite point query 1e6" in ratios.medians:
            ratios.report("sqlite point query 1e6", name)

    def test_requirement(self, benchmark, million, ratios: Ratios) -> None:
        book, _, keys = million
        run_rounds(benchmark, loop(lambda _k: cc.requirement(book, NATIONAL), keys), len(keys))
        ratios.record("requirement", benchmark, len(keys))


_SIZED: dict[int, tuple[cc.CodeBook, list[str], float | None]] = {}


def sized(size: int) -> tuple[cc.CodeBook, list[str], float | None]:
    """The book of *size* codes (built once per run), its lookup keys and bytes per code."""
    if size not in _SIZED:
        codes = random_codes(size, 8 if size < 10**7 else 9)
        if size <= MILLION:  # tracemalloc would take minutes at 10**7
            book, per_code = measured_book(codes)
        else:
            book, per_code = build_book(codes), None
        _SIZED[size] = (book, lookup_keys(codes), per_code)
    return _SIZED[size]


class TestScale:
    """Time per decision and bytes per code from 10**2 to 10**7 codes, beside dict.get."""

    @pytest.mark.parametrize("size", SIZES)
    def test_dict_get(self, benchmark, size: int) -> None:
        book, keys, _ = sized(size)
        run_rounds(benchmark, loop(book._groups["acme"].codes.get, keys), len(keys), size=size)

    @pytest.mark.parametrize("size", SIZES)
    def test_decide_authorized(self, benchmark, size: int) -> None:
        book, keys, per_code = sized(size)

        def judge(code: str) -> cc.Decision:
            return cc.decide(book, NATIONAL, code)

        info = {"bytes_per_code": per_code} if per_code is not None else {}
        run_rounds(benchmark, loop(judge, keys), len(keys), size=size, rule="authorized", **info)
        assert cc.decide(book, NATIONAL, keys[0]).reason is cc.Reason.AUTHORIZED

    def test_many_small_groups(self, benchmark) -> None:
        """A carrier's 100,000 customers with 10 codes each; each call to a random group."""
        book = cc.CodeBook()
        rng = random.Random(5)
        groups = [f"g{n:06d}" for n in range(100_000)]
        for group in groups:
            book.replace_group(
                group,
                cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, mandatory_users={"alice"}),
                random_codes(10, 4, seed=rng.randrange(1 << 30)),
            )
        calls = [
            (
                cc.Call(g, "alice", "12125551234", cc.CallType.NATIONAL),
                book.codes(g, limit=1)[0].code,
            )
            for g in rng.sample(groups, 20_000)
        ]

        def run() -> None:
            for call, code in calls:
                cc.decide(book, call, code)

        run_rounds(benchmark, run, len(calls), size=10, groups=len(groups), rule="authorized")
