"""User routes: a group's mandatory and optional users, its available users and its directory.

``/api/v1/groups/{group}/users``, ``.../users/available`` and ``.../directory``: what
``callcodes users list|set|available`` and ``users directory list|import`` do, for one group.
``PUT .../users`` sets both lists in one change and one audit record, as the BroadWorks page's
arrows, Select All and Deselect All do. The directory is replaced whole, from JSON or from the
CSV the command line imports; every row must name the group of the path.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

import msgspec
from litestar import Request, get, put
from litestar.di import NamedDependency
from litestar.params import Parameter, RawBody

from .._errors import BatchError, InvalidValueError, RowError, show
from ..core.plain import check_keys
from ..store.accounts import Account
from ..store.directory import ALL, FIELDS, DirectoryUser, UserDirectory, parse_csv
from .auth import node
from .problems import TEXT_CSV, csv_body, json_object, problem_responses, request_body

__all__ = [
    "ROUTES",
    "AvailablePage",
    "Directory",
    "DirectoryIn",
    "DirectoryPut",
    "DirectoryUserIn",
    "DirectoryUserView",
    "GroupUsers",
    "UsersPut",
]

_PATH: Final = "/api/v1/groups/{group:str}"
_MAX_PAGE: Final = 1000
_EVERY: Final = "all"
_NOBODY: Final = "none"
_UNSET: Final = msgspec.UNSET
Unset = msgspec.UnsetType
_READ: Final = problem_responses(400, 401, 403, 404, 422)
_WRITE: Final = problem_responses(400, 401, 403, 404, 409, 413, 415, 422)

# -- shapes ---------------------------------------------------------------------------------------


class GroupUsers(msgspec.Struct):
    """The group's mandatory and optional users, sorted."""

    group: str
    mandatory: list[str]
    optional: list[str]


class UsersPut(msgspec.Struct):
    """New lists: user ids, ``"all"`` (every directory user not on the other) or ``"none"``.

    A list not given keeps its users, less those named for the other list.
    """

    mandatory: list[str] | str | Unset = _UNSET
    optional: list[str] | str | Unset = _UNSET


class DirectoryUserView(msgspec.Struct):
    """A user of the group's directory; a field the directory does not have is null."""

    group: str
    user_id: str
    first_name: str
    last_name: str
    department: str | None
    phone_number: str | None
    extension: str | None


class AvailablePage(msgspec.Struct):
    """Directory users on neither list that match the search, by last name, first name, id.

    ``next`` is the ``after`` of the next page, or null on the last.
    """

    group: str
    users: list[DirectoryUserView]
    next: str | None


class Directory(msgspec.Struct):
    """The group's user directory, by user id."""

    group: str
    users: list[DirectoryUserView]


class DirectoryUserIn(msgspec.Struct):
    """A directory user to store; ``group``, when given, must be the path's group."""

    user_id: str
    first_name: str
    last_name: str
    department: str | Unset = _UNSET
    phone_number: str | Unset = _UNSET
    extension: str | Unset = _UNSET
    group: str | Unset = _UNSET


class DirectoryIn(msgspec.Struct):
    """The group's whole new directory (JSON; or send the command line's CSV as text/csv)."""

    users: list[DirectoryUserIn]


class DirectoryPut(msgspec.Struct):
    """How many users the group's directory holds now."""

    group: str
    users: int


# -- helpers --------------------------------------------------------------------------------------


def _user_view(user: DirectoryUser) -> DirectoryUserView:
    return DirectoryUserView(
        user.group,
        user.user_id,
        user.first_name,
        user.last_name,
        user.department or None,
        user.phone_number or None,
        user.extension or None,
    )


def _directory(request: Request[Any, Any, Any]) -> UserDirectory:
    return UserDirectory(node(request).store)


def _sort_key(user: DirectoryUser) -> tuple[str, str, str]:
    """The order of the available list (``UserDirectory.available``), as a cursor holds it."""
    return (user.last_name.casefold(), user.first_name.casefold(), user.user_id)


def _cursor(user: DirectoryUser) -> str:
    text = json.dumps(_sort_key(user), ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _after(cursor: str) -> tuple[str, str, str]:
    """The sort key a cursor holds; 422 for text that is not a cursor of this route."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        key = json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        key = None
    if not (isinstance(key, list) and len(key) == 3 and all(isinstance(k, str) for k in key)):
        raise InvalidValueError("after", cursor, "give the next value of the previous page")
    return (key[0], key[1], key[2])


def _selection(where: str, value: object) -> Any:
    """A list as ``set_users`` takes it: user ids, ``ALL`` for "all", ``()`` for "none"."""
    if value == _EVERY:
        return ALL
    if value == _NOBODY:
        return ()
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise InvalidValueError(where, value, 'give a list of user ids, "all" or "none"')
    return value


# -- routes ---------------------------------------------------------------------------------------


@get(f"{_PATH}/users", sync_to_thread=True, responses=_READ)
def get_users(request: Request[Any, Any, Any], managed: NamedDependency[str]) -> GroupUsers:
    """The group's mandatory and optional users."""
    settings = node(request).store.group(managed)
    return GroupUsers(managed, sorted(settings.mandatory_users), sorted(settings.optional_users))


@put(
    f"{_PATH}/users", sync_to_thread=True, operation_class=request_body(UsersPut), responses=_WRITE
)
def put_users(
    request: Request[Any, Any, Any],
    staff: NamedDependency[Account],
    managed: NamedDependency[str],
    body: RawBody,
) -> GroupUsers:
    """Set the mandatory and optional lists at once: one change, one audit record."""
    sent = json_object(request, body)
    check_keys("body", sent, ("mandatory", "optional"))
    if not sent:
        raise InvalidValueError("body", sent, "give mandatory, optional or both")
    mandatory = _selection("mandatory", sent["mandatory"]) if "mandatory" in sent else None
    optional = _selection("optional", sent["optional"]) if "optional" in sent else None
    after = _directory(request).set_users(
        managed, mandatory=mandatory, optional=optional, actor=staff.name
    )
    node(request).changed()
    return GroupUsers(managed, sorted(after.mandatory_users), sorted(after.optional_users))


@get(f"{_PATH}/users/available", sync_to_thread=True, responses=_READ)
def available_users(  # the search criteria of BroadWorks' user search, by keyword
    *,
    request: Request[Any, Any, Any],
    managed: NamedDependency[str],
    last_name: str | None = Parameter(default=None, description="search by last name"),
    first_name: str | None = Parameter(default=None, description="search by first name"),
    department: str | None = Parameter(default=None, description="search by department"),
    user_id: str | None = Parameter(default=None, description="search by user id"),
    phone_number: str | None = Parameter(default=None, description="search by phone number"),
    extension: str | None = Parameter(default=None, description="search by extension"),
    match: str = Parameter(default="starts", description="starts, contains or equal"),
    limit: int = Parameter(default=100, ge=1, le=_MAX_PAGE, description="users per page"),
    after: str | None = Parameter(default=None, description="the next of the previous page"),
) -> AvailablePage:
    """Directory users on neither list that match every criterion given (ignoring case)."""
    start = None if after is None else _after(after)
    found = _directory(request).available(
        managed,
        last_name=last_name,
        first_name=first_name,
        department=department,
        user_id=user_id,
        phone_number=phone_number,
        extension=extension,
        match=match,
    )
    if start is not None:
        found = [user for user in found if _sort_key(user) > start]
    page = found[:limit]
    more = len(found) > limit
    return AvailablePage(
        managed, [_user_view(u) for u in page], _cursor(page[-1]) if more else None
    )


@get(f"{_PATH}/directory", sync_to_thread=True, responses=_READ)
def get_directory(request: Request[Any, Any, Any], managed: NamedDependency[str]) -> Directory:
    """The group's user directory."""
    return Directory(managed, [_user_view(u) for u in _directory(request).users(managed)])


def _json_users(group: str, body: dict[str, Any]) -> list[DirectoryUser]:
    """The users of a JSON directory; every bad row (from 1) refused at once."""
    check_keys("body", body, ("users",))
    items = body.get("users")
    if not isinstance(items, list):
        raise InvalidValueError("users", items, "give a list of directory users")
    users: list[DirectoryUser] = []
    bad: list[RowError] = []
    for row, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            bad.append(RowError(row, show(item), "a user is an object: user_id, first_name, ..."))
            continue
        user_id = item.get("user_id")
        shown = user_id if isinstance(user_id, str) else show(user_id)
        unknown = sorted(set(item) - set(FIELDS))
        if unknown:
            bad.append(RowError(row, shown, f"unknown key(s) {', '.join(map(show, unknown))}"))
            continue
        if item.get("group", group) != group:
            bad.append(RowError(row, shown, f"names group {show(item['group'])}, not {group!r}"))
            continue
        try:
            users.append(DirectoryUser(**{**item, "group": group}))
        except InvalidValueError as exc:
            bad.append(RowError(row, shown, exc.problem))
        except TypeError:  # a required field is missing
            missing = [f for f in FIELDS[1:4] if f not in item]
            bad.append(RowError(row, shown, f"{', '.join(missing)} required"))
    if bad:
        raise BatchError(f"directory of group {group!r} (rows numbered from 1)", bad)
    return users


@put(
    f"{_PATH}/directory",
    sync_to_thread=True,
    operation_class=request_body(DirectoryIn, csv=True),
    responses=_WRITE,
)
def put_directory(
    request: Request[Any, Any, Any],
    staff: NamedDependency[Account],
    managed: NamedDependency[str],
    body: RawBody,
) -> DirectoryPut:
    """Make the users given the group's whole directory (JSON, or the CSV of the CLI)."""
    directory = _directory(request)
    if request.content_type[0].strip().lower() == TEXT_CSV:
        text = csv_body(request, body)
        users, lines, errors = parse_csv(text, "the request body")
        errors += [
            RowError(line, user.user_id, f"names group {user.group!r}, not {managed!r}")
            for user, line in zip(users, lines, strict=True)
            if user.group != managed
        ]
        if errors:
            raise BatchError(
                "import the request body into the user directory (rows are numbered by line)",
                sorted(errors, key=lambda e: e.row),
            )
        if not users:
            raise InvalidValueError("users", 0, "give at least one user")
        counts = directory.import_csv(text, actor=staff.name, source="the request body")
    else:
        users = _json_users(managed, json_object(request, body))
        if not users:
            raise InvalidValueError("users", [], "give at least one user")
        counts = directory.put(users, actor=staff.name)
    node(request).changed()
    return DirectoryPut(managed, counts.get(managed, 0))


ROUTES: Final = [get_users, put_users, available_users, get_directory, put_directory]
