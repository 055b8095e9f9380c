"""The administrator's other commands: locks, one decision, the audit trail, the demo.

``locks`` shows and lifts toll-fraud locks (or locks by hand), ``check`` shows the decision for
one call against the stored policy, ``audit`` shows who changed what and when. The ``group``,
``users`` and ``codes`` commands are in their own modules. Every change names its actor in the
audit trail.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import click

from .._errors import InvalidValueError
from ..core.decide import decide
from ..core.model import Call, CallType, Lock
from ..store.audit import Action, AuditRecord, write_csv
from . import demo as demo_module
from ._common import (
    ACTOR,
    GROUP,
    JSON_OPTION,
    SECONDS,
    USER,
    Whole,
    echo_json,
    exclusive,
    lock_dict,
    name_list,
    pairs,
    parse_time,
    state,
    table,
    yes_no,
)
from .dialplan import stored_plan

__all__ = ["audit", "check", "demo", "locks"]


# -- locks ----------------------------------------------------------------------------------------


@click.group()
def locks() -> None:
    """See and lift toll-fraud locks (or lock a user or group by hand)."""


@locks.command("list")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.option("--all", "show_all", is_flag=True, help="Include locks that have run out.")
@JSON_OPTION
def locks_list(name: str, show_all: bool, as_json: bool) -> None:
    """List the locks that hold now: the group's and its users'."""
    store = state().store(read_only=True)
    held = store.locks(name, None if show_all else store.now())
    if as_json:
        echo_json([lock_dict(lock) for lock in held])
        return
    table(
        ["LOCKED", "SINCE", "UNTIL"],
        [
            [
                "whole group" if lock.user is None else lock.user,
                lock.since.isoformat(timespec="seconds"),
                "unlocked by hand" if lock.until is None else lock.until.isoformat("T", "seconds"),
            ]
            for lock in held
        ],
    )


@locks.command("add")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("user", required=False, type=USER)
@click.option(
    "--for",
    "duration",
    type=SECONDS,
    help="Seconds the lock lasts, more than 0 (default: until lifted).",
)
@JSON_OPTION
def locks_add(name: str, user: str | None, duration: timedelta | None, as_json: bool) -> None:
    """Lock a user (or, without USER, the whole group) by hand."""
    current = state()
    store = current.store()
    since = store.now()
    until = None if duration is None else since + duration
    lock = Lock(name, user, since, until)
    store.lock(lock, actor=current.actor)
    if as_json:
        echo_json({"group": name, "locked": lock_dict(lock)})
        return
    click.echo(f"locked {'the whole group ' + name if user is None else user + ' in ' + name}")


@locks.command("unlock")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("user", required=False, type=USER)
@JSON_OPTION
def locks_unlock(name: str, user: str | None, as_json: bool) -> None:
    """Lift the lock on a user (or, without USER, on the whole group)."""
    current = state()
    who = f"the whole group {name}" if user is None else f"{user} in {name}"
    if not current.store().unlock(name, user, actor=current.actor):
        raise InvalidValueError(
            "USER", user, f"{who} is not locked: nothing to lift (see callcodes locks list {name})"
        )
    if as_json:
        echo_json({"group": name, "unlocked": {"user": user}})
        return
    click.echo(f"unlocked {who}")


# -- one decision ---------------------------------------------------------------------------------


@click.command()
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("user", type=USER)
@click.argument("dialed")
@click.option(
    "--type",
    "call_type",
    type=click.Choice([t.value for t in CallType]),
    help="The call type; default: what the group's dial plan makes of DIALED.",
)
@click.option("--code", help="The code entered (none: no code).")
@click.option(
    "--attempt",
    type=Whole(1, 100),
    default=1,
    show_default=True,
    help="Which entry on the call this is.",
)
@click.option(
    "--redirected", is_flag=True, help="USER forwarded or transferred the call: the outside leg."
)
@JSON_OPTION
def check(
    *,
    name: str,
    user: str,
    dialed: str,
    call_type: str | None,
    code: str | None,
    attempt: int,
    redirected: bool,
    as_json: bool,
) -> None:
    """Show the decision for one call, judged against the stored policy now."""
    store = state().store(read_only=True)
    known = name in store
    book = store.load([name]) if known else store.load([])
    classified = None
    if call_type is None:  # only the digits: the group's dial plan says what kind of call it is
        classified = stored_plan(name, ", or give the call type with --type").classify(dialed)
        call_type = classified.call_type
    call = Call(name, user, dialed, call_type, redirected=redirected)
    decision = decide(book, call, code, attempt, now=store.now())
    entry = decision.entry
    if as_json:
        found = {
            "verdict": decision.verdict.value,
            "reason": decision.reason.value,
            "retry": decision.retry,
            "description": None if entry is None else entry.description,
            "known_group": known,
        }
        if classified is not None:
            found["call_type"] = classified.call_type.value
            found["destination"] = classified.destination
            found["classified_as"] = classified.reason
        echo_json(found)
        return
    lines = []
    if classified is not None:
        lines.append(("call type", f"{classified.call_type.value} ({classified.reason})"))
    lines += [("verdict", decision.verdict.value), ("reason", decision.reason.value)]
    lines.append(("retry", yes_no(decision.retry)))
    if entry is not None:
        lines.append(("code", f"{entry.code} ({entry.description or 'no description'})"))
    if not known:
        lines.append(("note", f"group {name} is not in the store"))
    pairs(lines)


# -- audit ----------------------------------------------------------------------------------------


def _summary(record: AuditRecord) -> str:
    detail = record.detail
    if "changed" in detail:
        parts = []
        for key, change in detail["changed"].items():
            if "added" in change:
                parts.append(f"{key} +{name_list(change['added'])} -{name_list(change['removed'])}")
            else:
                parts.append(f"{key} {change['from']} -> {change['to']}")
        return "; ".join(parts)
    if "count" in detail:
        shown = []
        for item in detail.get("codes", [])[:3]:
            text = item["code"]
            if item.get("description"):
                text += f" ({item['description']})"
            shown.append(text)
        more = ", ..." if detail["count"] > len(shown) else ""
        return f"{detail['count']} code(s): {', '.join(shown)}{more}"
    if record.action is Action.GROUP_PROVIDER:
        return f"provider {detail.get('from') or 'none'} -> {detail.get('to') or 'none'}"
    if record.action in (Action.LOCK, Action.UNLOCK):
        return "whole group" if detail.get("user") is None else f"user {detail['user']}"
    if record.action in (Action.CODE_SUSPEND, Action.CODE_RESTORE):
        return f"code {detail.get('code')} suspended since {detail.get('since')}"
    if record.action is Action.GROUP_CREATE:
        settings = detail.get("settings", {})
        return f"{settings.get('mode')}, {settings.get('code_length')} digits"
    if "removed_count" in detail:
        return f"{detail['removed_count']} code(s) removed"
    return _account_summary(record.action, detail)


def _account_summary(action: Action, detail: Mapping[str, Any]) -> str:
    """What an account, token or login record says, in a few words."""
    if action in (Action.ACCOUNT_ADD, Action.ACCOUNT_REMOVE):
        scope = f" of {detail['scope']}" if detail.get("scope") else ""
        return f"account {detail.get('account')} ({detail.get('role')}{scope})"
    if action is Action.ACCOUNT_PASSWORD:
        return f"account {detail.get('account')}: password changed"
    if action in (Action.TOKEN_ISSUE, Action.TOKEN_REVOKE):
        return f"account {detail.get('account')}: token {detail.get('token')}"
    if action is Action.LOGIN_FAILED:
        return f"name {detail.get('name')} from {detail.get('source')}"
    if action is Action.LOGIN_LOCKED:
        who = f"name {detail['name']}" if "name" in detail else f"source {detail.get('source')}"
        return f"{who} locked until {detail.get('until')}"
    return ""


@click.command()
@click.argument("name", metavar="[GROUP]", required=False, type=GROUP)
@click.option("--actor", type=ACTOR, help="Only changes by this actor.")
@click.option("--action", type=click.Choice([a.value for a in Action]), help="Only this kind.")
@click.option("--since", help="From this time (ISO 8601; without offset, UTC).")
@click.option("--until", help="Before this time.")
@click.option("--code", help="Only changes that named this code (found by its fingerprint).")
@click.option(
    "--limit",
    type=Whole(1, 1_000_000),
    default=50,
    show_default=True,
    help="Show the latest N changes (with --after: the next N).",
)
@click.option(
    "--after",
    type=Whole(0, 2**62),
    help="Show the changes after this record id, oldest first (0: from the start).",
)
@click.option("--all", "show_all", is_flag=True, help="Show every matching change.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@JSON_OPTION
def audit(
    *,
    name: str | None,
    actor: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    code: str | None,
    limit: int,
    after: int | None,
    show_all: bool,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Show the audit trail: who changed what, when (authorization codes masked).

    Without --after, the latest N changes; with --after ID, the N changes after record ID,
    oldest first: the next page starts after the last ID shown (JSON: ``next``).
    """
    exclusive(csv=as_csv, json=as_json)
    store = state().store(read_only=True)
    start, end = parse_time("--since", since), parse_time("--until", until)

    def read(after_id: int, most: int | None, latest: int | None) -> list[AuditRecord]:
        return store.audit(
            name,
            actor=actor,
            action=action,
            since=start,
            until=end,
            after_id=after_id,
            limit=most,
            latest=latest,
            code=code,
        )

    more = False
    if after is None:
        records = read(0, None, None if show_all else limit)
    else:
        records = read(after, None if show_all else limit + 1, None)
        more = not show_all and len(records) > limit
        records = records[:limit] if more else records
    out = sys.stdout
    if as_csv:
        write_csv(records, out)
    elif as_json:
        echo_json(
            {
                "group": name,
                "records": [record.to_dict() for record in records],
                "next": records[-1].id if more else None,
            }
        )
    else:
        table(
            ["ID", "TIME", "ACTOR", "GROUP", "ACTION", "WHAT"],
            [
                [
                    str(r.id),
                    r.at.isoformat(timespec="seconds"),
                    r.actor,
                    r.group,
                    r.action.value,
                    _summary(r),
                ]
                for r in records
            ],
        )
        if more:
            click.echo(f"(more: --after {records[-1].id})", err=True)


# -- demo -----------------------------------------------------------------------------------------


@click.command()
@JSON_OPTION
def demo(as_json: bool) -> None:
    """Decide a handful of calls for a sample group (nothing is stored)."""
    if as_json:
        echo_json({"calls": demo_module.calls()})
        return
    demo_module.run(click.echo)
