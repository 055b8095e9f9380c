"""Helpers for the store, policy file, audit and CLI tests: clocks, dumps, temporary stores."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import callcodes as cc
from callcodes.store import PolicyStore
from helpers import book_state

__all__ = ["T0", "Clock", "book_state", "copy_into", "dump", "outcome", "temp_store"]

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


class Clock:
    """A clock for the store that moves one second per reading, from *start*."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def dump(path: Path) -> str:
    """Everything a SQLite file holds, as SQL text: equal dumps mean equal databases."""
    conn = sqlite3.connect(path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def snapshot(store: object) -> list[tuple[str, list[tuple[object, ...]]]]:
    """Every row of the policy tables of *store*, on either backend: equal means unchanged."""
    tables = (
        "policy_groups",
        "policy_users",
        "policy_codes",
        "policy_locks",
        "policy_changes",
        "policy_audit",
        "policy_audit_codes",
        "policy_dialplans",
        "callcodes_schema",
    )
    path = getattr(store, "path", None)
    conn: Any = sqlite3.connect(path) if path is not None else store.connection  # type: ignore[attr-defined]
    try:
        return [
            (
                table,
                [
                    tuple(row)
                    for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                ],
            )
            for table in tables
        ]
    finally:
        if path is not None:
            conn.close()


def copy_into(store: PolicyStore, book: cc.CodeBook) -> None:
    """Write every group of *book* into *store*: settings, codes, use counts and locks."""
    for group in book.groups():
        entries = book.codes(group, limit=None)
        store.replace_group(group, book.group(group), entries, actor="test")
        for entry in entries:
            for _ in range(book.uses(group, entry.code)):
                store.consume(group, entry.code)
        for lock in book.locks(group):
            store.lock(lock, actor="test")


@contextmanager
def temp_store(name: str = "policy.db") -> Iterator[PolicyStore]:
    """A store in a fresh temporary folder (for hypothesis tests, where tmp_path is shared)."""
    with TemporaryDirectory() as folder, PolicyStore(Path(folder) / name, clock=Clock()) as store:
        yield store


def outcome(action: Any) -> Any:
    """What a call did: None when it succeeded, else the error's type and its message."""
    try:
        action()
    except cc.CallcodesError as exc:
        return type(exc), str(exc)
    return None
