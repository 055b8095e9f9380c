"""Signing in and out of the portal, changing one's password, and the groups one may manage.

``/login`` trades a name and password for a session of the accounts (throttled per name and per
client address, shared with ``POST /api/v1/login``); ``/logout`` ends it; ``/account/password``
changes the password, which ends every session of the account, this one included. ``/`` lists
the groups the account may manage, as ``GET /api/v1/groups`` does.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter

from ..._errors import AccessDeniedError, InvalidValueError
from ...store.accounts import MAX_PASSWORD_LENGTH
from ..auth import client_address, node
from ..groups import list_groups
from .web import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Visitor,
    call,
    cookie,
    in_thread,
    login_token,
    message,
    one,
    page,
    posted,
    redirect,
)

__all__ = ["ROUTES"]

#: The longest account name read (names are at most 64 characters).
_MAX_NAME: Final = 256
_NOTES: Final = {
    "out": "You are signed out.",
    "password": "Your password was changed: sign in with the new one.",
}


def _next(value: str | None) -> str:
    """Where to go after signing in: a path of the portal, never another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value[:512]
    return "/"


@get("/login", sync_to_thread=False, include_in_schema=False)
def login_page(
    request: Request[Any, Any, Any],
    next: str | None = Parameter(default=None, max_length=512),  # the query is named next
    note: str | None = Parameter(default=None, max_length=32),
) -> Response[str]:
    """The login form (fields ``username`` and ``password``)."""
    token = login_token(request)
    return page(
        request,
        "login.html",
        None,
        login_csrf=token,
        next=_next(next),
        note=_NOTES.get(note or ""),
        error=None,
        username="",
        cookies=[cookie(request, LOGIN_COOKIE, token)],
    )


@post("/login", status_code=303, include_in_schema=False)
async def login(request: Request[Any, Any, Any]) -> Response[Any]:
    """Sign in: a session cookie when the password is right and the name is not throttled."""
    form = await posted(request, None)
    name = one(form, "username", limit=_MAX_NAME)
    password = one(form, "password", limit=MAX_PASSWORD_LENGTH)
    wanted = _next(one(form, "next", limit=512))
    accounts = node(request).accounts
    try:
        _info, secret = await in_thread(
            lambda: accounts.login(name, password, source=client_address(request))
        )
    except (AccessDeniedError, InvalidValueError) as exc:
        token = login_token(request)
        return page(
            request,
            "login.html",
            None,
            status=401,
            login_csrf=token,
            next=wanted,
            note=None,
            error=message(exc),
            username=name,
            cookies=[cookie(request, LOGIN_COOKIE, token)],
        )
    done = redirect(wanted)
    done.cookies.append(cookie(request, SESSION_COOKIE, secret))
    done.cookies.append(cookie(request, LOGIN_COOKIE, "", end=True))
    return done


@post("/logout", status_code=303, include_in_schema=False)
async def logout(
    request: Request[Any, Any, Any], viewer: NamedDependency[Visitor]
) -> Response[Any]:
    """Sign out: the session ends in the accounts, and its cookie is cleared."""
    await posted(request, viewer)
    current = node(request)
    await in_thread(current.accounts.logout, viewer.secret)
    current.forget_tokens()
    done = redirect("/login", {"note": "out"})
    done.cookies.append(cookie(request, SESSION_COOKIE, "", end=True))
    return done


@get("/", sync_to_thread=True, include_in_schema=False)
def home(request: Request[Any, Any, Any], viewer: NamedDependency[Visitor]) -> Response[str]:
    """The groups the account may manage, with their mode and code count."""
    found = call(list_groups, request=request, staff=viewer.account).groups
    return page(request, "groups.html", viewer, groups=found)


@get("/account/password", sync_to_thread=False, include_in_schema=False)
def password_page(
    request: Request[Any, Any, Any], viewer: NamedDependency[Visitor]
) -> Response[str]:
    """The form to change one's password."""
    return page(request, "password.html", viewer, error=None)


def _same_twice(new: str, again: str) -> None:
    if new != again:
        raise InvalidValueError("new", "(hidden)", "type the same new password twice")


@post("/account/password", status_code=303, include_in_schema=False)
async def change_password(
    request: Request[Any, Any, Any], viewer: NamedDependency[Visitor]
) -> Response[Any]:
    """Change the password (the current one is checked); every session of the account ends."""
    form = await posted(request, viewer)
    current = one(form, "current", limit=MAX_PASSWORD_LENGTH)
    new = one(form, "new", limit=MAX_PASSWORD_LENGTH)
    again = one(form, "again", limit=MAX_PASSWORD_LENGTH)
    accounts = node(request).accounts
    name = viewer.account.name
    try:
        _same_twice(new, again)
        await in_thread(
            lambda: accounts.verify_password(name, current, source=client_address(request))
        )
        await in_thread(lambda: accounts.set_password(name, new, actor=name))
    except (AccessDeniedError, InvalidValueError) as exc:
        status = 403 if isinstance(exc, AccessDeniedError) else 422
        return page(request, "password.html", viewer, status=status, error=message(exc))
    node(request).forget_tokens()
    done = redirect("/login", {"note": "password"})
    done.cookies.append(cookie(request, SESSION_COOKIE, "", end=True))
    return done


ROUTES: Final = [login_page, login, logout, home, password_page, change_password]
