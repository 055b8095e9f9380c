"""The audit trail's values: one record per administrative change, and their CSV and JSON forms.

The policy store writes a record in the same transaction as each change it makes (so a change
without its record cannot exist) and reads them back as :class:`AuditRecord`. A record says who
(``actor``), when (aware UTC), which group, what kind of change (:class:`Action`) and what
changed (``detail``, plain JSON values).

Authorization codes are secrets: in a record they appear masked (one ``*`` per digit, the
event log's mask), with their description, unless the group is in account mode at the time of
the change, where codes are tracking labels and appear in clear. A group that is deactivated
may hold either kind, so its codes are masked too.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, TextIO

import attrs

from .._csvsafe import cell
from ..core.model import CodeEntry, Mode

__all__ = [
    "FINGERPRINT_HEX",
    "MAX_DETAIL_CODES",
    "Action",
    "AuditRecord",
    "code_fingerprint",
    "code_for_audit",
    "entry_for_audit",
    "settings_action",
    "write_csv",
    "write_json",
]

#: A record lists at most this many codes; a bigger batch is summed up by its count.
MAX_DETAIL_CODES: Final = 100
_CSV_FIELDS: Final = ("id", "at", "actor", "group", "action", "detail")


class Action(enum.StrEnum):
    """The kinds of administrative change: what was changed (settings, users, codes, plans...).

    A settings change that touches only the mandatory and optional user lists is a
    ``users.update``; any other is a ``group.update`` (see :func:`settings_action`).
    """

    GROUP_CREATE = "group.create"
    GROUP_UPDATE = "group.update"
    USERS_UPDATE = "users.update"
    DIRECTORY_UPDATE = "users.directory"
    DIALPLAN_UPDATE = "dialplan.update"
    GROUP_REPLACE = "group.replace"
    GROUP_REMOVE = "group.remove"
    CODES_ADD = "codes.add"
    CODES_EDIT = "codes.edit"
    CODES_UPDATE = "codes.update"
    CODES_DELETE = "codes.delete"
    CODES_REPLACE = "codes.replace"
    LOCK = "lock"
    UNLOCK = "unlock"
    CODE_SUSPEND = "code.suspend"  # a use limit reached suspended a code
    CODE_RESTORE = "code.restore"  # an administrator lifted a suspension
    GROUP_PROVIDER = "group.provider"
    ACCOUNT_ADD = "account.add"
    ACCOUNT_REMOVE = "account.remove"
    ACCOUNT_PASSWORD = "account.password"  # noqa: S105 - an action name, not a secret
    ACCOUNT_OCI = "account.oci"  # OCI-P's signed-password login enabled or disabled
    TOKEN_ISSUE = "token.issue"  # noqa: S105 - an action name
    TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an action name
    LOGIN_FAILED = "login.failed"
    LOGIN_LOCKED = "login.locked"


_USER_LISTS: Final = ("mandatory_users", "optional_users")


def settings_action(detail: dict[str, Any]) -> Action:
    """The kind of a settings change from its diff: users only, or the group's settings."""
    changed = detail.get("changed", {})
    if changed and all(key in _USER_LISTS for key in changed):
        return Action.USERS_UPDATE
    return Action.GROUP_UPDATE


@attrs.frozen
class AuditRecord:
    """One administrative change: who made it, when, to which group, and what changed."""

    id: int
    at: datetime
    actor: str
    group: str
    action: Action
    detail: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON values (the time in ISO 8601 with its UTC offset)."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "group": self.group,
            "action": self.action.value,
            "detail": dict(self.detail),
        }


#: Hex characters of a code's fingerprint kept in the audit trail (64 bits).
FINGERPRINT_HEX: Final = 16


def code_fingerprint(secret: bytes, code: str) -> str:
    """The keyed fingerprint of *code* that the audit trail holds in place of the code.

    HMAC-SHA256 under the store's *secret*, truncated to ``FINGERPRINT_HEX`` hex characters:
    it finds the records that named a code, and does not give the code back.
    """
    return hmac.new(secret, code.encode("ascii"), hashlib.sha256).hexdigest()[:FINGERPRINT_HEX]


def code_for_audit(code: str, mode: Mode) -> str:
    """The form of *code* a record may hold: in clear for account codes, masked otherwise."""
    if mode is Mode.ACCOUNT:
        return code
    # The event log's mask, written out: the store and the event log do not import each other.
    return "*" * len(code)


def mask_detail_codes(detail: Any) -> Any:
    """*detail* with every code it names (a ``code`` value, at any depth) masked.

    What a group's records become when its account codes turn into authorization codes.
    """
    if isinstance(detail, dict):
        return {
            key: "*" * len(value)
            if key == "code" and isinstance(value, str)
            else mask_detail_codes(value)
            for key, value in detail.items()
        }
    if isinstance(detail, list):
        return [mask_detail_codes(item) for item in detail]
    return detail


def entry_for_audit(entry: CodeEntry, mode: Mode) -> dict[str, Any]:
    """An entry as a record holds it: its code (masked unless account mode) and its fields."""
    shown: dict[str, Any] = {"code": code_for_audit(entry.code, mode)}
    if entry.description is not None:
        shown["description"] = entry.description
    if entry.level:
        shown["level"] = entry.level
    if entry.valid_from is not None:
        shown["valid_from"] = entry.valid_from.isoformat()
    if entry.valid_until is not None:
        shown["valid_until"] = entry.valid_until.isoformat()
    if entry.max_uses is not None:
        shown["max_uses"] = entry.max_uses
    return shown


def write_csv(records: Iterable[AuditRecord], out: TextIO) -> int:
    """Write *records* as CSV with a header; the detail is a JSON cell. Returns the row count.

    Cells that a spreadsheet would run as a formula are written behind a ``'``, as in every
    export (``callcodes._csvsafe``). Runtime complexity: O(total size).
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_FIELDS)
    count = 0
    for record in records:
        row = record.to_dict()
        row["detail"] = json.dumps(row["detail"], ensure_ascii=False, sort_keys=True)
        writer.writerow([cell(row[field]) for field in _CSV_FIELDS])
        count += 1
    return count


def write_json(records: Iterable[AuditRecord], out: TextIO) -> int:
    """Write *records* as one JSON array of objects. Returns the record count."""
    items = [record.to_dict() for record in records]
    json.dump(items, out, ensure_ascii=False, indent=2, sort_keys=True)
    out.write("\n")
    return len(items)
