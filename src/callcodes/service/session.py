"""Session routes: log in with a password, log out, change one's password, and who am I.

``POST /api/v1/login`` trades an account's name and password for a session token (a bearer
token that expires), throttled per account name and per client address by the accounts
(``LoginPolicy``); ``POST /api/v1/logout`` ends the session that sent it. Changing the password
needs the current one and ends every session of the account, this one included; API tokens
(``callcodes accounts token``) are not sessions and stay valid.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from litestar import Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import RawBody

from .._errors import AccessDeniedError, InvalidValueError
from ..core.plain import check_keys
from ..store.accounts import Account
from .auth import bearer, client_address, node
from .problems import Problem, json_object, problem_responses, request_body

__all__ = ["ROUTES", "AccountView", "Login", "PasswordChange", "PasswordChanged", "Session"]

_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="callcodes"'}
#: The longest password read: argon2 would hash megabytes, which costs time for nothing.
_MAX_PASSWORD: Final = 1024


class AccountView(msgspec.Struct):
    """An account: name, role, scope (its provider or group), creation, password or not.

    ``has_password``: whether it signs in with a password (else with tokens only).
    """

    name: str
    role: str
    scope: str | None
    created: str
    has_password: bool = False


class Login(msgspec.Struct):
    """An account's name and password."""

    username: str
    password: str


class Session(msgspec.Struct):
    """A session: its bearer token, when it expires (ISO 8601, or null) and the account."""

    token: str
    expires: str | None
    account: AccountView


class PasswordChange(msgspec.Struct):
    """The current password and the new one."""

    current: str
    new: str


class PasswordChanged(msgspec.Struct):
    """The password was changed, and the account's sessions ended."""

    account: str
    sessions_ended: bool


def _view(account: Account) -> AccountView:
    return msgspec.convert(account.to_dict(), AccountView)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidValueError(key, "..." if isinstance(value, str) else value, "give it as text")
    if len(value) > _MAX_PASSWORD:
        raise InvalidValueError(key, "...", f"at most {_MAX_PASSWORD} characters")
    return value


@post(
    "/api/v1/login",
    status_code=200,
    sync_to_thread=True,
    exclude_from_auth=True,
    security=[{}],  # no token needed: an empty requirement (OpenAPI)
    operation_class=request_body(Login),
    responses=problem_responses(400, 401, 413, 415, 422),
)
def login(request: Request[Any, Any, Any], body: RawBody) -> Session:
    """Log in: a session token for the account, if the password is right and not throttled."""
    sent = json_object(request, body)
    check_keys("body", sent, ("username", "password"))
    name, password = _text(sent, "username"), _text(sent, "password")
    try:
        info, secret = node(request).accounts.login(name, password, source=client_address(request))
    except AccessDeniedError as exc:
        raise Problem(401, str(exc), headers=_CHALLENGE) from None
    account = node(request).accounts.get(info.account)
    expires = None if info.expires is None else info.expires.isoformat()
    return Session(secret, expires, _view(account))


@post("/api/v1/logout", status_code=204, sync_to_thread=True, responses=problem_responses(401, 403))
def logout(request: Request[Any, Any, Any], staff: NamedDependency[Account]) -> None:  # noqa: ARG001
    # staff: the dependency that refuses a softswitch account (403), as on every other route.
    """End the session that sent this request: its token is no longer valid."""
    node(request).accounts.logout(bearer(request))
    node(request).forget_tokens()


@get("/api/v1/account", sync_to_thread=True, responses=problem_responses(401, 403))
def whoami(staff: NamedDependency[Account]) -> AccountView:
    """The account of the token: name, role and scope."""
    return _view(staff)


@put(
    "/api/v1/account/password",
    sync_to_thread=True,
    operation_class=request_body(PasswordChange),
    responses=problem_responses(400, 401, 403, 413, 415, 422),
)
def change_password(
    request: Request[Any, Any, Any], staff: NamedDependency[Account], body: RawBody
) -> PasswordChanged:
    """Change the account's password (the current one is checked); its sessions end."""
    sent = json_object(request, body)
    check_keys("body", sent, ("current", "new"))
    current, new = _text(sent, "current"), _text(sent, "new")
    accounts = node(request).accounts
    try:
        accounts.verify_password(staff.name, current, source=client_address(request))
    except AccessDeniedError as exc:
        raise Problem(403, f"the current password is not right: {exc}") from None
    accounts.set_password(staff.name, new, actor=staff.name)
    node(request).forget_tokens()
    return PasswordChanged(staff.name, True)


ROUTES: Final = [login, logout, whoami, change_password]
