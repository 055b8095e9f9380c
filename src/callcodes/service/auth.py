"""Who is asking, and what they may reach: bearer tokens, roles and tenancy for every route.

Every route but ``/healthz`` and ``POST /api/v1/login`` needs ``Authorization: Bearer <token>``
(an API token from ``callcodes accounts token`` or a session from ``POST /api/v1/login``). A
group route answers 404 with the same body whether the group does not exist or belongs to
another tenant, so an account learns nothing of other tenants' groups; a softswitch account
reaches only decisions (403 everywhere else).
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request
from litestar.di import NamedDependency
from litestar.params import FromPath

from .._errors import AccessDeniedError
from ..store.accounts import Account, Role
from .node import Node
from .problems import Problem

__all__ = [
    "NOT_MANAGED",
    "account",
    "bearer",
    "client_address",
    "manageable",
    "managed_group",
    "may_manage",
    "node",
    "staff",
]

_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="callcodes"'}
#: The longest Authorization header read (a token is about 60 characters).
_MAX_HEADER: Final = 512
#: The detail of every 404 of a group route: the same for a missing and another tenant's group.
NOT_MANAGED: Final = "no such group, or not one this account may manage"
_SOFTSWITCH: Final = "a softswitch account may only ask for decisions (POST /api/v1/decide)"


def node(request: Request[Any, Any, Any]) -> Node:
    """The service process's open store, accounts and engine."""
    found: Node = request.app.state["node"]
    return found


def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's IP address, the source that failed logins are counted against."""
    client = request.client
    return client.host if client is not None and client.host else "unknown"


def bearer(request: Request[Any, Any, Any]) -> str:
    """The bearer token of the request; 401 when there is none."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(header) > _MAX_HEADER:
        raise Problem(
            401,
            "send Authorization: Bearer <token> (callcodes accounts token, or POST /api/v1/login)",
            headers=_CHALLENGE,
        )
    return token


def account(request: Request[Any, Any, Any]) -> Account:
    """The account whose token the request carries; 401 if the token is refused."""
    token = bearer(request)
    try:
        return node(request).authenticate(token)
    except AccessDeniedError as exc:
        raise Problem(401, str(exc), headers=_CHALLENGE) from None


def staff(who: NamedDependency[Account]) -> Account:
    """The dependency of the routes for people: *who*, unless a softswitch account (403)."""
    if who.role is Role.SOFTSWITCH:
        raise Problem(403, _SOFTSWITCH)
    return who


def may_manage(request: Request[Any, Any, Any], who: Account, group: str) -> bool:
    """Whether *who* may see and change *group* (False for a group that does not exist)."""
    store = node(request).store
    if group not in store:
        return False
    return who.may_manage(group, store.provider(group))


def manageable(request: Request[Any, Any, Any], who: Account, group: str) -> str:
    """*group*, when *who* may manage it; else 403 for a softswitch, 404 for anyone else.

    The 404 is the same whether the group does not exist or is another tenant's.
    """
    if who.role is Role.SOFTSWITCH:
        raise Problem(403, _SOFTSWITCH)
    if not may_manage(request, who, group):
        raise Problem(404, NOT_MANAGED)
    return group


def managed_group(
    request: Request[Any, Any, Any], who: NamedDependency[Account], group: FromPath[str]
) -> str:
    """The dependency of every group route: the path's group, checked with :func:`manageable`."""
    return manageable(request, who, group)
