"""The Account/Authorization Codes commands of OCI-P, on the service's store and rules.

Each command names its group with ``serviceProviderId`` and ``groupId`` and is refused, with
the service's one message for a missing and another tenant's group, unless the group exists,
belongs to that provider and the account may manage it (``Account.may_manage``). A group
without a service provider is its own: its ``serviceProviderId`` is its group id.

Changes make the store calls the REST routes make, through the same helpers, so OCI-P, REST
and the command line leave the same store and the same audit records: ``...ModifyRequest`` is
``PUT /api/v1/groups/{group}`` (one settings change, one record), ``...AddListRequest`` is
``POST .../codes`` (all or nothing, every bad row named from 1), ``...DeleteListRequest`` is
``POST .../codes/delete``. Authorization codes go only to the administrators of their group,
as the REST API and the command line show them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final
from xml.etree.ElementTree import Element

import attrs

from ..._errors import AccessDeniedError, BatchError, ConflictError, InvalidValueError
from ...core.model import GroupSettings, Mode
from ...store.accounts import Account
from ...store.directory import DirectoryUser, Match, UserDirectory
from ..auth import NOT_MANAGED
from ..codes import _rows as code_rows
from ..groups import _merge as merge_settings
from ..node import Node
from .documents import children, command, is_nil, leaf, only, success, table, text

__all__ = ["COMMANDS", "USER_COLUMNS", "provider_id"]

_PREFIX: Final = "GroupAccountAuthorizationCodes"
#: The columns of BroadWorks' user tables, in its order; callcodes has no Hiragana or e-mail.
USER_COLUMNS: Final = (
    "User Id",
    "Last Name",
    "First Name",
    "Hiragana Last Name",
    "Hiragana First Name",
    "Phone Number",
    "Extension",
    "Department",
    "Email Address",
)
_TYPES: Final = {
    Mode.ACCOUNT: "Account Code",
    Mode.AUTHORIZATION: "Authorization Code",
    Mode.DEACTIVATED: "Deactivated",
}
_MODES: Final = {name: mode for mode, name in _TYPES.items()}
_MATCHES: Final = {"Starts With": Match.STARTS, "Contains": Match.CONTAINS, "Equal To": Match.EQUAL}
_TARGET: Final = ("serviceProviderId", "groupId")
#: Search criteria: element -> the directory field it searches.
_CRITERIA: Final = {
    "searchCriteriaUserLastName": "last_name",
    "searchCriteriaUserFirstName": "first_name",
    "searchCriteriaUserId": "user_id",
    "searchCriteriaDn": "phone_number",
    "searchCriteriaExtension": "extension",
}
_DEPARTMENT: Final = "searchCriteriaExactUserDepartment"
_MAX_LIMIT: Final = 100_000


def provider_id(node: Node, group: str) -> str:
    """The ``serviceProviderId`` of *group*: its provider, or its own id when it has none."""
    return node.store.provider(group) or group


def _group(node: Node, who: Account, element: Element) -> str:
    """The group a command names, when *who* may manage it; refused alike otherwise."""
    provider = text(element, "serviceProviderId", limit=161)
    group = text(element, "groupId", limit=161)
    store = node.store
    if group not in store:
        raise AccessDeniedError(NOT_MANAGED)
    owner = store.provider(group)
    if (owner or group) != provider or not who.may_manage(group, owner):
        raise AccessDeniedError(NOT_MANAGED)
    return group


def _user_row(user_id: str, user: DirectoryUser | None) -> list[str]:
    """A row of a user table; a user missing from the directory has its id only."""
    if user is None:
        return [user_id, "", "", "", "", "", "", "", ""]
    return [
        user.user_id,
        user.last_name,
        user.first_name,
        "",
        "",
        user.phone_number,
        user.extension,
        user.department,
        "",
    ]


def _boolean(name: str, value: str) -> bool:
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InvalidValueError(name, value, "true or false")


def _whole(name: str, value: str, top: int) -> int:
    """*value* as a whole number from 1 to *top*: ASCII digits only."""
    if not value or not value.isascii() or not value.isdecimal() or len(value) > 9:
        raise InvalidValueError(name, value, "a whole number (digits 0-9)")
    number = int(value)
    if not 1 <= number <= top:
        raise InvalidValueError(name, value, f"from 1 to {top}")
    return number


# -- the commands ---------------------------------------------------------------------------------


def get_settings(node: Node, who: Account, element: Element) -> str:
    """``GroupAccountAuthorizationCodesGetRequest``: the type, digits and the user tables."""
    only(element, _TARGET)
    group = _group(node, who, element)
    settings = node.store.group(group)
    known = {user.user_id: user for user in UserDirectory(node.store).users(group)}

    rows = {
        which: [_user_row(u, known.get(u)) for u in sorted(ids)]
        for which, ids in (
            ("mandatory", settings.mandatory_users),
            ("optional", settings.optional_users),
        )
    }
    body = leaf("type", _TYPES[settings.mode])
    body += leaf("numberOfDigits", settings.code_length)
    body += leaf("allowLocalAndTollFreeCalls", settings.allow_local_and_toll_free)
    body += table("mandatoryUsageUserTable", USER_COLUMNS, rows["mandatory"])
    body += table("optionalUsageUserTable", USER_COLUMNS, rows["optional"])
    return command(f"{_PREFIX}GetResponse", body)


def _user_ids(element: Element, name: str) -> list[str] | None:
    """A replacement user id list: its user ids, [] when set nil, None when not given."""
    found = children(element, name)
    if not found:
        return None
    if len(found) > 1:
        raise InvalidValueError(name, len(found), "give this element once")
    if is_nil(found[0]):
        return []
    only(found[0], ("userId",))
    ids = [(item.text or "").strip() for item in children(found[0], "userId")]
    if not ids:
        raise InvalidValueError(name, [], 'give userId elements, or xsi:nil="true" to clear')
    return ids


def modify_settings(node: Node, who: Account, element: Element) -> str:
    """``...ModifyRequest``: code type, digits, local calls, replacement user lists."""
    only(
        element,
        (
            *_TARGET,
            "codeType",
            "numberOfDigits",
            "allowLocalAndTollFreeCalls",
            "mandatoryUsageUserIdList",
            "optionalUsageUserIdList",
        ),
    )
    group = _group(node, who, element)
    body: dict[str, Any] = {}
    if children(element, "codeType"):
        kind = text(element, "codeType")
        if kind not in _MODES:
            raise InvalidValueError("codeType", kind, f"one of {', '.join(map(repr, _MODES))}")
        body["mode"] = _MODES[kind].value
    if children(element, "numberOfDigits"):
        body["code_length"] = _whole("numberOfDigits", text(element, "numberOfDigits"), 99)
    if children(element, "allowLocalAndTollFreeCalls"):
        allow = text(element, "allowLocalAndTollFreeCalls")
        body["allow_local_and_toll_free"] = _boolean("allowLocalAndTollFreeCalls", allow)
    for name, key in (
        ("mandatoryUsageUserIdList", "mandatory_users"),
        ("optionalUsageUserIdList", "optional_users"),
    ):
        ids = _user_ids(element, name)
        if ids is not None:
            body[key] = ids
    if not body:
        return success()  # nothing to change, as BroadWorks answers it
    store = node.store
    before = store.group(group)
    after: GroupSettings = merge_settings(before, body)  # refused here, before any write
    if before.mode is Mode.ACCOUNT and after.mode is Mode.AUTHORIZATION and store.count(group):
        raise ConflictError(
            f"the {store.count(group)} code(s) of {group!r} were recorded in clear as account "
            "codes (in the audit trail); as authorization codes they authorize calls: confirm "
            'this change with the REST API ("confirm": true) or callcodes group set --yes'
        )
    store.modify_group(group, lambda old: merge_settings(old, body), actor=who.name)
    node.changed()
    return success()


def add_codes(node: Node, who: Account, element: Element) -> str:
    """``...AddListRequest``: codes with their descriptions, all or nothing."""
    only(element, (*_TARGET, "codeEntry"))
    group = _group(node, who, element)
    items: list[Any] = []
    for entry in children(element, "codeEntry"):
        only(entry, ("code", "description"))
        item: dict[str, str | None] = {"code": text(entry, "code", limit=64)}
        if children(entry, "description"):
            item["description"] = text(entry, "description") or None
        items.append(item)
    if not items:
        raise InvalidValueError("codeEntry", [], "give at least one codeEntry")
    store = node.store
    batch, bad, positions = code_rows(items)
    what = f"add codes to group {group!r} (rows numbered from 1)"
    if bad:
        bad += [
            attrs.evolve(row, row=positions[row.row - 1]) for row in store.check_codes(group, batch)
        ]
        raise BatchError(what, sorted(bad, key=lambda row: row.row))
    try:
        store.add_codes(group, batch, actor=who.name)
    except BatchError as exc:
        raise BatchError(what, exc.rows) from None
    node.changed()
    return success()


def delete_codes(node: Node, who: Account, element: Element) -> str:
    """``...DeleteListRequest``: a selection of codes, all or nothing."""
    only(element, (*_TARGET, "code"))
    group = _group(node, who, element)
    codes = [(item.text or "").strip() for item in children(element, "code")]
    if not codes:
        raise InvalidValueError("code", [], "name at least one code")
    node.store.delete_codes(group, codes, actor=who.name)
    node.changed()
    return success()


def list_codes(node: Node, who: Account, element: Element) -> str:
    """``...GetListRequest``: every code of the group with its description, in code order."""
    only(element, _TARGET)
    group = _group(node, who, element)
    parts = []
    for entry in node.store.iter_codes(group):
        fields = leaf("code", entry.code)
        if entry.description:
            fields += leaf("description", entry.description)
        parts.append(f"<codeEntry>{fields}</codeEntry>")
    return command(f"{_PREFIX}GetListResponse", "".join(parts))


@attrs.frozen
class _Criterion:
    field: str
    value: str
    how: Match
    exact_case: bool

    def holds(self, user: DirectoryUser) -> bool:
        """Whether *user* also matches with case (the directory's search ignores it)."""
        if not self.exact_case:
            return True
        got = getattr(user, self.field)
        if self.how is Match.STARTS:
            return bool(got.startswith(self.value))
        if self.how is Match.CONTAINS:
            return self.value in got
        return bool(got == self.value)


def _criteria(element: Element) -> list[_Criterion]:
    found = []
    for name, field in _CRITERIA.items():
        for item in children(element, name):
            only(item, ("mode", "value", "isCaseInsensitive"))
            mode = text(item, "mode")
            if mode not in _MATCHES:
                raise InvalidValueError(f"{name}.mode", mode, f"one of {', '.join(_MATCHES)}")
            value = text(item, "value", limit=161)
            ignore = _boolean(f"{name}.isCaseInsensitive", text(item, "isCaseInsensitive"))
            found.append(_Criterion(field, value, _MATCHES[mode], not ignore))
    for item in children(element, _DEPARTMENT):
        only(item, ("departmentKey",))
        keys = children(item, "departmentKey")
        if len(keys) != 1:
            raise InvalidValueError(_DEPARTMENT, len(keys), "give one departmentKey")
        only(keys[0], ("serviceProviderId", "groupId", "enterpriseId", "name"))
        found.append(_Criterion("department", text(keys[0], "name"), Match.EQUAL, True))
    return found


def available_users(node: Node, who: Account, element: Element) -> str:
    """``...GetAvailableUserListRequest``: directory users on neither list, searched."""
    only(element, (*_TARGET, "responseSizeLimit", *_CRITERIA, _DEPARTMENT))
    group = _group(node, who, element)
    limit = None
    if children(element, "responseSizeLimit"):
        given = text(element, "responseSizeLimit")
        limit = _whole("responseSizeLimit", given, _MAX_LIMIT)
    wanted = _criteria(element)
    directory = UserDirectory(node.store)
    # Every criterion must hold: each is searched as the directory searches, then intersected.
    found = directory.available(group)
    for criterion in wanted:
        search: dict[str, Any] = {criterion.field: criterion.value}
        kept = directory.available(group, match=criterion.how, **search)
        ids = {user.user_id for user in kept if criterion.holds(user)}
        found = [user for user in found if user.user_id in ids]
    if limit is not None:
        found = found[:limit]
    rows = [_user_row(user.user_id, user) for user in found]
    return command(f"{_PREFIX}GetAvailableUserListResponse", table("userTable", USER_COLUMNS, rows))


#: Request name -> what answers it, given the node, the logged-in account and the command.
COMMANDS: Final[dict[str, Callable[[Node, Account, Element], str]]] = {
    f"{_PREFIX}GetRequest": get_settings,
    f"{_PREFIX}ModifyRequest": modify_settings,
    f"{_PREFIX}AddListRequest": add_codes,
    f"{_PREFIX}DeleteListRequest": delete_codes,
    f"{_PREFIX}GetListRequest": list_codes,
    f"{_PREFIX}GetAvailableUserListRequest": available_users,
}
