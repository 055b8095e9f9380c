"""The Management page: a group's codes paged and searched, added, bulk edited, deleted, moved.

``/groups/{group}/codes`` lists the codes a page at a time, each as ``<tr data-code="...">``,
searched by prefix (the store's index) and by words of the description; ticked codes are
deleted after a confirmation page that names every one. ``.../add`` adds one code (the "+" of
the BroadWorks page), ``.../edit`` edits the descriptions of a page of codes at once,
``.../import`` reads a CSV code list (every bad row shown with its line and reason, nothing
changed) and ``.../export`` writes one. Each change goes through the store's own all-or-nothing
writes, audited as the signed-in account.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, Final

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath, Parameter

from ..._errors import CallcodesError, InvalidValueError
from ...core._validate import MAX_DESCRIPTION_LENGTH
from ...core.model import CodeEntry
from ...policyfile import (
    entry_from_dict,
    export_codes_csv,
    import_codes_csv,
    parse_codes_csv,
)
from ...store.writes import BaseStore
from ..auth import node
from ..codes import _check_replacement, _file_name
from .web import (
    HEADERS,
    MAX_VALUES,
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

__all__ = ["ROUTES"]

_PATH: Final = "/groups/{group:str}/codes"
_SIZES: Final = (20, 50, 100, 500)
_NOTES: Final = {
    "added": "The code was added.",
    "edited": "{n} description(s) changed.",
    "deleted": "{n} code(s) deleted.",
    "imported": "{n} code(s) imported.",
}

Prefix = Parameter(default="", max_length=14, description="codes starting with these digits")
Words = Parameter(default="", max_length=MAX_DESCRIPTION_LENGTH, description="in the description")
After = Parameter(default=None, max_length=14)
Size = Parameter(default=50, ge=1, le=max(_SIZES))


def _matching(store: BaseStore, group: str, prefix: str, words: str) -> Iterator[CodeEntry]:
    """The group's codes with *prefix* whose description holds *words* (ignoring case)."""
    wanted = words.casefold()
    for entry in store.iter_codes(group, prefix):
        if wanted in (entry.description or "").casefold():
            yield entry


def _page(
    store: BaseStore, group: str, prefix: str, words: str, *, after: str | None, size: int
) -> tuple[list[CodeEntry], str | None]:
    """One page of the search, and the ``after`` of the next page (None on the last)."""
    if not words:
        found = store.codes(group, prefix, after, size + 1)
    else:
        found = []
        for entry in _matching(store, group, prefix, words):
            if after is not None and entry.code <= after:
                continue
            found.append(entry)
            if len(found) > size:
                break
    shown = found[:size]
    return shown, shown[-1].code if len(found) > size else None


def _search(prefix: str, words: str, size: int) -> dict[str, Any]:
    return {"prefix": prefix, "q": words, "limit": size if size != 50 else None}


@get(_PATH, sync_to_thread=True, include_in_schema=False)
def codes_page(
    *,
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Visitor],
    group: FromPath[str],
    prefix: str = Prefix,
    q: str = Words,
    after: str | None = After,
    limit: int = Size,
    note: str | None = Parameter(default=None, max_length=16),
    n: int = Parameter(default=0, ge=0, le=10**9),
) -> Response[str]:
    """The group's codes, a page at a time, with the search, the add and delete controls."""
    managed(request, viewer, group)
    store = node(request).store
    settings = store.group(group)
    shown, following = _page(store, group, prefix, q, after=after, size=limit)
    search = _search(prefix, q, limit)
    return page(
        request,
        "codes.html",
        viewer,
        group=group,
        settings=settings,
        total=store.count(group),
        codes=shown,
        search=search,
        next=following,
        first=after is not None,
        sizes=_SIZES,
        note=_NOTES[note].format(n=n) if note in _NOTES else None,
    )


# -- add ------------------------------------------------------------------------------------------


@get(f"{_PATH}/add", sync_to_thread=True, include_in_schema=False)
def add_page(
    request: Request[Any, Any, Any], viewer: NamedDependency[Visitor], group: FromPath[str]
) -> Response[str]:
    """The form to add a code: its digits and an optional description."""
    managed(request, viewer, group)
    settings = node(request).store.group(group)
    return page(
        request, "add.html", viewer, group=group, settings=settings, code="", description=""
    )


def _entry(code: str, description: str) -> CodeEntry | str:
    """The entry to add; the bare code when it is malformed (the store says why)."""
    try:
        return entry_from_dict({"code": code, "description": description or None})
    except InvalidValueError as exc:
        if exc.field == "code":
            return code
        raise


@post(f"{_PATH}/add", status_code=303, include_in_schema=False)
async def add_code(
    request: Request[Any, Any, Any], viewer: NamedDependency[Visitor], group: FromPath[str]
) -> Response[Any]:
    """Add one code; refused with the reason (and nothing added) when it cannot be."""
    form = await posted(request, viewer)
    await in_thread(managed, request, viewer, group)
    code, description = one(form, "code", limit=64), one(form, "description", limit=256)
    store = node(request).store
    try:
        entry = _entry(code, description)
        await in_thread(lambda: store.add_codes(group, [entry], actor=viewer.account.name))
    except CallcodesError as exc:
        settings = await in_thread(store.group, group)
        return refusal(
            request,
            "add.html",
            viewer,
            exc,
            group=group,
            settings=settings,
            code=code,
            description=description,
        )
    node(request).changed()
    return redirect(f"/groups/{group}/codes", {"note": "added", "prefix": code})


# -- bulk edit ------------------------------------------------------------------------------------


@get(f"{_PATH}/edit", sync_to_thread=True, include_in_schema=False)
def edit_page(
    *,
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Visitor],
    group: FromPath[str],
    prefix: str = Prefix,
    q: str = Words,
    after: str | None = After,
    limit: int = Size,
) -> Response[str]:
    """The page of codes of the search, each description in a field of one form."""
    managed(request, viewer, group)
    store = node(request).store
    shown, _following = _page(store, group, prefix, q, after=after, size=limit)
    return page(
        request, "edit.html", viewer, group=group, codes=shown, search=_search(prefix, q, limit)
    )


@post(f"{_PATH}/edit", status_code=303, include_in_schema=False)
async def edit_codes(
    request: Request[Any, Any, Any], viewer: NamedDependency[Visitor], group: FromPath[str]
) -> Response[Any]:
    """Save the descriptions that changed, all or nothing (an empty one is cleared)."""
    form = await posted(request, viewer)
    await in_thread(managed, request, viewer, group)
    listed = texts(form, "code", limit=64)
    given = {code: one(form, f"description-{code}", limit=256) for code in listed}
    store = node(request).store

    def save() -> int:
        changed = {}
        for code, text in given.items():
            entry = store.get(group, code)
            if entry is None or (entry.description or "") != text:
                changed[code] = text or None  # a missing code: the store says so, by row
        if changed:
            store.edit_codes(group, changed, actor=viewer.account.name)
        return len(changed)

    try:
        count = await in_thread(save)
    except CallcodesError as exc:
        entries = await in_thread(lambda: [store.get(group, c) for c in listed])
        return refusal(
            request,
            "edit.html",
            viewer,
            exc,
            group=group,
            codes=[e for e in entries if e is not None],
            edited=given,
            search=_search("", "", 50),
        )
    node(request).changed()
    return redirect(f"/groups/{group}/codes", {"note": "edited", "n": count})


# -- delete ---------------------------------------------------------------------------------------


@post(f"{_PATH}/delete", status_code=303, include_in_schema=False)
async def delete_codes(
    request: Request[Any, Any, Any], viewer: NamedDependency[Visitor], group: FromPath[str]
) -> Response[Any]:
    """Ticked codes: first a page that names them and asks; with ``confirm``, deleted."""
    form = await posted(request, viewer)
    await in_thread(managed, request, viewer, group)
    ticked = sorted(set(texts(form, "code", limit=64)))
    if not ticked:
        raise HTTPException(status_code=422, detail="tick the codes to delete first")
    if one(form, "confirm") != "yes":
        return page(request, "delete.html", viewer, group=group, codes=ticked)
    store = node(request).store
    await in_thread(lambda: store.delete_codes(group, ticked, actor=viewer.account.name))
    node(request).changed()
    return redirect(f"/groups/{group}/codes", {"note": "deleted", "n": len(ticked)})


# -- import and export ----------------------------------------------------------------------------


@get(f"{_PATH}/import", sync_to_thread=True, include_in_schema=False)
def import_page(
    request: Request[Any, Any, Any], viewer: NamedDependency[Visitor], group: FromPath[str]
) -> Response[str]:
    """The form to import a CSV code list, added to the codes or in their place."""
    managed(request, viewer, group)
    return page(request, "import.html", viewer, group=group, replace=False)


@post(f"{_PATH}/import", status_code=303, include_in_schema=False)
async def import_codes(
    request: Request[Any, Any, Any], viewer: NamedDependency[Visitor], group: FromPath[str]
) -> Response[Any]:
    """Import the file: every bad row listed with its line and reason, and nothing changed."""
    form = await posted(request, viewer)
    await in_thread(managed, request, viewer, group)
    upload = form.get("file")
    replace = one(form, "replace") == "yes"
    confirm = one(form, "confirm") == "yes"
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise HTTPException(status_code=422, detail="choose a CSV file to import")
    data = await upload.read()
    name = upload.filename[:100]
    store = node(request).store

    def run() -> int:
        if replace and not confirm:
            parse_codes_csv(data, source=name)  # a malformed file refused under its own name
            _check_replacement(request, group, data)
        return import_codes_csv(
            store, group, data, actor=viewer.account.name, source=name, replace=replace
        )

    try:
        count = await in_thread(run)
    except CallcodesError as exc:
        return refusal(request, "import.html", viewer, exc, group=group, replace=replace)
    except HTTPException as exc:  # the replacement removes most codes: ask first
        error = str(exc.detail).split(";")[0]
        return page(
            request,
            "import.html",
            viewer,
            status=exc.status_code,
            group=group,
            replace=replace,
            error=f"{error}: tick the confirmation to replace them all the same",
        )
    node(request).changed()
    return redirect(f"/groups/{group}/codes", {"note": "imported", "n": count})


@get(f"{_PATH}/export", sync_to_thread=True, include_in_schema=False)
def export_codes(
    request: Request[Any, Any, Any],
    viewer: NamedDependency[Visitor],
    group: FromPath[str],
    prefix: str = Prefix,
) -> Response[str]:
    """The codes as the CSV code list ``codes import`` reads (spreadsheet-safe)."""
    managed(request, viewer, group)
    out = io.StringIO(newline="")
    out.write("\ufeff")  # a byte order mark: spreadsheets then read non-ASCII text right
    export_codes_csv(node(request).store, group, out, prefix=prefix)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            **HEADERS,
            "Content-Disposition": f'attachment; filename="{_file_name(group)}-codes.csv"',
        },
    )


ROUTES: Final = [
    codes_page,
    add_page,
    add_code,
    edit_page,
    edit_codes,
    delete_codes,
    import_page,
    import_codes,
    export_codes,
]
assert max(_SIZES) <= MAX_VALUES  # a page of codes fits in one form
