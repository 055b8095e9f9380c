"""The policy store's row operations in SQL: the queries of a transaction, on either database.

:class:`SqlTransaction` is the :class:`~callcodes.store.backend.Transaction` of the SQLite and
the PostgreSQL stores, on a connection inside a transaction. The statements are written once in
the SQL both take (``?`` parameters, which the PostgreSQL connection turns into its own;
``"user"`` quoted; ``RETURNING``; ``ON CONFLICT``), so the two stores cannot drift apart. It
checks nothing: the store hands it validated values. Times are stored as ISO 8601 text in UTC
with microseconds (``_timefmt.iso``), so text order is time order; durations as whole
microseconds; call type lists and levels as JSON.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from .._timefmt import ONE_MICROSECOND, iso, zone
from ..core.loader import GroupLoader
from ..core.model import CallType, CodeEntry, GroupSettings, Lock, Lockout, Mode
from ..core.plain import entry_reader, fraud_to_dict, with_fraud
from ..dialplan.plan import DialPlan
from .audit import Action, AuditRecord
from .backend import AuditQuery, Change
from .sqlite_schema import CODE_COLUMNS, ENTRY_COLUMNS, LIMITED, SETTINGS_COLUMNS

__all__ = ["SqlTransaction"]

#: The policy schema version that brought the secret (``policy_secret``).
_SECRET_VERSION: Final = 4
#: ``LIMIT`` without a limit, in the SQL both databases take (SQLite's -1 is refused by PostgreSQL).
_NO_LIMIT: Final = 1 << 62
_IN_CHUNK: Final = 500  # codes per "IN (...)" query, well under SQLite's parameter limit
_WRITE_CHUNK: Final = 100_000  # codes per executemany, between progress reports
#: The user directory's table (``directory_sql`` creates it on the directory's first write).
_DIRECTORY_TABLE: Final = "directory_users"
# Stored times were written by iso(), so they parse without further checks.
_from_text: Final = datetime.fromisoformat


def _text(when: datetime | None) -> str | None:
    return None if when is None else iso(when)


def _marks(chunk: Sequence[object]) -> str:
    return ",".join("?" * len(chunk))


class SqlTransaction:
    """The row operations of one transaction on a policy store's SQLite connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @property
    def connection(self) -> Any:
        """The connection inside this transaction, for components kept beside the policy."""
        return self._conn

    # -- groups and settings ----------------------------------------------------------------------

    def find_group(self, name: str) -> int | None:
        """The id of the group named *name*, or None."""
        row = self._conn.execute("SELECT id FROM policy_groups WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def names(self) -> dict[str, int]:
        """Every group's id by its name, in name order."""
        return dict(
            self._conn.execute("SELECT name, id FROM policy_groups ORDER BY name").fetchall()
        )

    def settings(self, gid: int) -> GroupSettings:
        """The settings of the group, its users included."""
        row = self._conn.execute(
            f"SELECT {SETTINGS_COLUMNS} FROM policy_groups WHERE id = ?",  # noqa: S608
            (gid,),
        ).fetchone()
        users: dict[str, set[str]] = {"mandatory": set(), "optional": set()}
        for user, kind in self._conn.execute(
            'SELECT "user", list FROM policy_users WHERE group_id = ?', (gid,)
        ):
            users[kind].add(user)
        settings = GroupSettings(
            mode=Mode(row[0]),
            code_length=row[1],
            allow_local_and_toll_free=bool(row[2]),
            max_attempts=row[3],
            coded_call_types=frozenset(CallType(t) for t in json.loads(row[4])),
            min_levels={CallType(k): v for k, v in json.loads(row[5]).items()},
            lockout=Lockout(
                user_attempts=row[6],
                user_window=row[7] * ONE_MICROSECOND,
                group_attempts=row[8],
                group_window=row[9] * ONE_MICROSECOND,
                lock_for=None if row[10] is None else row[10] * ONE_MICROSECOND,
            ),
            code_prefix=row[11],
            mandatory_users=frozenset(users["mandatory"]),
            optional_users=frozenset(users["optional"]),
        )
        if row[12] is None:  # a group written before version 6: the defaults
            return settings
        return with_fraud(settings, json.loads(row[12]), zone=zone)

    def put_settings(self, name: str, gid: int | None, settings: GroupSettings) -> int:
        """Write the settings and users of a group (a new one when *gid* is None); its id."""
        lockout = settings.lockout
        values = (
            settings.mode.value,
            settings.code_length,
            int(settings.allow_local_and_toll_free),
            settings.max_attempts,
            json.dumps(sorted(t.value for t in settings.coded_call_types)),
            json.dumps({k.value: v for k, v in sorted(settings.min_levels.items())}),
            lockout.user_attempts,
            lockout.user_window // ONE_MICROSECOND,
            lockout.group_attempts,
            lockout.group_window // ONE_MICROSECOND,
            None if lockout.lock_for is None else lockout.lock_for // ONE_MICROSECOND,
            settings.code_prefix,
            json.dumps(fraud_to_dict(settings)),
        )
        conn = self._conn
        if gid is None:
            gid = int(
                conn.execute(
                    f"INSERT INTO policy_groups (name, {SETTINGS_COLUMNS}) "  # noqa: S608
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (name, *values),
                ).fetchone()[0]
            )
        else:
            assignments = ", ".join(f"{c.strip()} = ?" for c in SETTINGS_COLUMNS.split(","))
            conn.execute(
                f"UPDATE policy_groups SET {assignments} WHERE id = ?",  # noqa: S608
                (*values, gid),
            )
            conn.execute("DELETE FROM policy_users WHERE group_id = ?", (gid,))
        conn.executemany(
            'INSERT INTO policy_users (group_id, "user", list) VALUES (?, ?, ?)',
            [(gid, user, "mandatory") for user in sorted(settings.mandatory_users)]
            + [(gid, user, "optional") for user in sorted(settings.optional_users)],
        )
        return gid

    def remove_group(self, gid: int) -> int:
        """Delete the group with its users, codes, locks, dial plan and provider (its row)."""
        conn = self._conn
        removed = conn.execute("DELETE FROM policy_codes WHERE group_id = ?", (gid,)).rowcount
        for table in ("policy_users", "policy_locks", "policy_dialplans"):
            conn.execute(f"DELETE FROM {table} WHERE group_id = ?", (gid,))  # noqa: S608
        conn.execute("DELETE FROM policy_groups WHERE id = ?", (gid,))
        return int(removed)

    def provider(self, gid: int) -> str | None:
        """The service provider the group belongs to, or None."""
        row = self._conn.execute(
            "SELECT provider FROM policy_groups WHERE id = ?", (gid,)
        ).fetchone()
        return None if row is None else row[0]

    def providers(self) -> dict[str, str | None]:
        """Every group's service provider (None: none) by group name, in name order."""
        return dict(
            self._conn.execute("SELECT name, provider FROM policy_groups ORDER BY name").fetchall()
        )

    def put_provider(self, gid: int, provider: str | None) -> None:
        """Write the group's service provider, or clear it with None."""
        self._conn.execute("UPDATE policy_groups SET provider = ? WHERE id = ?", (provider, gid))

    # -- the user directory (component ``directory``, tables in ``directory_sql``) ---------------

    def _has_directory(self) -> bool:
        return self._has_component("directory")

    def _has_component(self, component: str) -> bool:
        """Whether the component's tables exist (its row of ``callcodes_schema``), portably."""
        return (
            self._conn.execute(
                "SELECT 1 FROM callcodes_schema WHERE component = ? AND version > 0", (component,)
            ).fetchone()
            is not None
        )

    def remove_group_accounts(self, group: str) -> list[str]:
        """Delete the group accounts of *group* with their tokens; their names, sorted.

        A file without the accounts' tables has none.
        """
        if not self._has_component("accounts"):
            return []
        names = [
            str(row[0])
            for row in self._conn.execute(
                "SELECT name FROM accounts_accounts WHERE role = 'group' AND scope = ? "
                "ORDER BY name",
                (group,),
            )
        ]
        self._conn.executemany(
            "DELETE FROM accounts_tokens WHERE account = ?", ((name,) for name in names)
        )
        self._conn.execute(
            "DELETE FROM accounts_accounts WHERE role = 'group' AND scope = ?", (group,)
        )
        return names

    def directory_ids(self, group: str) -> frozenset[str]:
        """The user ids in the user directory of *group*: empty when it has none (or no table)."""
        if not self._has_directory():
            return frozenset()
        return frozenset(
            row[0]
            for row in self._conn.execute(
                f"SELECT user_id FROM {_DIRECTORY_TABLE} WHERE grp = ?",  # noqa: S608
                (group,),
            )
        )

    def remove_directory(self, group: str) -> None:
        """Delete the user directory of *group*; a file without directory tables is left as is."""
        if self._has_directory():
            self._conn.execute(
                f"DELETE FROM {_DIRECTORY_TABLE} WHERE grp = ?",  # noqa: S608
                (group,),
            )

    # -- codes ------------------------------------------------------------------------------------

    def count(self, gid: int) -> int:
        """How many codes the group holds."""
        return int(
            self._conn.execute(
                "SELECT count(*) FROM policy_codes WHERE group_id = ?", (gid,)
            ).fetchone()[0]
        )

    def entries(self, gid: int, codes: Sequence[str]) -> dict[str, CodeEntry]:
        """The stored entries among *codes* (which may repeat), by code."""
        wanted = sorted(set(codes))
        found: dict[str, CodeEntry] = {}
        read = entry_reader(_from_text)
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            for row in self._conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM policy_codes "  # noqa: S608
                f"WHERE group_id = ? AND code IN ({_marks(chunk)})",
                (gid, *chunk),
            ):
                entry = read(*row)
                found[entry.code] = entry
        return found

    def existing(self, gid: int, codes: list[str]) -> list[str]:
        """Which of *codes* the group holds; one scan when the batch is as big as the group."""
        total = self.count(gid)
        if total == 0:
            return []
        if total <= len(codes):
            wanted = set(codes)
            return [
                code
                for (code,) in self._conn.execute(
                    "SELECT code FROM policy_codes WHERE group_id = ?", (gid,)
                )
                if code in wanted
            ]
        return list(self.entries(gid, codes))

    def page(self, gid: int, prefix: str, after: str | None, limit: int | None) -> list[CodeEntry]:
        """Entries in code order: codes starting with *prefix*, after *after*, at most *limit*."""
        low, inclusive = prefix, True
        if after is not None and after >= low:
            low, inclusive = after, False
        sql = (
            f"SELECT {ENTRY_COLUMNS} FROM policy_codes WHERE group_id = ? "  # noqa: S608
            f"AND code {'>=' if inclusive else '>'} ? AND code < ? ORDER BY code LIMIT ?"
        )
        # Codes are ASCII digits and ':' sorts right after '9': prefix + ':' bounds them all.
        cursor = self._conn.execute(
            sql, (gid, low, prefix + ":", _NO_LIMIT if limit is None else limit)
        )
        return list(itertools.starmap(entry_reader(_from_text), cursor))

    def read_codes(self, gid: int, loader: GroupLoader) -> None:
        """Give every code row of the group, with its use count, to *loader*."""
        # One scan reads the code, the description and whether the row holds more; most codes
        # hold only a description, and three columns read a third faster than eight. The few
        # others are then read whole by their codes.
        limited = loader.add_rows(
            self._conn.execute(
                f"SELECT code, description, {LIMITED} FROM policy_codes "  # noqa: S608
                "WHERE group_id = ?",
                (gid,),
            )
        )
        for start in range(0, len(limited), _IN_CHUNK):
            chunk = limited[start : start + _IN_CHUNK]
            loader.add_full(
                (code, description, level, _time(valid_from), _time(valid_until), most, uses, hours)
                for code, description, level, valid_from, valid_until, most, hours, uses in (
                    self._conn.execute(
                        f"SELECT {CODE_COLUMNS} FROM policy_codes "  # noqa: S608
                        f"WHERE group_id = ? AND code IN ({_marks(chunk)})",
                        (gid, *chunk),
                    )
                )
            )

    def insert_codes(
        self,
        gid: int,
        entries: Sequence[CodeEntry],
        uses: Mapping[str, int],
        progress: Callable[[int], None] | None,
    ) -> None:
        """Add new codes in code order, with the use counts in *uses* (else 0)."""
        sql = (
            f"INSERT INTO policy_codes (group_id, {CODE_COLUMNS}) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        get = uses.get
        for start in range(0, len(entries), _WRITE_CHUNK):
            chunk = entries[start : start + _WRITE_CHUNK]
            # Most codes have only a description: three columns bind faster than eight.
            self._conn.executemany(
                "INSERT INTO policy_codes (group_id, code, description) VALUES (?, ?, ?)",
                [
                    (gid, e.code, e.description)
                    for e in chunk
                    if e.max_uses is None
                    and e.valid_from is None
                    and e.valid_until is None
                    and not e.level
                    and e.hours is None
                    and (not uses or e.code not in uses)
                ],
            )
            self._conn.executemany(
                sql,
                [
                    (
                        gid,
                        e.code,
                        e.description,
                        e.level,
                        _text(e.valid_from),
                        _text(e.valid_until),
                        e.max_uses,
                        None if e.hours is None else str(e.hours),
                        get(e.code, 0),
                    )
                    for e in chunk
                    if e.max_uses is not None
                    or e.valid_from is not None
                    or e.valid_until is not None
                    or e.level
                    or e.hours is not None
                    or (uses and e.code in uses)
                ],
            )
            if progress is not None:
                progress(len(chunk))

    def replace_codes(
        self, gid: int, entries: Sequence[CodeEntry], progress: Callable[[int], None] | None
    ) -> int:
        """Put *entries* in place of the group's codes, keeping the counts of codes that stay."""
        kept = dict(
            self._conn.execute(
                "SELECT code, uses FROM policy_codes WHERE group_id = ? AND uses > 0", (gid,)
            ).fetchall()
        )
        removed = self._conn.execute("DELETE FROM policy_codes WHERE group_id = ?", (gid,)).rowcount
        self.insert_codes(gid, entries, kept, progress)
        return int(removed)

    def update_codes(self, gid: int, entries: Sequence[CodeEntry]) -> None:
        """Write new entries for stored codes; their use counts stay."""
        self._conn.executemany(
            "UPDATE policy_codes SET description = ?, level = ?, valid_from = ?, "
            "valid_until = ?, max_uses = ?, hours = ? WHERE group_id = ? AND code = ?",
            [
                (
                    e.description,
                    e.level,
                    _text(e.valid_from),
                    _text(e.valid_until),
                    e.max_uses,
                    None if e.hours is None else str(e.hours),
                    gid,
                    e.code,
                )
                for e in entries
            ],
        )

    def delete_codes(self, gid: int, codes: Sequence[str]) -> None:
        """Delete stored codes with their use counts."""
        self._conn.executemany(
            "DELETE FROM policy_codes WHERE group_id = ? AND code = ?",
            [(gid, code) for code in codes],
        )

    # -- use counts and locks ---------------------------------------------------------------------

    def use_count(self, gid: int, code: str) -> int:
        """How many uses the code has had (0 when it is not stored)."""
        row = self._conn.execute(
            "SELECT uses FROM policy_codes WHERE group_id = ? AND code = ?", (gid, code)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def use_counts(self, gid: int, codes: Sequence[str]) -> dict[str, int]:
        """The use counts a book holds for *codes*: use-limited codes only, capped at the limit."""
        counts: dict[str, int] = {}
        for start in range(0, len(codes), _IN_CHUNK):
            chunk = list(codes[start : start + _IN_CHUNK])
            counts.update(
                self._conn.execute(
                    # The smaller of the two, in the SQL both databases take (not min(a, b)).
                    "SELECT code, CASE WHEN uses < max_uses THEN uses ELSE max_uses END "  # noqa: S608
                    "FROM policy_codes WHERE group_id = ? AND max_uses IS NOT NULL "
                    f"AND code IN ({_marks(chunk)})",
                    (gid, *chunk),
                ).fetchall()
            )
        return counts

    def count_use(self, gid: int, code: str) -> bool:
        """Count one use of a use-limited code that has uses left, atomically; whether it did."""
        return bool(
            self._conn.execute(
                "UPDATE policy_codes SET uses = uses + 1 "
                "WHERE group_id = ? AND code = ? AND max_uses IS NOT NULL AND uses < max_uses",
                (gid, code),
            ).rowcount
        )

    def unlimited(self, gid: int, code: str) -> bool:
        """Whether the code is stored without a use limit."""
        row = self._conn.execute(
            "SELECT max_uses FROM policy_codes WHERE group_id = ? AND code = ?", (gid, code)
        ).fetchone()
        return row is not None and row[0] is None

    def locks(self, gid: int, name: str) -> list[Lock]:
        """The group's locks (named *name*), group lock first, then users in order."""
        return [
            Lock(name, None if whole else user, _from_text(since), _time(until))
            for whole, user, since, until in self._conn.execute(
                'SELECT whole_group, "user", since, until FROM policy_locks WHERE group_id = ? '
                'ORDER BY whole_group DESC, "user"',
                (gid,),
            )
        ]

    def put_lock(self, gid: int, lock: Lock) -> None:
        """Write a lock, replacing one on the same user (or the group's)."""
        self._conn.execute(
            'INSERT INTO policy_locks (group_id, whole_group, "user", since, until) '
            'VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_id, whole_group, "user") '
            "DO UPDATE SET since = excluded.since, until = excluded.until",
            (gid, int(lock.user is None), lock.user or "", iso(lock.since), _text(lock.until)),
        )

    def delete_lock(self, gid: int, user: str | None) -> None:
        """Delete the lock on *user* (None: the group's lock)."""
        self._conn.execute(
            'DELETE FROM policy_locks WHERE group_id = ? AND whole_group = ? AND "user" = ?',
            (gid, int(user is None), user or ""),
        )

    def suspended(self, gid: int) -> dict[str, datetime]:
        """The group's suspended codes and since when, in code order."""
        return {
            code: _from_text(since)
            for code, since in self._conn.execute(
                "SELECT code, suspended FROM policy_codes "
                "WHERE group_id = ? AND suspended IS NOT NULL ORDER BY code",
                (gid,),
            )
        }

    def put_suspended(self, gid: int, code: str, since: datetime | None) -> bool:
        """Suspend *code* from *since* (None: restore it); False when it is not stored."""
        cursor = self._conn.execute(
            "UPDATE policy_codes SET suspended = ? WHERE group_id = ? AND code = ?",
            (_text(since), gid, code),
        )
        return bool(cursor.rowcount > 0)

    # -- dial plans -------------------------------------------------------------------------------

    def dialplan(self, gid: int) -> DialPlan | None:
        """The group's dial plan, or None."""
        row = self._conn.execute(
            "SELECT plan FROM policy_dialplans WHERE group_id = ?", (gid,)
        ).fetchone()
        return None if row is None else DialPlan.from_dict(json.loads(row[0]))

    def dialplans(self) -> dict[str, DialPlan]:
        """Every stored dial plan by group name, in name order."""
        rows = self._conn.execute(
            "SELECT g.name, d.plan FROM policy_dialplans d "
            "JOIN policy_groups g ON g.id = d.group_id ORDER BY g.name"
        ).fetchall()
        return {name: DialPlan.from_dict(json.loads(plan)) for name, plan in rows}

    def put_dialplan(self, gid: int, plan: DialPlan | None) -> None:
        """Write the group's dial plan (as the JSON of ``to_dict()``), or delete it with None."""
        if plan is None:
            self._conn.execute("DELETE FROM policy_dialplans WHERE group_id = ?", (gid,))
        else:
            self._conn.execute(
                "INSERT INTO policy_dialplans (group_id, plan) VALUES (?, ?) "
                "ON CONFLICT (group_id) DO UPDATE SET plan = excluded.plan",
                (gid, json.dumps(plan.to_dict(), ensure_ascii=False)),
            )

    # -- the change journal and the audit trail ---------------------------------------------------

    def head(self) -> int:
        """The number of the last journal entry (0 when there is none yet)."""
        return int(
            self._conn.execute("SELECT coalesce(max(seq), 0) FROM policy_changes").fetchone()[0]
        )

    def oldest(self) -> int | None:
        """The number of the oldest journal entry kept, or None when none is."""
        found = self._conn.execute("SELECT min(seq) FROM policy_changes").fetchone()[0]
        return None if found is None else int(found)

    def changes(self, after: int) -> Iterator[Change]:
        """The journal entries after number *after*, in order."""
        return iter(
            self._conn.execute(
                "SELECT grp, kind, code FROM policy_changes WHERE seq > ? ORDER BY seq", (after,)
            )
        )

    def journal(self, group: str, kind: str, code: str | None = None) -> None:
        """Add one journal entry."""
        self._conn.execute(
            "INSERT INTO policy_changes (grp, kind, code) VALUES (?, ?, ?)", (group, kind, code)
        )

    def journal_codes(self, group: str, codes: Sequence[str]) -> None:
        """Add one ``code`` journal entry per code."""
        self._conn.executemany(
            "INSERT INTO policy_changes (grp, kind, code) VALUES (?, 'code', ?)",
            [(group, code) for code in codes],
        )

    def rewrite_audit(self, group: str, rewrite: Callable[[Any], Any]) -> None:
        """Put ``rewrite(detail)`` in place of the detail of each of *group*'s audit records."""
        rows = self._conn.execute(
            "SELECT id, detail FROM policy_audit WHERE grp = ?", (group,)
        ).fetchall()
        changed = []
        for row_id, text in rows:
            new = json.dumps(rewrite(json.loads(text)), ensure_ascii=False)
            if new != text:
                changed.append((new, row_id))
        self._conn.executemany("UPDATE policy_audit SET detail = ? WHERE id = ?", changed)

    def forget_journal_codes(self, group: str) -> None:
        """Turn *group*'s ``code`` entries into ``group`` entries: none names a code any more."""
        self._conn.execute(
            "UPDATE policy_changes SET kind = 'group', code = NULL WHERE grp = ? AND kind = 'code'",
            (group,),
        )

    def trim_journal(self, keep: int) -> None:
        """Delete all but the last *keep* journal entries."""
        self._conn.execute(
            "DELETE FROM policy_changes WHERE seq <= (SELECT max(seq) FROM policy_changes) - ?",
            (keep,),
        )

    def record(
        self,
        at: datetime,
        actor: str,
        group: str,
        action: Action,
        detail: Mapping[str, Any],
        *,
        fps: Sequence[str] = (),
    ) -> None:
        """Add one audit record (its detail as JSON) and its code fingerprints."""
        audit_id = self._conn.execute(
            "INSERT INTO policy_audit (at, actor, grp, action, detail) VALUES (?, ?, ?, ?, ?) "
            "RETURNING id",
            (iso(at), actor, group, action.value, json.dumps(detail, ensure_ascii=False)),
        ).fetchone()[0]
        if fps:
            self._conn.executemany(
                "INSERT INTO policy_audit_codes (audit_id, fp) VALUES (?, ?)",
                ((audit_id, fp) for fp in fps),
            )

    def secret(self) -> bytes | None:
        """The store's secret, or None (also in a file opened read-only before its upgrade)."""
        version = self._conn.execute(
            "SELECT version FROM callcodes_schema WHERE component = 'policy'"
        ).fetchone()
        if version is None or version[0] < _SECRET_VERSION:  # older than fingerprints
            return None
        row = self._conn.execute("SELECT secret FROM policy_secret WHERE id = 1").fetchone()
        return None if row is None else bytes(row[0])

    def audit(self, query: AuditQuery) -> list[AuditRecord]:
        """The audit records *query* asks for, in the order they were written."""
        where = ["id > ?"]
        args: list[object] = [query.after_id]
        for column, value in (
            ("grp", query.group),
            ("actor", query.actor),
            ("action", None if query.action is None else query.action.value),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.fp is not None:
            where.append("id IN (SELECT audit_id FROM policy_audit_codes WHERE fp = ?)")
            args.append(query.fp)
        for op, bound in ((">=", query.since), ("<", query.until)):
            if bound is not None:
                where.append(f"at {op} ?")
                args.append(iso(bound))
        args.append(_NO_LIMIT if query.limit is None else query.limit)
        sql = (
            "SELECT id, at, actor, grp, action, detail FROM policy_audit "  # noqa: S608
            f"WHERE {' AND '.join(where)} ORDER BY id {'DESC' if query.latest else ''} LIMIT ?"
        )
        rows = self._conn.execute(sql, args).fetchall()
        if query.latest:
            rows.reverse()
        return [
            AuditRecord(
                id=row[0],
                at=_from_text(row[1]),
                actor=row[2],
                group=row[3],
                action=Action(row[4]),
                detail=json.loads(row[5]),
            )
            for row in rows
        ]


def _time(text: str | None) -> datetime | None:
    return None if text is None else _from_text(text)
