"""What each audit record says about its change: settings, code batches, edits, plans, locks.

Every backend writes the same details for the same change, so an audit trail reads the same
whatever the database; a detail is plain JSON values, with codes shown as the audit trail may
show them (masked unless the group is in account mode). A batch lists at most
``MAX_DETAIL_CODES`` codes and always its count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.model import CodeEntry, GroupSettings, Lock, Mode
from ..core.plain import settings_to_dict
from ..dialplan.plan import DialPlan
from .audit import MAX_DETAIL_CODES, code_for_audit, entry_for_audit

__all__ = [
    "codes_detail",
    "edits_detail",
    "lock_detail",
    "plan_diff",
    "provider_diff",
    "settings_detail",
    "settings_diff",
]


def settings_detail(settings: GroupSettings) -> dict[str, Any]:
    """A group's settings as a record shows them (as in policy files)."""
    return settings_to_dict(settings)


def settings_diff(old: GroupSettings, new: GroupSettings) -> dict[str, Any]:
    """The settings that changed (``{from, to}``) and the users added to or removed from a list."""
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


def codes_detail(entries: Sequence[CodeEntry], mode: Mode, key: str = "codes") -> dict[str, Any]:
    """A batch of codes: how many, and the first of them under *key*."""
    return {
        "count": len(entries),
        key: [entry_for_audit(e, mode) for e in entries[:MAX_DETAIL_CODES]],
    }


def edits_detail(edits: Sequence[tuple[CodeEntry, CodeEntry]], mode: Mode) -> dict[str, Any]:
    """A batch of edits: how many, and for the first of them each field's ``{from, to}``."""
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


def plan_diff(old: DialPlan | None, new: DialPlan | None) -> dict[str, Any]:
    """The fields of a dial plan that changed, as ``dialplan.FIELD``: {from, to}."""
    before = {} if old is None else old.to_dict()
    after = {} if new is None else new.to_dict()
    changed = {
        f"dialplan.{key}": {"from": before.get(key), "to": after.get(key)}
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key) and (before.get(key) or after.get(key))
    }
    return {"changed": changed}


def provider_diff(old: str | None, new: str | None) -> dict[str, Any]:
    """A group moved between service providers (None: none): ``{"from": old, "to": new}``."""
    return {"from": old, "to": new}


def lock_detail(lock: Lock) -> dict[str, Any]:
    """A lock put in place or lifted: whose (None: the whole group's), since and until when."""
    return {
        "user": lock.user,
        "since": lock.since.isoformat(),
        "until": None if lock.until is None else lock.until.isoformat(),
    }
