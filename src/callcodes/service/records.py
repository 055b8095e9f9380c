"""Record routes: a group's locks, events, reports and audit trail, as the CLI shows them.

Every route goes through the ``managed`` dependency (the same 404 for another tenant's group as
for a missing one). Lists come a page at a time with a ``next`` cursor to pass back as
``after``. Events show account codes in clear and every other code masked, as the event log
holds them; audit records mask authorization codes as the store writes them. Lifting a lock is
done by this process's engine, so its decisions see it at once, the store audits it with the
account as the actor, and the event log records it.
"""

from __future__ import annotations

import io
import logging
from typing import Annotated, Any, Final, Literal

from litestar import Request, Response, delete, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from .._errors import SinkError
from .._timefmt import iso, parse_iso
from ..core._validate import check_user_id
from ..core.model import Lock
from ..events.reports import export_csv, query_events, report_events
from ..store.accounts import Account
from .auth import node
from .problems import problem_responses

__all__ = ["MAX_PAGE", "ROUTES"]

_log = logging.getLogger("callcodes.service")

#: The largest page of events or audit records one request returns.
MAX_PAGE: Final = 1000
_DEFAULT_PAGE: Final = 100
_CSV: Final = "text/csv"
#: The longest filter text read (an ISO time, a cursor, an account code, a reason).
_MAX_FILTER: Final = 64
_READ: Final = problem_responses(400, 401, 403, 404, 422)

Limit = Annotated[int, Parameter(ge=1, le=MAX_PAGE, description=f"Page size, 1 to {MAX_PAGE}.")]
Filter = Annotated[str | None, Parameter(max_length=_MAX_FILTER)]
Time = Annotated[
    str | None,
    Parameter(
        max_length=_MAX_FILTER,
        description="ISO 8601 date or time (2026-01-01, 2026-01-01T08:00Z); without an "
        "offset it is UTC.",
    ),
]
User = Annotated[str | None, Parameter(max_length=161, description="A user id.")]


def _time(field: str, value: str | None) -> Any:
    """A query's time bound: ISO 8601, UTC when it has no offset; None when absent."""
    return None if value is None or value == "" else parse_iso(field, value, assume_utc=True)


def _user(value: str | None) -> str | None:
    return None if value is None else check_user_id("user", value)


def _lock(lock: Lock) -> dict[str, Any]:
    """A lock as JSON: whose (None: the whole group's), since and until when (None: by hand)."""
    return {
        "user": lock.user,
        "since": iso(lock.since),
        "until": None if lock.until is None else iso(lock.until),
    }


def _wants_csv(request: Request[Any, Any, Any], form: str | None) -> bool:
    if form is not None:
        return form == "csv"
    return _CSV in request.headers.get("accept", "")


# -- locks --------------------------------------------------------------------------------------


@get("/api/v1/groups/{group:str}/locks", sync_to_thread=True, tags=["records"], responses=_READ)
def list_locks(request: Request[Any, Any, Any], managed: NamedDependency[str]) -> dict[str, Any]:
    """The locks that hold now on the group and its users, group lock first."""
    store = node(request).store
    held = store.locks(managed, store.now())
    return {"group": managed, "locks": [_lock(lock) for lock in held]}


@delete(
    "/api/v1/groups/{group:str}/locks",
    sync_to_thread=True,
    status_code=200,
    tags=["records"],
    responses=_READ,
)
def unlock(
    request: Request[Any, Any, Any],
    managed: NamedDependency[str],
    who: NamedDependency[Account],
    user: User = None,
) -> dict[str, Any]:
    """Lift the lock on ``user`` (without it: the group's own lock), audited as this account.

    ``unlocked`` is false when there was no such lock (nothing changed).
    """
    name = _user(user)
    current = node(request)
    with current.decide_lock:  # the engine's book and failure counts change under decisions
        current.refreshed()  # a lock placed by another process since the last decision
        try:
            lifted = current.engine.unlock(managed, name, actor=who.name)
        except SinkError as exc:  # lifted and audited; only its event is missing
            current.recorded(ok=False)
            _log.error(
                "unlock in %r by %s not recorded in the event log: %s", managed, who.name, exc
            )
            lifted = True
    current.changed()
    return {"group": managed, "user": name, "unlocked": lifted}


# -- events and reports -------------------------------------------------------------------------


@get("/api/v1/groups/{group:str}/events", sync_to_thread=True, tags=["records"], responses=_READ)
def list_events(
    request: Request[Any, Any, Any],
    *,
    managed: NamedDependency[str],
    user: User = None,
    verdict: Filter = None,
    reason: Filter = None,
    code: Filter = None,
    since: Time = None,
    until: Time = None,
    after: Annotated[
        str | None,
        Parameter(max_length=_MAX_FILTER, description="The next cursor of the previous page."),
    ] = None,
    limit: Limit = _DEFAULT_PAGE,
) -> dict[str, Any]:
    """One page of the group's events, oldest first, filtered by any of the parameters.

    ``next`` is the next page's ``after`` (None on the last page). Authorization codes are
    masked, account codes in clear.
    """
    page = query_events(
        node(request).events,
        managed,
        user=_user(user),
        code=code,
        verdict=verdict,
        reason=reason,
        since=_time("since", since),
        until=_time("until", until),
        limit=limit,
        after=after,
    )
    return {
        "group": managed,
        "events": [event.to_dict() for event in page.events],
        "next": page.next,
    }


@get("/api/v1/groups/{group:str}/reports", sync_to_thread=True, tags=["records"], responses=_READ)
def report(
    request: Request[Any, Any, Any],
    *,
    managed: NamedDependency[str],
    by: Annotated[
        Literal["code", "user", "day"],
        Parameter(description="Sum per account code, per user or per UTC day."),
    ],
    since: Time = None,
    until: Time = None,
    format: Annotated[  # the query parameter's name
        Literal["json", "csv"] | None,
        Parameter(description="csv for CSV (as Accept: text/csv); default JSON."),
    ] = None,
) -> Response[Any]:
    """The group's events summed per account code, user or UTC day.

    JSON, or CSV with ``format=csv`` or ``Accept: text/csv``.
    """
    rows = report_events(
        node(request).events,
        managed,
        by,
        since=_time("since", since),
        until=_time("until", until),
    )
    if _wants_csv(request, format):
        out = io.StringIO(newline="")
        export_csv(rows, out, kind="report")
        return Response(
            out.getvalue(),
            media_type=_CSV,
            headers={"Content-Disposition": f'attachment; filename="report-by-{by}.csv"'},
        )
    return Response({"group": managed, "by": by, "rows": [row.to_dict() for row in rows]})


# -- audit --------------------------------------------------------------------------------------


@get("/api/v1/groups/{group:str}/audit", sync_to_thread=True, tags=["records"], responses=_READ)
def audit(
    request: Request[Any, Any, Any],
    *,
    managed: NamedDependency[str],
    after: Annotated[
        int, Parameter(ge=0, description="The next cursor of the previous page (a record id).")
    ] = 0,
    limit: Limit = _DEFAULT_PAGE,
    action: Filter = None,
    code: Annotated[
        str | None, Parameter(max_length=14, description="Only records that named this code.")
    ] = None,
) -> dict[str, Any]:
    """One page of the group's audit records, oldest first: who changed what, when.

    Authorization codes appear masked; ``code`` finds the records that named a code.
    """
    records = node(request).store.audit(
        managed, action=action, after_id=after, limit=limit + 1, code=code
    )
    more = len(records) > limit
    records = records[:limit]
    return {
        "group": managed,
        "records": [record.to_dict() for record in records],
        "next": str(records[-1].id) if more else None,
    }


ROUTES = [list_locks, unlock, list_events, report, audit]
