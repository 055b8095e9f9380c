"""The policy store's SQLite tables: their forward migrations and the column lists queries use.

The policy component's tables are all named ``policy_*``, so other components (the event log)
can share the file; their version is the ``policy`` row of the shared ``callcodes_schema`` table
(``callcodes._sqlite``). A migration is never changed once released: a new version adds a step.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ADD_FRAUD",
    "ADD_HOURS",
    "ADD_PROVIDER",
    "ADD_SUSPENDED",
    "CODE_COLUMNS",
    "COMPONENT",
    "ENTRY_COLUMNS",
    "LIMITED",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SETTINGS_COLUMNS",
]

#: The component whose version ``callcodes_schema`` records for these tables.
COMPONENT: Final = "policy"

#: Forward migrations: step i takes the policy schema from version i to version i + 1, its
#: statements run in one transaction (so not with executescript, which commits on its own).
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
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
            "user" TEXT NOT NULL,
            list TEXT NOT NULL CHECK (list IN ('mandatory', 'optional')),
            PRIMARY KEY (group_id, "user")
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
            "user" TEXT NOT NULL,
            since TEXT NOT NULL,
            until TEXT,
            PRIMARY KEY (group_id, whole_group, "user")
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
    (
        # The store's secret: the key of the fingerprints that let the audit trail be searched
        # by code without holding any code (store/audit.py, code_fingerprint).
        """CREATE TABLE IF NOT EXISTS policy_secret (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            secret BLOB NOT NULL CHECK (length(secret) = 32)
        )""",
        # Fingerprints of every code an audit record names (all of a batch, also beyond what
        # the detail lists), so a record is found by any one of its codes.
        """CREATE TABLE IF NOT EXISTS policy_audit_codes (
            audit_id INTEGER NOT NULL,
            fp TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS policy_audit_codes_by_fp ON policy_audit_codes (fp, audit_id)",
    ),
    (
        # The service provider a group belongs to (BroadWorks: a service provider's groups),
        # or NULL: a column of the group's row, so removing the group removes it.
        "ALTER TABLE policy_groups ADD COLUMN provider TEXT",  # = ADD_PROVIDER
    ),
    (
        # Against stolen codes and call forwarding: a group's allowed hours, time zone, use
        # limits and redirect setting, as the JSON of those keys of settings_to_dict (NULL:
        # the defaults); when a code was suspended for a use limit (NULL: it is not); and
        # the hours a code may authorize in, as their text (NULL: any time).
        "ALTER TABLE policy_groups ADD COLUMN fraud TEXT",  # = ADD_FRAUD
        "ALTER TABLE policy_codes ADD COLUMN suspended TEXT",  # = ADD_SUSPENDED
        "ALTER TABLE policy_codes ADD COLUMN hours TEXT",  # = ADD_HOURS
    ),
)
#: The policy schema version this code writes (and the newest it reads).
SCHEMA_VERSION: Final = len(MIGRATIONS)
#: Version 5's step, which SQLite cannot write "if not exists" (``sqlite._migrations``).
ADD_PROVIDER: Final = MIGRATIONS[4][0]
#: Version 6's steps, which SQLite cannot write "if not exists" either.
ADD_FRAUD: Final = MIGRATIONS[5][0]
ADD_SUSPENDED: Final = MIGRATIONS[5][1]
ADD_HOURS: Final = MIGRATIONS[5][2]

#: A code's columns as an entry holds them.
ENTRY_COLUMNS: Final = "code, description, level, valid_from, valid_until, max_uses, hours"
#: A code's columns with its use count.
CODE_COLUMNS: Final = f"{ENTRY_COLUMNS}, uses"
#: Whether a code row holds anything beyond a description: a level, a window, a use limit or
#: hours.
LIMITED: Final = (
    "level <> 0 OR valid_from IS NOT NULL OR valid_until IS NOT NULL OR max_uses IS NOT NULL "
    "OR hours IS NOT NULL"
)
#: A group's settings columns, in the order queries read and write them.
SETTINGS_COLUMNS: Final = (
    "mode, code_length, allow_local_and_toll_free, max_attempts, coded_call_types, min_levels, "
    "lockout_user_attempts, lockout_user_window_us, lockout_group_attempts, "
    "lockout_group_window_us, lockout_lock_for_us, code_prefix, fraud"
)
