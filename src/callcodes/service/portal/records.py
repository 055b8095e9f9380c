"""The record pages of a group: its user directory, locks, reports (table, chart, CSV), audit.

``/groups/{group}/directory`` lists the directory, searched by one field (starts with, contains,
equal to, ignoring case, as the directory's own search); ``.../locks`` shows the locks that hold
and lifts one (as ``DELETE /api/v1/groups/{group}/locks`` does: by this process's engine, audited
and recorded); ``.../reports`` sums the events per code, user or day, as a table and as an SVG
chart drawn here, with a CSV download; ``.../audit`` pages through the audit trail. Each page
answers through the same functions as the matching REST route.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, Parameter

from ...core._validate import check_user_id
from ...events.reports import ReportRow, report_events
from ...store.directory import Match, UserDirectory, _matches
from .. import records
from ..auth import node
from .admin import (
    MATCHES,
    SEARCH_FIELDS,
    SearchField,
    SearchMatch,
    SearchText,
    search_criteria,
)
from .chart import bar_chart
from .web import HEADERS, Visitor, call, in_thread, managed, one, page, posted, redirect

__all__ = ["ROUTES"]

_PATH: Final = "/groups/{group:str}"
_BY: Final = {"code": "Account code", "user": "User", "day": "Day (UTC)"}
_AUDIT_PAGE: Final = 50
By = Literal["code", "user", "day"]
Time = Parameter(default=None, max_length=32)


@get(f"{_PATH}/directory", sync_to_thread=True, include_in_schema=False)
def directory_page(
    *,
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Visitor],
    group: FromPath[str],
    field: SearchField = "last_name",
    match: SearchMatch = "starts",
    text: SearchText = "",
) -> Response[str]:
    """The group's directory users matching the search, with the list each is on."""
    managed(request, viewer, group)
    store = node(request).store
    criteria = {k: v.casefold() for k, v in search_criteria(field, text).items()}
    how = Match(match) if match in MATCHES else Match.STARTS
    users = [u for u in UserDirectory(store).users(group) if _matches(u, criteria, how)]
    settings = store.group(group)
    return page(
        request,
        "directory.html",
        viewer,
        group=group,
        users=users,
        mandatory=settings.mandatory_users,
        optional=settings.optional_users,
        search={"field": field, "match": how.value, "text": text},
        fields=SEARCH_FIELDS,
        matches=MATCHES,
    )


@get(f"{_PATH}/locks", sync_to_thread=True, include_in_schema=False)
def locks_page(
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Visitor],
    group: FromPath[str],
    note: str | None = Parameter(default=None, max_length=16),
) -> Response[str]:
    """The locks that hold now on the group and its users, each with an Unlock button."""
    managed(request, viewer, group)
    found = call(records.list_locks, request=request, managed=group)["locks"]
    shown = {"lifted": "The lock was lifted.", "none": "There was no such lock."}
    return page(request, "locks.html", viewer, group=group, locks=found, note=shown.get(note or ""))


@post(f"{_PATH}/locks", status_code=303, include_in_schema=False)
async def unlock(
    request: Request[Any, Any, Any], viewer: NamedDependency[Visitor], group: FromPath[str]
) -> Response[Any]:
    """Lift the lock of the user given (none: the group's own lock)."""
    form = await posted(request, viewer)
    await in_thread(managed, request, viewer, group)
    user = one(form, "user", limit=161) or None
    if user is not None:
        check_user_id("user", user)
    done = await in_thread(
        lambda: call(records.unlock, request=request, managed=group, who=viewer.account, user=user)
    )
    return redirect(f"/groups/{group}/locks", {"note": "lifted" if done["unlocked"] else "none"})


def _report(
    request: Request[Any, Any, Any], group: str, by: str, since: str | None, until: str | None
) -> list[ReportRow]:
    return report_events(
        node(request).events,
        group,
        by,  # type: ignore[arg-type]  # checked by the route's Literal
        since=records._time("since", since),
        until=records._time("until", until),
    )


@get(f"{_PATH}/reports", sync_to_thread=True, include_in_schema=False)
def reports_page(
    *,
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Visitor],
    group: FromPath[str],
    by: FromQuery[By] = "code",
    since: str | None = Time,
    until: str | None = Time,
) -> Response[str]:
    """The group's events summed per code, user or day: a chart, a table, a CSV link."""
    managed(request, viewer, group)
    rows = _report(request, group, by, since, until)
    return page(
        request,
        "reports.html",
        viewer,
        group=group,
        rows=rows,
        chart=bar_chart(rows, by),
        by=by,
        kinds=_BY,
        search={"by": by, "since": since or "", "until": until or ""},
    )


@get(f"{_PATH}/reports/csv", sync_to_thread=True, include_in_schema=False)
def report_csv(
    *,
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Visitor],
    group: FromPath[str],
    by: FromQuery[By] = "code",
    since: str | None = Time,
    until: str | None = Time,
) -> Response[Any]:
    """The same report as CSV, as ``GET /api/v1/groups/{group}/reports?format=csv`` gives it."""
    managed(request, viewer, group)
    answer: Response[Any] = call(
        records.report,
        request=request,
        managed=group,
        by=by,
        since=since,
        until=until,
        format="csv",
    )
    answer.headers.update(HEADERS)
    return answer


@get(f"{_PATH}/audit", sync_to_thread=True, include_in_schema=False)
def audit_page(
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Visitor],
    group: FromPath[str],
    after: int = Parameter(default=0, ge=0),
) -> Response[str]:
    """The group's audit trail, oldest first, a page at a time."""
    managed(request, viewer, group)
    found = call(
        records.audit,
        request=request,
        managed=group,
        after=after,
        limit=_AUDIT_PAGE,
        action=None,
        code=None,
    )
    return page(
        request,
        "audit.html",
        viewer,
        group=group,
        records=found["records"],
        next=found["next"],
        first=after > 0,
    )


ROUTES: Final = [directory_page, locks_page, unlock, reports_page, report_csv, audit_page]
