"""Group routes: the groups an account may see, and one group's settings, read and changed.

``GET /api/v1/groups``, ``GET|PUT|DELETE /api/v1/groups/{group}``: what ``callcodes group
list|show|set|remove`` do, for the tenant of the account. ``PUT`` changes only the fields it is
given (a partial update); it creates a group for an operator or a service provider's
administrator (the group then belongs to their provider). Turning an account-code group that
holds codes into an authorization-code group needs ``"confirm": true``, as ``--yes`` on the
command line, because its codes were recorded in clear as account codes.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from litestar import Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter, RawBody

from .._errors import ConflictError, InvalidValueError, UnknownGroupError
from .._timefmt import iso, zone
from ..core._validate import MAX_CODE_LENGTH, check_group_id, check_provider_id, is_code
from ..core.model import GroupSettings, Mode
from ..core.plain import (
    SETTINGS_KEYS,
    check_keys,
    settings_from_dict,
    settings_to_dict,
    users_to_dict,
)
from ..store.accounts import Account, Role
from .auth import NOT_MANAGED, manageable, node
from .problems import Problem, json_object, problem_responses, request_body

__all__ = [
    "ROUTES",
    "GroupChange",
    "GroupList",
    "GroupRemoved",
    "GroupSummary",
    "GroupView",
    "Limits",
    "Lockout",
    "Settings",
    "SettingsChange",
    "Users",
    "boolean",
    "confirmed",
]

_USER_KEYS: Final = ("mandatory_users", "optional_users")
_BODY_KEYS: Final = (*SETTINGS_KEYS, *_USER_KEYS, "provider", "confirm")
_UNSET: Final = msgspec.UNSET
Unset = msgspec.UnsetType

# -- shapes (documented in the OpenAPI document) --------------------------------------------------


class Lockout(msgspec.Struct):
    """Toll-fraud lockout: bad entries within a window lock a user or the group (0: by hand)."""

    user_attempts: int
    user_window_seconds: int | float
    group_attempts: int
    group_window_seconds: int | float
    lock_for_seconds: int | float


class Limits(msgspec.Struct, omit_defaults=True):
    """Use limits in a sliding window; a limit left out (or null) is off."""

    window_seconds: int | float
    suspend: bool
    calls_per_code: int | None = None
    users_per_code: int | None = None
    costly_per_code: int | None = None
    costly_per_user: int | None = None
    concurrent_per_code: int | None = None


class Settings(msgspec.Struct):
    """A group's settings as ``callcodes group show --json`` gives them."""

    mode: str
    code_length: int
    allow_local_and_toll_free: bool
    max_attempts: int
    coded_call_types: list[str]
    min_levels: dict[str, int]
    code_prefix: str
    lockout: Lockout
    hours: dict[str, str]
    time_zone: str
    limits: Limits
    redirect: str


class Users(msgspec.Struct):
    """The group's mandatory and optional users, sorted."""

    mandatory: list[str]
    optional: list[str]


class GroupSummary(msgspec.Struct):
    """One group of the list: its provider (null: none), mode, code length and code count."""

    group: str
    provider: str | None
    mode: str
    code_length: int
    codes: int


class GroupList(msgspec.Struct):
    """The groups the account may see, by name."""

    groups: list[GroupSummary]


class GroupView(msgspec.Struct):
    """One group: provider, settings, users and how many codes it holds."""

    group: str
    provider: str | None
    settings: Settings
    users: Users
    codes: int


class GroupChange(msgspec.Struct):
    """What a ``PUT`` did (``created``, the settings ``changed``) and the group it left."""

    group: str
    created: bool
    changed: list[str]
    provider: str | None
    settings: Settings
    users: Users
    codes: int


class GroupRemoved(msgspec.Struct):
    """A removed group and how many codes went with it."""

    group: str
    removed: bool
    codes_deleted: int


class LockoutChange(msgspec.Struct):
    """The lockout fields to change; the others stay."""

    user_attempts: int | Unset = _UNSET
    user_window_seconds: int | float | Unset = _UNSET
    group_attempts: int | Unset = _UNSET
    group_window_seconds: int | float | Unset = _UNSET
    lock_for_seconds: int | float | Unset = _UNSET


class LimitsChange(msgspec.Struct):
    """The use-limit fields to change (null turns a limit off); the others stay."""

    window_seconds: int | float | Unset = _UNSET
    suspend: bool | Unset = _UNSET
    calls_per_code: int | Unset | None = _UNSET
    users_per_code: int | Unset | None = _UNSET
    costly_per_code: int | Unset | None = _UNSET
    costly_per_user: int | Unset | None = _UNSET
    concurrent_per_code: int | Unset | None = _UNSET


class CodeToRestore(msgspec.Struct):
    """The body of ``POST /api/v1/groups/{group}/restore``: the suspended code to restore."""

    code: str


class SettingsChange(msgspec.Struct):
    """The body of ``PUT /api/v1/groups/{group}``: only the fields given change.

    ``provider`` (operators only) puts the group in a service provider (null: none);
    ``confirm`` confirms turning account codes into authorization codes.
    """

    mode: str | Unset = _UNSET
    code_length: int | Unset = _UNSET
    allow_local_and_toll_free: bool | Unset = _UNSET
    max_attempts: int | Unset = _UNSET
    coded_call_types: list[str] | Unset = _UNSET
    min_levels: dict[str, int] | Unset = _UNSET
    code_prefix: str | Unset = _UNSET
    lockout: LockoutChange | Unset = _UNSET
    hours: dict[str, str] | Unset = _UNSET
    time_zone: str | Unset = _UNSET
    limits: LimitsChange | Unset = _UNSET
    redirect: str | Unset = _UNSET
    mandatory_users: list[str] | Unset = _UNSET
    optional_users: list[str] | Unset = _UNSET
    provider: str | Unset | None = _UNSET
    confirm: bool | Unset = _UNSET


# -- helpers shared by the group routes -----------------------------------------------------------


def boolean(where: str, value: object) -> bool:
    """*value* when it is a JSON boolean, else :class:`InvalidValueError` naming *where*."""
    if not isinstance(value, bool):
        raise InvalidValueError(where, value, "must be true or false")
    return value


def confirmed(query: bool, body: dict[str, Any]) -> bool:
    """Whether the request confirms its change: ``?confirm=true`` or ``"confirm": true``."""
    return query or ("confirm" in body and boolean("confirm", body["confirm"]))


def _settings(settings: GroupSettings) -> Settings:
    return msgspec.convert(settings_to_dict(settings), Settings)


def _users(settings: GroupSettings) -> Users:
    return msgspec.convert(users_to_dict(settings), Users)


def _view(request: Request[Any, Any, Any], group: str) -> GroupView:
    store = node(request).store
    settings = store.group(group)
    return GroupView(
        group, store.provider(group), _settings(settings), _users(settings), store.count(group)
    )


_READ: Final = problem_responses(400, 401, 403, 404)

# -- routes ---------------------------------------------------------------------------------------


@get("/api/v1/groups", sync_to_thread=True, responses=problem_responses(401, 403))
def list_groups(request: Request[Any, Any, Any], staff: NamedDependency[Account]) -> GroupList:
    """The groups this account may see, by name, with their provider, mode and code count."""
    store = node(request).store
    found = []
    for group, provider in store.providers().items():
        if staff.may_manage(group, provider):
            settings = store.group(group)
            found.append(
                GroupSummary(
                    group, provider, settings.mode.value, settings.code_length, store.count(group)
                )
            )
    return GroupList(sorted(found, key=lambda g: g.group))


@get("/api/v1/groups/{group:str}", sync_to_thread=True, responses=_READ)
def get_group(request: Request[Any, Any, Any], managed: NamedDependency[str]) -> GroupView:
    """One group: its provider, settings, mandatory and optional users, and code count."""
    return _view(request, managed)


def _may_create(who: Account, group: str) -> str | None:
    """The provider a group created by *who* belongs to; 404 for those who may not create."""
    if who.role not in (Role.OPERATOR, Role.PROVIDER):
        raise Problem(404, NOT_MANAGED)  # as for another tenant's group: nothing is revealed
    check_group_id("group", group)
    return who.scope if who.role is Role.PROVIDER else None


def _merge(old: GroupSettings, body: dict[str, Any]) -> GroupSettings:
    """*old* with the fields of *body* applied, checked as the model checks settings."""
    plain = settings_to_dict(old)
    for key in SETTINGS_KEYS:
        if key not in body:
            continue
        if key == "lockout":
            given = body[key]
            if not isinstance(given, dict):
                raise InvalidValueError("settings.lockout", given, "must be an object")
            check_keys("settings.lockout", given, plain["lockout"].keys())
            plain["lockout"] = {**plain["lockout"], **given}
        elif key == "limits":
            given = body[key]
            if not isinstance(given, dict):
                raise InvalidValueError("settings.limits", given, "must be an object")
            merged = {**plain["limits"], **given}
            plain["limits"] = {k: v for k, v in merged.items() if v is not None}
        else:
            plain[key] = body[key]
    users = users_to_dict(old)
    for key in _USER_KEYS:
        if key in body:
            given = body[key]
            if not isinstance(given, list) or not all(isinstance(u, str) for u in given):
                raise InvalidValueError(key, given, "must be a list of user ids")
            users[key.removesuffix("_users")] = given
    # A user moved to the other list leaves the old one, as on the portal's pages.
    if "mandatory_users" in body and "optional_users" not in body:
        users["optional"] = [u for u in users["optional"] if u not in set(users["mandatory"])]
    if "optional_users" in body and "mandatory_users" not in body:
        users["mandatory"] = [u for u in users["mandatory"] if u not in set(users["optional"])]
    return settings_from_dict(plain, users, zone=zone)


@put(
    "/api/v1/groups/{group:str}",
    sync_to_thread=True,
    operation_class=request_body(SettingsChange),
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
)
def put_group(
    request: Request[Any, Any, Any],
    staff: NamedDependency[Account],
    group: FromPath[str],
    body: RawBody,
    confirm: bool = Parameter(default=False, description="confirm a change that asks for it"),
) -> GroupChange:
    """Create a group or change the settings given; what is not given stays as it is."""
    store = node(request).store
    existed = group in store
    provider: str | None = None
    if existed:
        manageable(request, staff, group)
    else:
        provider = _may_create(staff, group)
    sent = json_object(request, body)
    check_keys("body", sent, _BODY_KEYS)
    if "provider" in sent:
        wanted = sent["provider"]
        if wanted is not None:
            check_provider_id("provider", wanted)
        current = store.provider(group) if existed else provider
        if wanted != current and staff.role is not Role.OPERATOR:
            raise Problem(403, "only an operator puts a group in another service provider")
        provider = wanted
    before = store.group(group) if existed else GroupSettings()
    after = _merge(before, sent)  # refused here, before anything is written
    if existed and before.mode is Mode.ACCOUNT and after.mode is Mode.AUTHORIZATION:
        count = store.count(group)
        if count and not confirmed(confirm, sent):
            raise Problem(
                409,
                f"the {count} code(s) of {group!r} were recorded in clear as account codes (in "
                "the audit trail); as authorization codes they authorize calls: send "
                '"confirm": true (or ?confirm=true)',
            )
    if not existed:
        try:  # one transaction, refused if the name was taken meanwhile: never another's group
            store.create_group(group, after, provider=provider, actor=staff.name)
        except ConflictError:
            raise Problem(404, NOT_MANAGED) from None
    else:
        try:
            store.modify_group(group, lambda old: _merge(old, sent), actor=staff.name)
        except UnknownGroupError:  # removed meanwhile
            raise Problem(404, NOT_MANAGED) from None
        if "provider" in sent:
            store.set_provider(group, provider, actor=staff.name)
    node(request).changed()
    old, new = ({} if not existed else settings_to_dict(before)), settings_to_dict(after)
    changed = [key for key in new if key not in old or old[key] != new[key]]
    changed += [key for key in _USER_KEYS if getattr(before, key) != getattr(after, key)]
    view = _view(request, group)
    return GroupChange(
        group, not existed, changed, view.provider, view.settings, view.users, view.codes
    )


@delete(
    "/api/v1/groups/{group:str}",
    status_code=200,
    sync_to_thread=True,
    responses=problem_responses(400, 401, 403, 404, 409),
)
def delete_group(
    request: Request[Any, Any, Any],
    staff: NamedDependency[Account],
    managed: NamedDependency[str],
    confirm: bool = Parameter(default=False, description="confirm: the group's codes go too"),
) -> GroupRemoved:
    """Remove a group with its users, codes, locks and directory (operators and providers)."""
    if staff.role not in (Role.OPERATOR, Role.PROVIDER):
        raise Problem(403, "a group administrator cannot remove the group; ask its provider")
    store = node(request).store
    count = store.count(managed)
    if not confirm:
        raise Problem(
            409,
            f"removing group {managed!r} deletes its {count} code(s); add ?confirm=true",
        )
    store.remove_group(managed, actor=staff.name)
    node(request).changed()
    return GroupRemoved(managed, True, count)


# -- suspended codes ------------------------------------------------------------------------------


@get("/api/v1/groups/{group:str}/suspended", sync_to_thread=True, responses=_READ)
def list_suspended(
    request: Request[Any, Any, Any], managed: NamedDependency[str]
) -> dict[str, Any]:
    """The group's codes suspended for reaching a use limit, and since when, in code order."""
    held = node(request).store.suspended(managed)
    return {
        "group": managed,
        "suspended": [{"code": code, "since": iso(since)} for code, since in held.items()],
    }


@post(
    "/api/v1/groups/{group:str}/restore",
    sync_to_thread=True,
    status_code=200,
    operation_class=request_body(CodeToRestore),
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422),
)
def restore_code(
    request: Request[Any, Any, Any],
    staff: NamedDependency[Account],
    managed: NamedDependency[str],
    body: RawBody,
) -> dict[str, Any]:
    """Lift the suspension of ``{"code": ...}`` (in the body: a path would log it), audited.

    ``restored`` is false when the code was not suspended (nothing changed).
    """
    data = json_object(request, body)
    check_keys("body", data, ("code",))
    code = data.get("code")
    if not is_code(code) or len(code) > MAX_CODE_LENGTH:  # type: ignore[arg-type]
        raise InvalidValueError("code", code, f"a code has 2 to {MAX_CODE_LENGTH} ASCII digits")
    current = node(request)
    with current.decide_lock:  # the engine's book and use counts change under decisions
        current.refreshed()
        restored = current.engine.restore(managed, code, actor=staff.name)  # type: ignore[arg-type]
    current.changed()
    return {"group": managed, "restored": restored}


ROUTES: Final = [list_groups, get_group, put_group, delete_group, list_suspended, restore_code]
