"""The policy store: groups, settings, users, codes, use counts and locks in one SQLite file.

``PolicyStore`` persists what a ``CodeBook`` holds, so the engine survives restarts and several
processes (a softswitch's workers) share one policy. Every administrative change is one SQLite
transaction that also writes its audit record; a refused change leaves the file untouched.
Changes are validated by the core itself: each write builds a scratch ``CodeBook`` holding just
the stored rows the change touches and applies the change there first, so the store refuses
exactly what a book refuses, with the same errors.

``load()`` builds a ``CodeBook`` from the file; ``refresh(book)`` brings a loaded book up to date
by reading a change journal: only the codes, settings or locks that changed since the book was
loaded, or a whole group after a bulk change. ``consume()`` counts one use of a use-limited code
atomically across processes.

The file is opened in WAL mode with a busy timeout; the schema is versioned in the shared table
``callcodes_schema`` (component ``policy``) and upgraded forward when the store opens. Every
table of this component is named ``policy_*``, so other components can share the file.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import operator
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

import attrs

from .._errors import BatchError, ConflictError, InvalidValueError, RowError, UnknownGroupError
from ..core._bulk import install_group, listed_readers, no_gc, row_readers, validated_new_codes
from ..core.book import CodeBook
from ..core.model import CallType, CodeEntry, GroupSettings, Lock, Lockout, Mode
from ..dialplan.plan import DialPlan
from ..policyfile import settings_to_dict
from .audit import MAX_DETAIL_CODES, Action, AuditRecord, code_for_audit, entry_for_audit

__all__ = ["JOURNAL_KEEP", "SCHEMA_VERSION", "PolicyStore"]

COMPONENT: Final = "policy"
#: How many journal entries are kept; a book further behind reloads whole groups instead.
JOURNAL_KEEP: Final = 100_000
# A batch touching more codes than this is journaled as a whole-group change: reloading the
# group is then cheaper than reading the codes one by one.
_BULK_JOURNAL: Final = 1_000
_IN_CHUNK: Final = 500  # codes per "IN (...)" query, well under SQLite's parameter limit
_PAGE: Final = 10_000  # codes per page when streaming or writing in chunks
_DEFAULT_BUSY: Final = 10.0

# Forward migrations: step i takes the policy schema from version i to version i + 1. A step is
# a list of statements run in one transaction (executescript would commit on its own).
_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE policy_groups (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            mode TEXT NOT NULL,
            code_length INTEGER NOT NULL,
            allow_local_and_toll_free INTEGER NOT NULL,
            max_attempts INTEGER NOT NULL,
            coded_call_types TEXT NOT NULL,
            min_levels TEXT NOT NULL,
            lockout_user_attempts INTEGER NOT NULL,
            lockout_user_window_us INTEGER NOT NULL,
            lockout_group_attempts INTEGER NOT NULL,
            lockout_group_window_us INTEGER NOT NULL,
            lockout_lock_for_us INTEGER,
            code_prefix TEXT NOT NULL
        )""",
        """CREATE TABLE policy_users (
            group_id INTEGER NOT NULL,
            user TEXT NOT NULL,
            list TEXT NOT NULL CHECK (list IN ('mandatory', 'optional')),
            PRIMARY KEY (group_id, user)
        ) WITHOUT ROWID""",
        """CREATE TABLE policy_codes (
            group_id INTEGER NOT NULL,
            code TEXT NOT NULL CHECK (length(code) BETWEEN 2 AND 14),
            description TEXT,
            level INTEGER NOT NULL DEFAULT 0 CHECK (level BETWEEN 0 AND 255),
            valid_from TEXT,
            valid_until TEXT,
            max_uses INTEGER CHECK (max_uses >= 1),
            uses INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
            PRIMARY KEY (group_id, code)
        ) WITHOUT ROWID""",
        """CREATE TABLE policy_locks (
            group_id INTEGER NOT NULL,
            whole_group INTEGER NOT NULL,
            user TEXT NOT NULL,
            since TEXT NOT NULL,
            until TEXT,
            PRIMARY KEY (group_id, whole_group, user)
        ) WITHOUT ROWID""",
        # The change journal that refresh() reads: kind is 'group' (reload the whole group),
        # 'settings', 'locks' or 'code' (one code, named in the row).
        """CREATE TABLE policy_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            grp TEXT NOT NULL,
            kind TEXT NOT NULL,
            code TEXT
        )""",
    ),
    (
        """CREATE TABLE policy_audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            grp TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        "CREATE INDEX policy_audit_by_group ON policy_audit (grp, id)",
        "CREATE INDEX policy_audit_by_time ON policy_audit (at)",
    ),
    (
        # A group's dial plan (callcodes.dialplan), as the JSON of DialPlan.to_dict().
        """CREATE TABLE policy_dialplans (
            group_id INTEGER PRIMARY KEY,
            plan TEXT NOT NULL
        )""",
    ),
)
#: The policy schema version this code writes (and the newest it reads).
SCHEMA_VERSION: Final = len(_MIGRATIONS)

_CODE_COLUMNS: Final = "code, description, level, valid_from, valid_until, max_uses, uses"
# Whether a code row holds anything beyond a description: a level, a window or a use limit.
_LIMITED: Final = (
    "level <> 0 OR valid_from IS NOT NULL OR valid_until IS NOT NULL OR max_uses IS NOT NULL"
)
_SETTINGS_COLUMNS: Final = (
    "mode, code_length, allow_local_and_toll_free, max_attempts, coded_call_types, min_levels, "
    "lockout_user_attempts, lockout_user_window_us, lockout_group_attempts, "
    "lockout_group_window_us, lockout_lock_for_us, code_prefix"
)
_MICROSECOND: Final = timedelta(microseconds=1)
_CODE_OF: Final = operator.attrgetter("code")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.define
class _Synced:
    """How far a loaded book has read the journal, and which groups it holds (None: all)."""

    seq: int
    groups: frozenset[str] | None


@attrs.frozen
class _StoredGroup:
    """One group as read from the file, ready to install in a book."""

    settings: GroupSettings
    outcomes: list[Any]  # what the book stores per listed code (see _bulk.row_readers)
    uses: dict[str, int]
    locks: list[Lock]


class PolicyStore:
    """Groups, settings, users, codes, use counts and locks, persisted in one SQLite file.

    The write methods mirror ``CodeBook``'s and validate the same way, plus an ``actor`` for
    the audit trail; the time of each record comes from *clock* (aware UTC). Safe for several
    threads (one connection, serialised) and several processes (SQLite's locking, WAL).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], datetime] = _utc_now,
        busy_timeout: float = _DEFAULT_BUSY,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        self._synced: weakref.WeakKeyDictionary[CodeBook, _Synced] = weakref.WeakKeyDictionary()
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.OperationalError as exc:
            raise InvalidValueError(
                "path", str(path), f"cannot be opened ({exc}): check the folder and permissions"
            ) from None
        try:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise InvalidValueError(
                "path", str(path), f"is not a usable policy store ({exc}): give a store's path"
            ) from None
        except BaseException:
            self._conn.close()
            raise

    # -- connection, transactions, schema -------------------------------------------------------

    def close(self) -> None:
        """Close the file; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> PolicyStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction: IMMEDIATE for writes (take the write lock first), else a snapshot."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        conn = self._conn
        conn.execute(
            "CREATE TABLE IF NOT EXISTS callcodes_schema "
            "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        if self._schema_version(conn) == SCHEMA_VERSION:
            return
        with self._transaction(write=True):
            version = self._schema_version(conn)  # another process may have migrated meanwhile
            if version > SCHEMA_VERSION:
                raise ConflictError(
                    f"the store {str(self.path)!r} holds policy schema version {version}, newer "
                    f"than this callcodes reads ({SCHEMA_VERSION}): upgrade callcodes"
                )
            for step in _MIGRATIONS[version:]:
                for statement in step:
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO callcodes_schema (component, version) VALUES (?, ?) "
                "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (COMPONENT, SCHEMA_VERSION),
            )

    @staticmethod
    def _schema_version(conn: sqlite3.Connection) -> int:
        row = conn.execute(
            "SELECT version FROM callcodes_schema WHERE component = ?", (COMPONENT,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    @property
    def schema_version(self) -> int:
        """The policy schema version of the file (equal to ``SCHEMA_VERSION`` once open)."""
        with self._lock:
            return self._schema_version(self._conn)

    # -- reading --------------------------------------------------------------------------------

    def groups(self) -> list[str]:
        """The names of all groups, sorted. Runtime complexity: O(g log g) for g groups."""
        with self._lock:
            rows = self._conn.execute("SELECT name FROM policy_groups ORDER BY name").fetchall()
        return [name for (name,) in rows]

    def __contains__(self, group: object) -> bool:
        with self._lock:
            found = self._conn.execute(
                "SELECT 1 FROM policy_groups WHERE name = ?", (group,)
            ).fetchone()
        return found is not None

    def group(self, group: str) -> GroupSettings:
        """The settings of *group* (users included); :class:`UnknownGroupError` if none.

        Runtime complexity: O(u) for u users.
        """
        with self._transaction(write=False) as conn:
            return self._settings(conn, self._group_id(conn, group))

    def count(self, group: str) -> int:
        """How many codes *group* holds. Runtime complexity: O(n) (SQLite counts the rows)."""
        with self._transaction(write=False) as conn:
            gid = self._group_id(conn, group)
            return int(
                conn.execute(
                    "SELECT count(*) FROM policy_codes WHERE group_id = ?", (gid,)
                ).fetchone()[0]
            )

    def get(self, group: str, code: str) -> CodeEntry | None:
        """The entry for *code* in *group*, or None. Runtime complexity: O(log n)."""
        with self._transaction(write=False) as conn:
            found = self._entries(conn, self._group_id(conn, group), [code])
        return found.get(code)

    def uses(self, group: str, code: str) -> int:
        """How many calls *code* has authorized (counted for use-limited codes only).

        Runtime complexity: O(log n).
        """
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT uses FROM policy_codes WHERE group_id = ? AND code = ?",
                (self._group_id(conn, group), code),
            ).fetchone()
        return 0 if row is None else int(row[0])

    def codes(
        self,
        group: str,
        prefix: str = "",
        after: str | None = None,
        limit: int | None = 50,
    ) -> list[CodeEntry]:
        """One page of codes in code order, as ``CodeBook.codes`` (same arguments, same checks).

        Runtime complexity: O(log n + k) for a page of k codes.
        """
        _scratch_for(group, GroupSettings()).codes(group, prefix, after, limit)  # checks args
        low, inclusive = prefix, True
        if after is not None and after >= low:
            low, inclusive = after, False
        with self._transaction(write=False) as conn:
            gid = self._group_id(conn, group)
            sql = (
                f"SELECT {_CODE_COLUMNS} FROM policy_codes WHERE group_id = ? "  # noqa: S608
                f"AND code {'>=' if inclusive else '>'} ? AND code < ? ORDER BY code LIMIT ?"
            )
            # Codes are ASCII digits and ':' sorts right after '9': prefix + ':' bounds them all.
            cursor = conn.execute(sql, (gid, low, prefix + ":", -1 if limit is None else limit))
            return list(itertools.starmap(_entry_reader(), cursor))

    def iter_codes(self, group: str, prefix: str = "") -> Iterator[CodeEntry]:
        """Every code of *group* (starting with *prefix*) in code order, read page by page.

        Each page is read in its own transaction, so writers are not held up by a slow reader.
        Runtime complexity: O(log n + k) per page of k codes.
        """
        after: str | None = None
        while True:
            page = self.codes(group, prefix, after, _PAGE)
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1].code

    def locks(self, group: str, now: datetime | None = None) -> list[Lock]:
        """The group's locks that hold at *now* (all when *now* is None), group lock first.

        Runtime complexity: O(u log u) for u locked users.
        """
        with self._transaction(write=False) as conn:
            held = self._locks(conn, self._group_id(conn, group), group)
        return held if now is None else [lock for lock in held if lock.active(now)]

    def audit(
        self,
        group: str | None = None,
        *,
        actor: str | None = None,
        action: Action | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_id: int = 0,
        limit: int | None = None,
        latest: int | None = None,
    ) -> list[AuditRecord]:
        """Audit records in the order they were written, filtered by any of the arguments.

        *since* is inclusive and *until* exclusive (aware datetimes); *after_id* and *limit*
        page through the trail; *latest* keeps only the last so many matching records.
        Runtime complexity: O(log n + k) for k records of one group, O(n) when filtering only
        by actor or action.
        """
        where = ["id > ?"]
        args: list[object] = [after_id]
        if group is not None:
            where.append("grp = ?")
            args.append(group)
        if actor is not None:
            where.append("actor = ?")
            args.append(actor)
        if action is not None:
            if action not in set(Action):
                raise InvalidValueError("action", action, f"one of {', '.join(Action)}")
            where.append("action = ?")
            args.append(str(action))
        for bound, op, name in ((since, ">=", "since"), (until, "<", "until")):
            if bound is not None:
                where.append(f"at {op} ?")
                args.append(_stamp(bound, name))
        if latest is not None:
            if limit is not None:
                raise InvalidValueError("latest", latest, "give either limit or latest")
            limit = latest
        args.append(-1 if limit is None else limit)
        sql = (
            "SELECT id, at, actor, grp, action, detail FROM policy_audit "  # noqa: S608
            f"WHERE {' AND '.join(where)} ORDER BY id {'DESC' if latest is not None else ''} "
            "LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        if latest is not None:
            rows.reverse()
        return [
            AuditRecord(
                id=row[0],
                at=datetime.fromisoformat(row[1]),
                actor=row[2],
                group=row[3],
                action=Action(row[4]),
                detail=json.loads(row[5]),
            )
            for row in rows
        ]

    def now(self) -> datetime:
        """The store's clock: the time its audit records carry (aware UTC)."""
        when = self._clock()
        _stamp(when, "clock()")
        return when

    @property
    def version(self) -> int:
        """A counter that grows with every change written by any process (the journal head)."""
        with self._lock:
            return self._head(self._conn)

    # -- loading and refreshing books -----------------------------------------------------------

    def load(self, groups: Iterable[str] | None = None) -> CodeBook:
        """Build a ``CodeBook`` holding every group (or only *groups*) with codes, uses and locks.

        Rows were validated when written, so they are not validated again. Runtime complexity:
        O(n) for n codes; about a second per million codes (see docs/performance.md).
        """
        wanted = None if groups is None else frozenset(groups)
        book = CodeBook()
        with self._transaction(write=False) as conn:
            head = self._head(conn)
            names = self._names(conn)
            if wanted is not None:
                missing = sorted(wanted - names.keys())
                if missing:
                    raise UnknownGroupError(missing[0])
            with no_gc():
                for name, gid in names.items():
                    if wanted is None or name in wanted:
                        self._install(book, name, self._read_group(conn, gid, name))
        self._synced[book] = _Synced(head, wanted)
        return book

    def refresh(self, book: CodeBook) -> bool:
        """Bring *book* up to date with the file; return whether anything changed.

        Reads only the changes written since the book was loaded (or last refreshed): the codes,
        settings or locks named in the journal, or whole groups after bulk changes. A book this
        store did not load is filled with every group. Runtime complexity: O(log j) when nothing
        changed, else O(c log n) for c changed codes, plus O(n) for each group reloaded whole.
        """
        synced = self._synced.get(book)
        with self._transaction(write=False) as conn:
            head = self._head(conn)
            if synced is not None and synced.seq == head:
                return False
            oldest = conn.execute("SELECT min(seq) FROM policy_changes").fetchone()[0]
            names = self._names(conn)
            with no_gc():
                if synced is None or oldest is None or synced.seq < oldest - 1:
                    self._reload_all(conn, book, names, None if synced is None else synced.groups)
                else:
                    self._apply_journal(conn, book, names, synced)
        if synced is None:
            self._synced[book] = _Synced(head, None)
        else:
            synced.seq = head
        return True

    def _reload_all(
        self,
        conn: sqlite3.Connection,
        book: CodeBook,
        names: Mapping[str, int],
        wanted: frozenset[str] | None,
    ) -> None:
        for name in book.groups():
            if name not in names:
                book.remove_group(name)
        for name, gid in names.items():
            if wanted is None or name in wanted:
                self._install(book, name, self._read_group(conn, gid, name))

    def _apply_journal(
        self, conn: sqlite3.Connection, book: CodeBook, names: Mapping[str, int], synced: _Synced
    ) -> None:
        whole: set[str] = set()
        settings: set[str] = set()
        locks: set[str] = set()
        codes: dict[str, set[str]] = {}
        for grp, kind, code in conn.execute(
            "SELECT grp, kind, code FROM policy_changes WHERE seq > ? ORDER BY seq", (synced.seq,)
        ):
            if synced.groups is not None and grp not in synced.groups:
                continue
            if kind == "group" or grp not in book:
                whole.add(grp)
            elif kind == "settings":
                settings.add(grp)
            elif kind == "locks":
                locks.add(grp)
            elif kind == "dialplan":
                continue  # books hold no dial plans; the entry only moves the version on
            else:
                codes.setdefault(grp, set()).add(code)
        for grp in whole:
            if grp in names:
                self._install(book, grp, self._read_group(conn, names[grp], grp))
            elif grp in book:
                book.remove_group(grp)
        for grp in (settings | locks | codes.keys()) - whole:
            gid = names.get(grp)
            if gid is None:  # removed later, but the 'group' entry would have said so
                continue
            try:
                if grp in settings:
                    book.set_group(grp, self._settings(conn, gid))
                if grp in locks:
                    _sync_locks(book, grp, self._locks(conn, gid, grp))
                if grp in codes:
                    self._sync_codes(conn, book, grp, gid, sorted(codes[grp]))
            except (BatchError, ConflictError):
                # The book was changed behind the store's back: replace the group whole.
                self._install(book, grp, self._read_group(conn, gid, grp))

    def _sync_codes(
        self, conn: sqlite3.Connection, book: CodeBook, grp: str, gid: int, codes: list[str]
    ) -> None:
        stored = self._entries(conn, gid, codes)
        used = self._uses(conn, gid, codes)
        gone = [code for code in codes if code not in stored and book.get(grp, code) is not None]
        reset = [
            code
            for code, entry in stored.items()
            if book.get(grp, code) is not None and book.uses(grp, code) > used.get(code, 0)
        ]
        book.delete_codes(grp, gone + reset)
        fresh = [entry for code, entry in stored.items() if book.get(grp, code) is None]
        book.add_codes(grp, fresh)
        changed = [entry for code, entry in stored.items() if book.get(grp, code) != entry]
        book.update_codes(grp, changed)
        for code, count in used.items():
            for _ in range(count - book.uses(grp, code)):
                book.consume(grp, code)

    def _install(self, book: CodeBook, name: str, stored: _StoredGroup) -> None:
        install_group(
            book, name, stored.settings, stored.outcomes, uses=stored.uses, locks=stored.locks
        )

    def _read_group(self, conn: sqlite3.Connection, gid: int, name: str) -> _StoredGroup:
        settings = self._settings(conn, gid)
        uses: dict[str, int] = {}
        limited: list[str] = []
        read, read_plain = listed_readers(uses, settings.mode, limited)
        # One scan reads the code, the description and whether the row holds more; most codes
        # hold only a description, and three columns read a third faster than eight. The few
        # others are then read whole by their codes.
        outcomes: list[Any] = list(
            itertools.starmap(
                read_plain,
                conn.execute(
                    "SELECT code, description, "  # noqa: S608
                    f"{_LIMITED} FROM policy_codes WHERE group_id = ?",
                    (gid,),
                ),
            )
        )
        if limited:
            outcomes = [outcome for outcome in outcomes if outcome is not None]
            for start in range(0, len(limited), _IN_CHUNK):
                chunk = limited[start : start + _IN_CHUNK]
                outcomes += itertools.starmap(
                    read,
                    conn.execute(
                        f"SELECT {_CODE_COLUMNS} FROM policy_codes "  # noqa: S608
                        f"WHERE group_id = ? AND code IN ({','.join('?' * len(chunk))})",
                        (gid, *chunk),
                    ),
                )
        return _StoredGroup(settings, outcomes, uses, self._locks(conn, gid, name))

    # -- row helpers ----------------------------------------------------------------------------

    @staticmethod
    def _head(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT coalesce(max(seq), 0) FROM policy_changes").fetchone()[0])

    @staticmethod
    def _names(conn: sqlite3.Connection) -> dict[str, int]:
        return dict(conn.execute("SELECT name, id FROM policy_groups ORDER BY name").fetchall())

    @staticmethod
    def _group_id(conn: sqlite3.Connection, group: str) -> int:
        row = conn.execute("SELECT id FROM policy_groups WHERE name = ?", (group,)).fetchone()
        if row is None:
            raise UnknownGroupError(group)
        return int(row[0])

    @staticmethod
    def _settings(conn: sqlite3.Connection, gid: int) -> GroupSettings:
        row = conn.execute(
            f"SELECT {_SETTINGS_COLUMNS} FROM policy_groups WHERE id = ?",  # noqa: S608
            (gid,),
        ).fetchone()
        users: dict[str, set[str]] = {"mandatory": set(), "optional": set()}
        for user, kind in conn.execute(
            "SELECT user, list FROM policy_users WHERE group_id = ?", (gid,)
        ):
            users[kind].add(user)
        return GroupSettings(
            mode=Mode(row[0]),
            code_length=row[1],
            allow_local_and_toll_free=bool(row[2]),
            max_attempts=row[3],
            coded_call_types=frozenset(CallType(t) for t in json.loads(row[4])),
            min_levels={CallType(k): v for k, v in json.loads(row[5]).items()},
            lockout=Lockout(
                user_attempts=row[6],
                user_window=row[7] * _MICROSECOND,
                group_attempts=row[8],
                group_window=row[9] * _MICROSECOND,
                lock_for=None if row[10] is None else row[10] * _MICROSECOND,
            ),
            code_prefix=row[11],
            mandatory_users=frozenset(users["mandatory"]),
            optional_users=frozenset(users["optional"]),
        )

    @staticmethod
    def _entries(conn: sqlite3.Connection, gid: int, codes: Sequence[str]) -> dict[str, CodeEntry]:
        """The stored entries among *codes* (which may hold anything), by code."""
        wanted = sorted({code for code in codes if type(code) is str})
        found: dict[str, CodeEntry] = {}
        read = _entry_reader()
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT {_CODE_COLUMNS} FROM policy_codes "  # noqa: S608
                f"WHERE group_id = ? AND code IN ({marks})",
                (gid, *chunk),
            ):
                entry = read(*row)
                found[entry.code] = entry
        return found

    def _existing(self, conn: sqlite3.Connection, gid: int, codes: list[str]) -> list[str]:
        """Which of *codes* the group holds; one scan when the batch is as big as the group."""
        total = conn.execute(
            "SELECT count(*) FROM policy_codes WHERE group_id = ?", (gid,)
        ).fetchone()[0]
        if total == 0:
            return []
        if total <= len(codes):
            wanted = set(codes)
            return [
                code
                for (code,) in conn.execute(
                    "SELECT code FROM policy_codes WHERE group_id = ?", (gid,)
                )
                if code in wanted
            ]
        return list(self._entries(conn, gid, codes))

    @staticmethod
    def _uses(conn: sqlite3.Connection, gid: int, codes: Sequence[str]) -> dict[str, int]:
        """Use counts a book holds for *codes*: use-limited codes only, capped at the limit."""
        counts: dict[str, int] = {}
        for start in range(0, len(codes), _IN_CHUNK):
            chunk = list(codes[start : start + _IN_CHUNK])
            marks = ",".join("?" * len(chunk))
            counts.update(
                conn.execute(
                    "SELECT code, min(uses, max_uses) FROM policy_codes "  # noqa: S608
                    f"WHERE group_id = ? AND max_uses IS NOT NULL AND code IN ({marks})",
                    (gid, *chunk),
                ).fetchall()
            )
        return counts

    @staticmethod
    def _locks(conn: sqlite3.Connection, gid: int, name: str) -> list[Lock]:
        return [
            Lock(
                name,
                None if whole else user,
                datetime.fromisoformat(since),
                None if until is None else datetime.fromisoformat(until),
            )
            for whole, user, since, until in conn.execute(
                "SELECT whole_group, user, since, until FROM policy_locks WHERE group_id = ? "
                "ORDER BY whole_group DESC, user",
                (gid,),
            )
        ]

    # -- writing: groups ------------------------------------------------------------------------

    def set_group(self, group: str, settings: GroupSettings, *, actor: str) -> None:
        """Create *group* or change its settings (users included); its codes are kept.

        Refused with :class:`ConflictError` when the group holds codes of another length, as
        ``CodeBook.set_group``. Runtime complexity: O(u) for u users, plus O(n) to count codes
        when the length changes.
        """
        self.modify_group(group, lambda _old: settings, actor=actor, create=True)

    def modify_group(
        self,
        group: str,
        change: Callable[[GroupSettings], GroupSettings],
        *,
        actor: str,
        create: bool = False,
    ) -> GroupSettings:
        """Read the settings of *group*, apply *change*, write the result: one transaction.

        With *create*, a missing group starts from the default settings; without it, a missing
        group is an :class:`UnknownGroupError`. Returns the new settings.
        Runtime complexity: as :meth:`set_group`.
        """
        _check_actor(actor)
        with self._write(actor) as (conn, record):
            row = conn.execute("SELECT id FROM policy_groups WHERE name = ?", (group,)).fetchone()
            if row is None and not create:
                raise UnknownGroupError(group)
            old = None if row is None else self._settings(conn, row[0])
            settings = change(GroupSettings() if old is None else old)
            _scratch_for(group, settings)  # the book's checks of the name and the settings
            if old is not None and old.code_length != settings.code_length:
                held = conn.execute(
                    "SELECT count(*) FROM policy_codes WHERE group_id = ?", (row[0],)
                ).fetchone()[0]
                if held:
                    raise ConflictError(
                        f"group {group!r} holds {held} code(s) of {old.code_length} digits; "
                        f"delete them before changing code_length to {settings.code_length}"
                    )
            if old == settings:
                return settings
            self._put_settings(conn, group, None if row is None else row[0], settings)
            if old is None:
                self._journal(conn, group, "group")
                record(group, Action.GROUP_CREATE, {"settings": _settings_detail(settings)})
            else:
                self._journal(conn, group, "settings")
                record(group, Action.GROUP_UPDATE, _settings_diff(old, settings))
            return settings

    def replace_group(
        self,
        group: str,
        settings: GroupSettings,
        codes: Iterable[CodeEntry | str] = (),
        *,
        actor: str,
        progress: Callable[[int], None] | None = None,
        dialplan: DialPlan | None = None,
    ) -> None:
        """Create or replace *group* whole: settings, users and codes, in one transaction.

        All-or-nothing, validated as ``CodeBook.replace_group``. Use counts of codes that stay
        are kept, and so are locks: replacing the policy does not reset toll-fraud state.
        *progress* is called with the number of codes written after each chunk. A *dialplan*
        is stored with the group in the same transaction; without one, the group keeps its plan.
        Runtime complexity: O(n log n) for n codes.
        """
        _check_actor(actor)
        _scratch_for(group, settings)  # the book's checks of the name and the settings
        with no_gc():
            entries = _in_code_order(validated_new_codes(group, settings, (), codes))
        with self._write(actor) as (conn, record):
            row = conn.execute("SELECT id FROM policy_groups WHERE name = ?", (group,)).fetchone()
            old = None if row is None else self._settings(conn, row[0])
            gid = self._put_settings(conn, group, None if row is None else row[0], settings)
            removed = self._replace_codes(conn, gid, entries, progress)
            self._journal(conn, group, "group")
            detail: dict[str, Any] = {"settings": _settings_detail(settings)}
            if old is not None:
                detail["changed"] = _settings_diff(old, settings)["changed"]
            detail.update(_codes_detail(entries, settings.mode, "codes"))
            detail["removed_count"] = removed
            if dialplan is not None:
                self._put_dialplan(conn, group, gid, _check_plan(dialplan))
                detail["dialplan"] = dialplan.to_dict()
            record(group, Action.GROUP_REPLACE, detail)

    def replace_codes(
        self,
        group: str,
        codes: Iterable[CodeEntry | str],
        *,
        actor: str,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Replace the codes of *group* whole, keeping its settings (as :meth:`replace_group`).

        Runtime complexity: O(n log n) for n codes.
        """
        _check_actor(actor)
        batch = list(codes)
        with self._write(actor) as (conn, record), no_gc():
            gid = self._group_id(conn, group)
            settings = self._settings(conn, gid)
            entries = _in_code_order(validated_new_codes(group, settings, (), batch))
            removed = self._replace_codes(conn, gid, entries, progress)
            self._journal(conn, group, "group")
            detail = _codes_detail(entries, settings.mode, "codes")
            detail["removed_count"] = removed
            record(group, Action.CODES_REPLACE, detail)

    def remove_group(self, group: str, *, actor: str) -> None:
        """Delete *group* with its users, codes, use counts and locks.

        Runtime complexity: O(n) for n codes.
        """
        _check_actor(actor)
        with self._write(actor) as (conn, record):
            gid = self._group_id(conn, group)
            settings = self._settings(conn, gid)
            removed = conn.execute("DELETE FROM policy_codes WHERE group_id = ?", (gid,)).rowcount
            for table in ("policy_users", "policy_locks", "policy_dialplans"):
                conn.execute(f"DELETE FROM {table} WHERE group_id = ?", (gid,))  # noqa: S608
            conn.execute("DELETE FROM policy_groups WHERE id = ?", (gid,))
            self._journal(conn, group, "group")
            record(
                group,
                Action.GROUP_REMOVE,
                {"settings": _settings_detail(settings), "removed_count": removed},
            )

    def _put_settings(
        self, conn: sqlite3.Connection, group: str, gid: int | None, settings: GroupSettings
    ) -> int:
        lockout = settings.lockout
        values = (
            settings.mode.value,
            settings.code_length,
            int(settings.allow_local_and_toll_free),
            settings.max_attempts,
            json.dumps(sorted(t.value for t in settings.coded_call_types)),
            json.dumps({k.value: v for k, v in sorted(settings.min_levels.items())}),
            lockout.user_attempts,
            lockout.user_window // _MICROSECOND,
            lockout.group_attempts,
            lockout.group_window // _MICROSECOND,
            None if lockout.lock_for is None else lockout.lock_for // _MICROSECOND,
            settings.code_prefix,
        )
        if gid is None:
            cursor = conn.execute(
                f"INSERT INTO policy_groups (name, {_SETTINGS_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (group, *values),
            )
            assert cursor.lastrowid is not None
            gid = cursor.lastrowid
        else:
            assignments = ", ".join(f"{c.strip()} = ?" for c in _SETTINGS_COLUMNS.split(","))
            conn.execute(
                f"UPDATE policy_groups SET {assignments} WHERE id = ?",  # noqa: S608
                (*values, gid),
            )
            conn.execute("DELETE FROM policy_users WHERE group_id = ?", (gid,))
        conn.executemany(
            "INSERT INTO policy_users (group_id, user, list) VALUES (?, ?, ?)",
            [(gid, user, "mandatory") for user in sorted(settings.mandatory_users)]
            + [(gid, user, "optional") for user in sorted(settings.optional_users)],
        )
        return gid

    def _replace_codes(
        self,
        conn: sqlite3.Connection,
        gid: int,
        entries: list[CodeEntry],
        progress: Callable[[int], None] | None,
    ) -> int:
        """Put *entries* in place of the group's codes, keeping the counts of codes that stay."""
        kept = dict(
            conn.execute(
                "SELECT code, uses FROM policy_codes WHERE group_id = ? AND uses > 0", (gid,)
            ).fetchall()
        )
        removed = conn.execute("DELETE FROM policy_codes WHERE group_id = ?", (gid,)).rowcount
        self._insert(conn, gid, entries, kept, progress)
        return int(removed)

    @staticmethod
    def _insert(
        conn: sqlite3.Connection,
        gid: int,
        entries: Sequence[CodeEntry],
        uses: Mapping[str, int],
        progress: Callable[[int], None] | None,
    ) -> None:
        sql = (
            f"INSERT INTO policy_codes (group_id, {_CODE_COLUMNS}) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        get = uses.get
        for start in range(0, len(entries), _PAGE * 10):
            chunk = entries[start : start + _PAGE * 10]
            # Most codes have only a description: three columns bind faster than eight.
            conn.executemany(
                "INSERT INTO policy_codes (group_id, code, description) VALUES (?, ?, ?)",
                [
                    (gid, e.code, e.description)
                    for e in chunk
                    if e.max_uses is None
                    and e.valid_from is None
                    and e.valid_until is None
                    and not e.level
                    and (not uses or e.code not in uses)
                ],
            )
            conn.executemany(
                sql,
                [
                    (
                        gid,
                        e.code,
                        e.description,
                        e.level,
                        None if e.valid_from is None else _stamp(e.valid_from, "valid_from"),
                        None if e.valid_until is None else _stamp(e.valid_until, "valid_until"),
                        e.max_uses,
                        get(e.code, 0),
                    )
                    for e in chunk
                    if e.max_uses is not None
                    or e.valid_from is not None
                    or e.valid_until is not None
                    or e.level
                    or (uses and e.code in uses)
                ],
            )
            if progress is not None:
                progress(len(chunk))

    # -- writing: codes -------------------------------------------------------------------------

    def check_codes(
        self, group: str, codes: Iterable[CodeEntry | str], *, replace: bool = False
    ) -> list[RowError]:
        """The rows ``add_codes`` (``replace_codes`` with *replace*) would refuse; writes nothing.

        Rows are numbered from 0 in batch order, as in :class:`BatchError`.
        Runtime complexity: O(k log k) for k codes, plus a lookup of each in the group.
        """
        batch = list(codes)
        with self._transaction(write=False) as conn, no_gc():
            gid = self._group_id(conn, group)
            settings = self._settings(conn, gid)
            stored = [] if replace else self._existing(conn, gid, _codes_of(batch))
            try:
                validated_new_codes(group, settings, set(stored), batch)
            except BatchError as exc:
                return list(exc.rows)
        return []

    def add_codes(
        self,
        group: str,
        codes: Iterable[CodeEntry | str],
        *,
        actor: str,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Add codes to *group* in one all-or-nothing batch, refused as ``CodeBook.add_codes``.

        *progress* is called with the number of codes written after each chunk.
        Runtime complexity: O(k log k) for k codes, plus a lookup of each in the group.
        """
        _check_actor(actor)
        batch = list(codes)
        with self._write(actor) as (conn, record), no_gc():
            gid = self._group_id(conn, group)
            settings = self._settings(conn, gid)
            stored = self._existing(conn, gid, _codes_of(batch))
            added = _in_code_order(validated_new_codes(group, settings, set(stored), batch))
            if not added:
                return
            self._insert(conn, gid, added, {}, progress)
            self._journal_codes(conn, group, [e.code for e in added])
            record(group, Action.CODES_ADD, _codes_detail(added, settings.mode))

    def edit_codes(self, group: str, descriptions: Mapping[str, str | None], *, actor: str) -> None:
        """Set the descriptions of many codes at once (``None`` clears one), as the book does.

        Runtime complexity: O(k log n) for k codes.
        """
        _check_actor(actor)
        with self._write(actor) as (conn, record):
            gid = self._group_id(conn, group)
            scratch = self._scratch(conn, gid, group, list(descriptions))
            before = {code: scratch.get(group, code) for code in descriptions}
            scratch.edit_codes(group, descriptions)
            self._store_edits(
                conn, record, scratch, group=group, gid=gid, before=before, action=Action.CODES_EDIT
            )

    def update_codes(self, group: str, entries: Iterable[CodeEntry], *, actor: str) -> None:
        """Replace existing codes' entries wholly, as ``CodeBook.update_codes``; uses are kept.

        Runtime complexity: O(k log n) for k codes.
        """
        _check_actor(actor)
        batch = list(entries)
        codes = [e.code for e in batch if isinstance(e, CodeEntry)]
        with self._write(actor) as (conn, record):
            gid = self._group_id(conn, group)
            scratch = self._scratch(conn, gid, group, codes)
            before = {code: scratch.get(group, code) for code in codes}
            scratch.update_codes(group, batch)
            self._store_edits(
                conn,
                record,
                scratch,
                group=group,
                gid=gid,
                before=before,
                action=Action.CODES_UPDATE,
            )

    def modify_codes(
        self,
        group: str,
        codes: Iterable[str],
        change: Callable[[CodeEntry], CodeEntry],
        *,
        actor: str,
    ) -> list[CodeEntry]:
        """Apply *change* to the entries of *codes* and write them back: one transaction.

        Every code must be on the list (each one that is not is reported, as ``edit_codes``
        reports it); *change* returns the new entry for the same code. Returns the new entries.
        Runtime complexity: O(k log n) for k codes.
        """
        _check_actor(actor)
        wanted = list(dict.fromkeys(codes))
        with self._write(actor) as (conn, record):
            gid = self._group_id(conn, group)
            scratch = self._scratch(conn, gid, group, wanted)
            before = {code: scratch.get(group, code) for code in wanted}
            # Editing each known code's description to itself reports unknown codes exactly as
            # a bulk edit does, and changes nothing else.
            scratch.edit_codes(
                group, {code: e.description if e else None for code, e in before.items()}
            )
            changed = [change(entry) for entry in before.values() if entry is not None]
            for old_code, new in zip(before, changed, strict=True):
                if not isinstance(new, CodeEntry) or new.code != old_code:
                    raise InvalidValueError(
                        "change", new, f"must return the entry of code {old_code!r}, changed"
                    )
            scratch.update_codes(group, changed)
            self._store_edits(
                conn, record, scratch, group=group, gid=gid, before=before, action=Action.CODES_EDIT
            )
            return changed

    def _store_edits(
        self,
        conn: sqlite3.Connection,
        record: _Recorder,
        scratch: CodeBook,
        *,
        group: str,
        gid: int,
        before: Mapping[str, CodeEntry | None],
        action: Action,
    ) -> None:
        mode = scratch.group(group).mode
        edits: list[tuple[CodeEntry, CodeEntry]] = []
        for code, old in before.items():
            new = scratch.get(group, code)
            if old is not None and new is not None and new != old:
                edits.append((old, new))
        if not edits:
            return
        conn.executemany(
            "UPDATE policy_codes SET description = ?, level = ?, valid_from = ?, "
            "valid_until = ?, max_uses = ? WHERE group_id = ? AND code = ?",
            [
                (
                    new.description,
                    new.level,
                    None if new.valid_from is None else _stamp(new.valid_from, "valid_from"),
                    None if new.valid_until is None else _stamp(new.valid_until, "valid_until"),
                    new.max_uses,
                    gid,
                    new.code,
                )
                for _old, new in edits
            ],
        )
        self._journal_codes(conn, group, [new.code for _old, new in edits])
        record(group, action, _edits_detail(edits, mode))

    def delete_codes(self, group: str, codes: Iterable[str], *, actor: str) -> None:
        """Delete a selection of codes in one all-or-nothing batch, as ``CodeBook.delete_codes``.

        Runtime complexity: O(k log n) for k codes.
        """
        _check_actor(actor)
        batch = list(codes)
        with self._write(actor) as (conn, record):
            gid = self._group_id(conn, group)
            scratch = self._scratch(conn, gid, group, batch)
            gone = [scratch.get(group, code) for code in dict.fromkeys(batch)]
            scratch.delete_codes(group, batch)
            deleted = [entry for entry in gone if entry is not None]
            if not deleted:
                return
            conn.executemany(
                "DELETE FROM policy_codes WHERE group_id = ? AND code = ?",
                [(gid, entry.code) for entry in deleted],
            )
            self._journal_codes(conn, group, [entry.code for entry in deleted])
            record(group, Action.CODES_DELETE, _codes_detail(deleted, scratch.group(group).mode))

    def _scratch(
        self, conn: sqlite3.Connection, gid: int, group: str, codes: Sequence[object]
    ) -> CodeBook:
        """A book holding the group's settings and the stored entries of *codes*.

        A change is applied to it first, so the core checks it exactly as a real book would.
        """
        scratch = _scratch_for(group, self._settings(conn, gid))
        scratch.add_codes(group, list(self._entries(conn, gid, _codes_of(codes)).values()))
        return scratch

    # -- use counts and locks -------------------------------------------------------------------

    def consume(self, group: str, code: str) -> bool:
        """Count one use of a use-limited code; False when it has none left (or is not listed).

        Atomic across threads and processes: two callers racing for the last use cannot both
        win. Codes without ``max_uses`` are not counted and always succeed, as in the book.
        Runtime complexity: O(log n).
        """
        with self._transaction(write=True) as conn:
            gid = self._group_id(conn, group)
            counted = conn.execute(
                "UPDATE policy_codes SET uses = uses + 1 "
                "WHERE group_id = ? AND code = ? AND max_uses IS NOT NULL AND uses < max_uses",
                (gid, code),
            ).rowcount
            if counted:
                self._journal(conn, group, "code", code)
                return True
            row = conn.execute(
                "SELECT max_uses FROM policy_codes WHERE group_id = ? AND code = ?", (gid, code)
            ).fetchone()
            return row is not None and row[0] is None

    def lock(self, lock: Lock, *, actor: str) -> None:
        """Put a user or group lock in place (replacing an earlier one), as ``CodeBook.lock``.

        Runtime complexity: O(log u).
        """
        _check_actor(actor)
        with self._write(actor) as (conn, record):
            if not isinstance(lock, Lock):
                raise InvalidValueError("lock", lock, "must be a Lock")
            gid = self._group_id(conn, lock.group)
            _scratch_for(lock.group, GroupSettings()).lock(lock)
            conn.execute(
                "INSERT OR REPLACE INTO policy_locks (group_id, whole_group, user, since, until) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    gid,
                    int(lock.user is None),
                    lock.user or "",
                    _stamp(lock.since, "since"),
                    None if lock.until is None else _stamp(lock.until, "until"),
                ),
            )
            self._journal(conn, lock.group, "locks")
            record(lock.group, Action.LOCK, _lock_detail(lock))

    def unlock(self, group: str, user: str | None = None, *, actor: str) -> bool:
        """Lift the lock on *user*, or on the whole group when *user* is None.

        Returns whether a lock was lifted (only then is an audit record written).
        Runtime complexity: O(log u).
        """
        _check_actor(actor)
        with self._write(actor) as (conn, record):
            gid = self._group_id(conn, group)
            held = [lock for lock in self._locks(conn, gid, group) if lock.user == user]
            if not held:
                return False
            conn.execute(
                "DELETE FROM policy_locks WHERE group_id = ? AND whole_group = ? AND user = ?",
                (gid, int(user is None), user or ""),
            )
            self._journal(conn, group, "locks")
            record(group, Action.UNLOCK, _lock_detail(held[0]))
            return True

    # -- dial plans -----------------------------------------------------------------------------

    def dialplan(self, group: str) -> DialPlan | None:
        """The dial plan of *group*, or None when it has none. Runtime complexity: O(1)."""
        with self._transaction(write=False) as conn:
            return self._dialplan(conn, self._group_id(conn, group))

    def dialplans(self) -> dict[str, DialPlan]:
        """Every stored dial plan by group name, for a softswitch to load at start.

        Groups without a plan are left out. ``version`` moves on when a plan changes.
        Runtime complexity: O(p) for p plans.
        """
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT g.name, d.plan FROM policy_dialplans d "
                "JOIN policy_groups g ON g.id = d.group_id ORDER BY g.name"
            ).fetchall()
        return {name: DialPlan.from_dict(json.loads(plan)) for name, plan in rows}

    def set_dialplan(self, group: str, plan: DialPlan | None, *, actor: str) -> None:
        """Give *group* a dial plan, or remove its plan with None (audited as a group update).

        Raises :class:`UnknownGroupError` for a group that does not exist. Runtime complexity:
        O(1).
        """
        _check_actor(actor)
        if plan is not None:
            _check_plan(plan)
        with self._write(actor) as (conn, record):
            gid = self._group_id(conn, group)
            old = self._dialplan(conn, gid)
            if old == plan:
                return
            self._put_dialplan(conn, group, gid, plan)
            record(group, Action.GROUP_UPDATE, _plan_diff(old, plan))

    @staticmethod
    def _dialplan(conn: sqlite3.Connection, gid: int) -> DialPlan | None:
        row = conn.execute(
            "SELECT plan FROM policy_dialplans WHERE group_id = ?", (gid,)
        ).fetchone()
        return None if row is None else DialPlan.from_dict(json.loads(row[0]))

    def _put_dialplan(
        self, conn: sqlite3.Connection, group: str, gid: int, plan: DialPlan | None
    ) -> None:
        if plan is None:
            conn.execute("DELETE FROM policy_dialplans WHERE group_id = ?", (gid,))
        else:
            conn.execute(
                "INSERT INTO policy_dialplans (group_id, plan) VALUES (?, ?) "
                "ON CONFLICT (group_id) DO UPDATE SET plan = excluded.plan",
                (gid, json.dumps(plan.to_dict(), ensure_ascii=False)),
            )
        self._journal(conn, group, "dialplan")

    # -- journal and audit ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self, actor: str) -> Iterator[tuple[sqlite3.Connection, _Recorder]]:
        """A write transaction with a recorder that adds audit records to it."""
        with self._transaction(write=True) as conn:
            at = _stamp(self._clock(), "clock()")

            def record(group: str, action: Action, detail: Mapping[str, Any]) -> None:
                conn.execute(
                    "INSERT INTO policy_audit (at, actor, grp, action, detail) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (at, actor, group, action.value, json.dumps(detail, ensure_ascii=False)),
                )

            yield conn, record
            conn.execute(
                "DELETE FROM policy_changes WHERE seq <= (SELECT max(seq) FROM policy_changes) - ?",
                (JOURNAL_KEEP,),
            )

    @staticmethod
    def _journal(conn: sqlite3.Connection, group: str, kind: str, code: str | None = None) -> None:
        conn.execute(
            "INSERT INTO policy_changes (grp, kind, code) VALUES (?, ?, ?)", (group, kind, code)
        )

    def _journal_codes(self, conn: sqlite3.Connection, group: str, codes: list[str]) -> None:
        if len(codes) > _BULK_JOURNAL:
            self._journal(conn, group, "group")
        else:
            conn.executemany(
                "INSERT INTO policy_changes (grp, kind, code) VALUES (?, 'code', ?)",
                [(group, code) for code in codes],
            )


_Recorder = Callable[[str, Action, Mapping[str, Any]], None]


def _entry_reader() -> Callable[..., CodeEntry]:
    """A reader of whole stored rows into entries (trusted: validated when written)."""
    return cast(Callable[..., CodeEntry], row_readers({})[0])


def _scratch_for(group: str, settings: GroupSettings) -> CodeBook:
    """An empty book with *group* set up: where the core checks a change before it is written."""
    scratch = CodeBook()
    scratch.set_group(group, settings)
    return scratch


def _codes_of(items: Sequence[object]) -> list[str]:
    """The codes named by a batch's items (entries or strings); anything else is left out."""
    return [
        item.code if isinstance(item, CodeEntry) else item
        for item in items
        if isinstance(item, CodeEntry | str)
    ]


def _in_code_order(entries: list[CodeEntry]) -> list[CodeEntry]:
    """Sort a batch by code: B-tree inserts in key order are the fastest."""
    entries.sort(key=_CODE_OF)
    return entries


def _check_actor(actor: object) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidValueError(
            "actor", actor, "name who makes the change (a non-empty string) for the audit trail"
        )


def _stamp(when: object, name: str) -> str:
    """A time as stored: ISO 8601 in UTC with microseconds, so text order is time order."""
    if not isinstance(when, datetime) or when.utcoffset() is None:
        raise InvalidValueError(name, when, "must be a timezone-aware datetime (use UTC)")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _sync_locks(book: CodeBook, group: str, stored: list[Lock]) -> None:
    wanted = {lock.user: lock for lock in stored}
    for lock in book.locks(group):
        if lock.user not in wanted:
            book.unlock(group, lock.user)
    held = {lock.user: lock for lock in book.locks(group)}
    for user, lock in wanted.items():
        if held.get(user) != lock:
            book.lock(lock)


def _settings_detail(settings: GroupSettings) -> dict[str, Any]:
    return settings_to_dict(settings)


def _settings_diff(old: GroupSettings, new: GroupSettings) -> dict[str, Any]:
    before, after = settings_to_dict(old), settings_to_dict(new)
    changed: dict[str, Any] = {
        key: {"from": before[key], "to": after[key]}
        for key in after
        if before.get(key) != after[key]
    }
    for kind in ("mandatory_users", "optional_users"):
        was, now = getattr(old, kind), getattr(new, kind)
        if was != now:
            changed[kind] = {"added": sorted(now - was), "removed": sorted(was - now)}
    return {"changed": changed}


def _codes_detail(entries: Sequence[CodeEntry], mode: Mode, key: str = "codes") -> dict[str, Any]:
    detail: dict[str, Any] = {
        "count": len(entries),
        key: [entry_for_audit(e, mode) for e in entries[:MAX_DETAIL_CODES]],
    }
    return detail


def _edits_detail(edits: Sequence[tuple[CodeEntry, CodeEntry]], mode: Mode) -> dict[str, Any]:
    shown = []
    for old, new in edits[:MAX_DETAIL_CODES]:
        before, after = entry_for_audit(old, mode), entry_for_audit(new, mode)
        fields = sorted((before.keys() | after.keys()) - {"code"})
        shown.append(
            {
                "code": code_for_audit(new.code, mode),
                "changed": {
                    f: {"from": before.get(f), "to": after.get(f)}
                    for f in fields
                    if before.get(f) != after.get(f)
                },
            }
        )
    return {"count": len(edits), "codes": shown}


def _check_plan(plan: object) -> DialPlan:
    if not isinstance(plan, DialPlan):
        raise InvalidValueError("dialplan", plan, "give a callcodes.DialPlan, or None to remove")
    return plan


def _plan_diff(old: DialPlan | None, new: DialPlan | None) -> dict[str, Any]:
    """The fields of a dial plan that changed, as ``dialplan.FIELD``: {from, to}."""
    before = {} if old is None else old.to_dict()
    after = {} if new is None else new.to_dict()
    changed = {
        f"dialplan.{key}": {"from": before.get(key), "to": after.get(key)}
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key) and (before.get(key) or after.get(key))
    }
    return {"changed": changed}


def _lock_detail(lock: Lock) -> dict[str, Any]:
    return {
        "user": lock.user,
        "since": lock.since.isoformat(),
        "until": None if lock.until is None else lock.until.isoformat(),
    }
