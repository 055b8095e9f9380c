"""What every portal page shares: the session cookie, the CSRF token, forms, pages, refusals.

The cookie holds a session token of the accounts (``Accounts.login``), so a portal session
expires, ends on logout and on a password change exactly as an API session does, and a login
here is throttled with the API's. The cookie is ``HttpOnly`` and ``SameSite=Strict``, and
``Secure`` when the request came over TLS. Each form carries a CSRF token derived from the
session token (the login form: from a random cookie of its own); a POST whose token is missing
or wrong is refused with 403 before anything is read or written. Pages are rendered with
autoescaping on, and sent with a Content-Security-Policy that allows no inline script or style.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar
from urllib.parse import urlencode

import anyio.to_thread
import attrs
import jinja2
from litestar import Request, Response
from litestar.datastructures import Cookie, FormMultiDict, UploadFile
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect

from ..._errors import (
    AccessDeniedError,
    BatchError,
    CallcodesError,
    InvalidValueError,
)
from ...store.accounts import Account, Role
from ..auth import NOT_MANAGED, may_manage, node
from ..problems import _message as problem_message
from ..problems import _status as problem_status

__all__ = [
    "CSP",
    "SESSION_COOKIE",
    "Visitor",
    "call",
    "exception_handlers",
    "in_thread",
    "managed",
    "one",
    "page",
    "posted",
    "redirect",
    "refusal",
    "texts",
    "visitor",
]

#: The cookie that holds the session token.
SESSION_COOKIE: Final = "callcodes_session"
#: The cookie that ties the login form to the browser that asked for it.
LOGIN_COOKIE: Final = "callcodes_login"
#: Every portal page's Content-Security-Policy: scripts and styles from the portal's files only.
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
#: The longest text field a form may hold (a description is at most 80 characters).
MAX_FIELD: Final = 1024
#: The most values one form field may repeat (codes ticked, users selected).
MAX_VALUES: Final = 10_000
_NO_FORM: Final = (
    "this form did not come from this portal or has expired: reload the page and send it again"
)

_TEMPLATES: Final = jinja2.Environment(
    loader=jinja2.PackageLoader("callcodes.service.portal", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

_T = TypeVar("_T")


def _query(params: Mapping[str, object], **more: object) -> str:
    """*params* and *more* as a URL query, without the empty ones (a template filter)."""
    merged = {**params, **more}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


_TEMPLATES.filters["urlencode_clean"] = _query


@attrs.frozen
class Visitor:
    """The signed-in account of a portal request, with its session token."""

    account: Account
    secret: str = attrs.field(repr=False)

    @property
    def csrf(self) -> str:
        """The CSRF token of this session's forms."""
        return _derive(self.secret)


class SignInNeeded(Exception):  # noqa: N818 - a signal that turns into a redirect, not a fault
    """The request has no valid session: the answer is the login page."""


def _derive(secret: str) -> str:
    return hmac.new(b"callcodes portal form", secret.encode(), hashlib.sha256).hexdigest()


def cookie(request: Request[Any, Any, Any], name: str, value: str, *, end: bool = False) -> Cookie:
    """A portal cookie: HttpOnly, SameSite=Strict, Secure under TLS; *end* deletes it."""
    return Cookie(
        key=name,
        value="" if end else value,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=0 if end else None,
    )


def visitor(request: Request[Any, Any, Any]) -> Visitor:
    """The dependency of every page behind the login: the session's account, else the login."""
    secret = request.cookies.get(SESSION_COOKIE, "")
    if not secret or len(secret) > MAX_FIELD:
        raise SignInNeeded
    try:
        who = node(request).authenticate(secret)
    except AccessDeniedError:
        raise SignInNeeded from None
    if who.role is Role.SOFTSWITCH:
        raise SignInNeeded
    return Visitor(who, secret)


def managed(request: Request[Any, Any, Any], who: Visitor, group: str) -> str:
    """*group* when *who* may manage it; else the same 404 for a missing and another's group."""
    if not may_manage(request, who.account, group):
        raise NotFoundException(NOT_MANAGED)
    return group


def login_token(request: Request[Any, Any, Any]) -> str:
    """The login form's token: its cookie's value (a new one when the browser has none)."""
    found = request.cookies.get(LOGIN_COOKIE, "")
    return found if 32 <= len(found) <= 64 else secrets.token_urlsafe(32)


def _same(sent: object, expected: str) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())


async def posted(request: Request[Any, Any, Any], who: Visitor | None) -> FormMultiDict:
    """The form of a POST, once its CSRF token is checked (403 without it, nothing read).

    *who* None: the login form, whose token is its cookie's value.
    """
    form = await request.form()
    if who is None:
        expected = request.cookies.get(LOGIN_COOKIE, "")
        ok = len(expected) >= 32 and _same(form.get("csrf"), expected)
    else:
        ok = _same(form.get("csrf"), who.csrf)
    if not ok:
        raise HTTPException(status_code=403, detail=_NO_FORM)
    return form


def one(form: FormMultiDict, name: str, *, limit: int = MAX_FIELD) -> str:
    """The text of field *name* ("" when absent), at most *limit* characters."""
    value = form.get(name, "")
    if isinstance(value, UploadFile):
        raise InvalidValueError(name, value.filename, "give text, not a file")
    if len(value) > limit:
        raise InvalidValueError(name, value[:20] + "...", f"at most {limit} characters")
    return str(value)


def texts(form: FormMultiDict, name: str, *, limit: int = MAX_FIELD) -> list[str]:
    """Every value of field *name* (a multiple choice), each bounded, at most MAX_VALUES."""
    values = form.getall(name, [])
    if len(values) > MAX_VALUES:
        raise InvalidValueError(name, len(values), f"at most {MAX_VALUES} at once")
    found = []
    for value in values:
        if isinstance(value, UploadFile) or len(value) > limit:
            raise InvalidValueError(name, "...", f"text of at most {limit} characters")
        found.append(str(value))
    return found


def call(handler: Any, **arguments: Any) -> Any:
    """What the REST route *handler* answers *arguments*: the same function, called as it is."""
    fn: Any = handler.fn
    return fn(**arguments)


async def in_thread(fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)`` on a worker thread: the store blocks, the event loop must not."""
    return await anyio.to_thread.run_sync(fn, *args)


def page(
    request: Request[Any, Any, Any],
    template: str,
    who: Visitor | None,
    *,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Response[str]:
    """*template* rendered for *who*, with the portal's security headers."""
    html = _TEMPLATES.get_template(template).render(
        who=who,
        csrf=None if who is None else who.csrf,
        path=request.url.path,
        query=request.query_params,
        **context,
    )
    return Response(
        html,
        status_code=status,
        media_type="text/html; charset=utf-8",
        headers=HEADERS,
        cookies=cookies or [],
    )


def redirect(path: str, params: Mapping[str, object] | None = None) -> Redirect:
    """A 303 to *path* (a page of the portal) with *params* as its query."""
    query = _query(params or {})
    return Redirect(f"{path}?{query}" if query else path, status_code=303, headers=HEADERS)


def problem_rows(exc: CallcodesError) -> list[Any]:
    """The bad rows of a refused batch, for a page to list; none for other errors."""
    return list(exc.rows) if isinstance(exc, BatchError) else []


def message(exc: CallcodesError) -> str:
    """*exc* as a page says it: a batch by its summary (the page lists its rows apart)."""
    if isinstance(exc, BatchError):
        return f"{exc.what}: {len(exc.rows)} bad row(s), nothing was changed"
    return problem_message(exc)


def refusal(
    request: Request[Any, Any, Any],
    template: str,
    who: Visitor | None,
    exc: CallcodesError,
    **context: Any,
) -> Response[str]:
    """*template* again, saying why *exc* refused its form: the API's status, every bad row."""
    return page(
        request,
        template,
        who,
        status=problem_status(exc),
        error=message(exc),
        rows=problem_rows(exc),
        **context,
    )


def _to_login(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    wanted = request.url.path if request.method == "GET" else "/"
    return redirect("/login", {"next": wanted if wanted != "/" else None})


def _refused(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, HTTPException):
        status, detail = exc.status_code, str(exc.detail)
    else:
        assert isinstance(exc, CallcodesError)
        status, detail = problem_status(exc), message(exc)
    rows = problem_rows(exc) if isinstance(exc, CallcodesError) else []
    return page(request, "refused.html", None, status=status, error=detail, rows=rows)


def exception_handlers() -> dict[type[Exception] | int, Any]:
    """The portal's refusals: an HTML page (the login page when there is no session)."""
    return {SignInNeeded: _to_login, CallcodesError: _refused, HTTPException: _refused}
