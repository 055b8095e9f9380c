"""The policy store at scale: import a 1,000,000-row CSV, load a 1,000,000-code store, memory.

Each figure sits beside its raw cost in the same run: reading the same CSV with the ``csv``
module, inserting the same rows with one ``executemany``, selecting the same rows with one
``SELECT``. The codes are 8 random digits in random order; descriptions are shared by many codes
(1000 project names), as in a company's list, except where a test says they are all different.
"""

from __future__ import annotations

import csv
import gc
import io
import random
import sqlite3
import tracemalloc
from pathlib import Path

import pytest

import callcodes as cc
from callcodes import policyfile
from callcodes.store import PolicyStore

ROWS = 1_000_000
SETTINGS = cc.GroupSettings(mode=cc.Mode.AUTHORIZATION, code_length=8)


def _csv(unique: bool = False, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    codes = rng.sample(range(10**8), ROWS)
    lines = ["code,description"]
    for n, code in enumerate(codes):
        description = f"Employee {n:07d}" if unique else f"Project {n % 1000:04d}"
        lines.append(f"{code:08d},{description}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def data() -> bytes:
    return _csv()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> Path:
    """A store holding the million codes (imported once for the load benchmarks)."""
    path = tmp_path_factory.mktemp("store") / "policy.db"
    with PolicyStore(path) as store:
        store.set_group("big", SETTINGS, actor="bench")
        policyfile.import_codes_csv(store, "big", data, actor="bench")
    return path


def _fresh(folder: Path, n: list[int]) -> PolicyStore:
    n[0] += 1
    store = PolicyStore(folder / f"import-{n[0]}.db")
    store.set_group("big", SETTINGS, actor="bench")
    return store


def test_raw_csv_read(benchmark, data: bytes) -> None:
    """Reference: decode the file and read every row with the csv module."""

    def read() -> None:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        assert len(rows) == ROWS + 1

    benchmark.pedantic(read, rounds=3, iterations=1, warmup_rounds=1)


def test_raw_executemany(benchmark, tmp_path: Path, data: bytes) -> None:
    """Reference: insert the same rows into the same table with one executemany."""
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))[1:]
    n = [0]

    def setup() -> tuple[tuple[sqlite3.Connection], dict[str, object]]:
        n[0] += 1
        conn = sqlite3.connect(tmp_path / f"raw-{n[0]}.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(
            "CREATE TABLE policy_codes (group_id INTEGER NOT NULL, code TEXT NOT NULL, "
            "description TEXT, level INTEGER NOT NULL DEFAULT 0, valid_from TEXT, "
            "valid_until TEXT, max_uses INTEGER, uses INTEGER NOT NULL DEFAULT 0, "
            "PRIMARY KEY (group_id, code)) WITHOUT ROWID"
        )
        return (conn,), {}

    def insert(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO policy_codes (group_id, code, description) VALUES (1, ?, ?)", rows
        )
        conn.execute("COMMIT")
        conn.close()

    benchmark.pedantic(insert, setup=setup, rounds=3, iterations=1)


def test_import_csv(benchmark, tmp_path: Path, data: bytes) -> None:
    """Import the file into an empty group: decode, parse, validate, write, one transaction."""
    n = [0]

    def setup() -> tuple[tuple[PolicyStore], dict[str, object]]:
        return (_fresh(tmp_path, n),), {}

    def run(store: PolicyStore) -> None:
        assert policyfile.import_codes_csv(store, "big", data, actor="bench") == ROWS
        store.close()

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)


def test_raw_select(benchmark, loaded: Path) -> None:
    """Reference: SELECT the same rows (code and description) from the store's table."""
    conn = sqlite3.connect(loaded)

    def select() -> None:
        rows = conn.execute(
            "SELECT code, description FROM policy_codes WHERE group_id = 1"
        ).fetchall()
        assert len(rows) == ROWS

    benchmark.pedantic(select, rounds=5, iterations=1, warmup_rounds=1)


def test_load(benchmark, loaded: Path) -> None:
    """Load the million codes into a CodeBook, ready for decide()."""
    store = PolicyStore(loaded)
    books: list[cc.CodeBook] = []

    def setup() -> None:
        books.clear()
        gc.collect()  # the previous book's memory and the collection its load deferred

    def load() -> None:
        books.append(store.load())

    benchmark.pedantic(load, setup=setup, rounds=5, iterations=1, warmup_rounds=1)
    assert books[0].count("big") == ROWS


@pytest.mark.parametrize("descriptions", ["shared", "unique"])
def test_memory_per_code(
    benchmark, tmp_path: Path, data: bytes, loaded: Path, descriptions: str
) -> None:
    """Bytes a loaded book holds per code (tracemalloc), beside the rows a SELECT returns."""
    path = loaded
    if descriptions == "unique":
        path = tmp_path / "unique.db"
        with PolicyStore(path) as store:
            store.set_group("big", SETTINGS, actor="bench")
            policyfile.import_codes_csv(store, "big", _csv(unique=True), actor="bench")
    store = PolicyStore(path)
    held: dict[str, float] = {}

    def measure() -> None:
        gc.collect()
        tracemalloc.start()
        try:
            rows = (
                sqlite3.connect(path)
                .execute("SELECT code, description FROM policy_codes WHERE group_id = 1")
                .fetchall()
            )
            held["select_rows"] = tracemalloc.get_traced_memory()[0] / ROWS
            del rows
            gc.collect()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            book = store.load()
            held["book"] = (tracemalloc.get_traced_memory()[0] - base) / ROWS
            del book
        finally:
            tracemalloc.stop()

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(bytes_per_code=held, descriptions=descriptions)
    print(
        f"\n{descriptions} descriptions: book {held['book']:.0f} bytes/code, "
        f"SELECT rows {held['select_rows']:.0f} bytes/code"
    )
