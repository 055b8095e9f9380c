"""The Administration page: a group's mode, code length, local calls, and its two user tables.

``/groups/{group}`` shows the settings of BroadWorks' Account/Authorization Codes
Administration page and the Mandatory and Optional Usage User tables, each an *Available* and a
*Selected* list (``<select multiple>`` both) with Add, Remove, Select All and Deselect all
buttons. Saving changes the settings and both lists in one change of the store, checked as
``PUT /api/v1/groups/{group}`` checks it (the same merge); a group of account codes that holds
codes becomes a group of authorization codes only when the change is confirmed, as there.
The Available lists can be narrowed with the directory's search (starts with, contains, equal
to).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter

from ..._errors import CallcodesError, ConflictError, InvalidValueError
from ...core._validate import MAX_CODE_LENGTH, MIN_CODE_LENGTH, whole_number
from ...core.model import GroupSettings, Mode
from ...store.directory import DirectoryUser, Match, UserDirectory
from ..auth import node
from ..groups import _merge
from .web import (
    Visitor,
    in_thread,
    managed,
    one,
    page,
    posted,
    redirect,
    refusal,
    texts,
)

__all__ = [
    "ROUTES",
    "SEARCH_FIELDS",
    "SearchField",
    "SearchMatch",
    "SearchText",
    "search_criteria",
]

_PATH: Final = "/groups/{group:str}"
#: The directory's search fields, as the pages offer them.
SEARCH_FIELDS: Final = {
    "last_name": "Last name",
    "first_name": "First name",
    "user_id": "User id",
    "department": "Department",
    "phone_number": "Phone number",
    "extension": "Extension",
}
MATCHES: Final = {Match.STARTS.value: "starts with", Match.CONTAINS.value: "contains"}
MATCHES[Match.EQUAL.value] = "equal to"
_MODES: Final = {
    Mode.DEACTIVATED.value: "Deactivated",
    Mode.ACCOUNT.value: "Account Code",
    Mode.AUTHORIZATION.value: "Authorization Code",
}
_ACCOUNT_TO_AUTHORIZATION: Final = (
    "the {count} code(s) of this group were recorded in clear as account codes (in the audit "
    "trail); as authorization codes they authorize calls: tick the confirmation to switch"
)


#: The search's query parameters, as the Administration and Users pages take them.
SearchField = Annotated[str, Parameter(max_length=16, description="a directory field")]
SearchMatch = Annotated[str, Parameter(max_length=16, description="starts, contains, equal")]
SearchText = Annotated[str, Parameter(max_length=161, description="the text to look for")]


def search_criteria(field: str, text: str) -> dict[str, Any]:
    """The keyword arguments of ``UserDirectory.available`` for one search field and text."""
    if not text:
        return {}
    if field not in SEARCH_FIELDS:
        raise InvalidValueError("field", field, f"one of {', '.join(SEARCH_FIELDS)}")
    return {field: text}


def _label(user: DirectoryUser) -> str:
    return f"{user.last_name}, {user.first_name} ({user.user_id})"


def _view(
    request: Request[Any, Any, Any],
    viewer: Visitor,
    group: str,
    search: dict[str, str],
    *,
    settings: GroupSettings | None = None,
    refused: CallcodesError | None = None,
    note: str | None = None,
) -> Response[str]:
    """The page for *group*: its stored settings, or *settings* as the visitor sent them."""
    store = node(request).store
    stored = store.group(group)
    shown = stored if settings is None else settings
    directory = UserDirectory(store)
    names = {user.user_id: _label(user) for user in directory.users(group)}
    criteria = search_criteria(search["field"], search["text"])
    available = directory.available(group, match=search["match"], **criteria)
    listed = shown.mandatory_users | shown.optional_users
    context: dict[str, Any] = {
        "group": group,
        "settings": shown,
        "modes": _MODES,
        "available": [(u.user_id, _label(u)) for u in available if u.user_id not in listed],
        "mandatory": sorted((u, names.get(u, u)) for u in shown.mandatory_users),
        "optional": sorted((u, names.get(u, u)) for u in shown.optional_users),
        "search": search,
        "fields": SEARCH_FIELDS,
        "matches": MATCHES,
        "lengths": range(MIN_CODE_LENGTH, MAX_CODE_LENGTH + 1),
        "ask_confirm": isinstance(refused, ConflictError),
        "note": note,
    }
    if refused is not None:
        return refusal(request, "admin.html", viewer, refused, **context)
    return page(request, "admin.html", viewer, **context)


@get(_PATH, sync_to_thread=True, include_in_schema=False)
def admin_page(
    *,
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Visitor],
    group: FromPath[str],
    field: SearchField = "last_name",
    match: SearchMatch = "starts",
    text: SearchText = "",
    note: str | None = Parameter(default=None, max_length=16),
) -> Response[str]:
    """The group's settings and user tables, the Available lists narrowed by the search."""
    managed(request, viewer, group)
    search = {"field": field, "match": match, "text": text}
    return _view(request, viewer, group, search, note="Saved." if note == "saved" else None)


@post(_PATH, status_code=303, include_in_schema=False)
async def save(
    request: Request[Any, Any, Any], viewer: NamedDependency[Visitor], group: FromPath[str]
) -> Response[Any]:
    """Save the settings and both lists at once; nothing changes when any of it is refused."""
    form = await posted(request, viewer)
    await in_thread(managed, request, viewer, group)
    store = node(request).store
    body: dict[str, Any] = {
        "mode": one(form, "mode", limit=32),
        "allow_local_and_toll_free": one(form, "allow_local_and_toll_free") == "yes",
    }
    search = {"field": "last_name", "match": "starts", "text": ""}
    try:
        body["code_length"] = whole_number(
            "code_length", one(form, "code_length", limit=8), MIN_CODE_LENGTH, MAX_CODE_LENGTH
        )
        if one(form, "lists") == "yes":  # sent by the page's script: the lists as shown
            body["mandatory_users"] = texts(form, "mandatory", limit=161)
            body["optional_users"] = texts(form, "optional", limit=161)
        confirm = one(form, "confirm") == "yes"

        def change() -> None:
            before = store.group(group)
            after = _merge(before, body)  # refused here, before anything is written
            if before.mode is Mode.ACCOUNT and after.mode is Mode.AUTHORIZATION:
                count = store.count(group)
                if count and not confirm:
                    raise ConflictError(_ACCOUNT_TO_AUTHORIZATION.format(count=count))
            store.modify_group(group, lambda old: _merge(old, body), actor=viewer.account.name)

        await in_thread(change)
    except CallcodesError as exc:
        refused = exc  # the page below is drawn on a thread, after this block
        sent: GroupSettings | None = None
        try:
            sent = _merge(await in_thread(store.group, group), body)
        except CallcodesError:
            sent = None
        return await in_thread(
            lambda: _view(request, viewer, group, search, settings=sent, refused=refused)
        )
    node(request).changed()
    return redirect(f"/groups/{group}", {"note": "saved"})


ROUTES: Final = [admin_page, save]
