"""One OCI-P session: BroadWorks' login and logout, then each command answered in its order.

A connection is one session. ``AuthenticationRequest`` gets a fresh nonce (algorithm ``MD5``);
``LoginRequest14sp4`` then proves the password with ``md5(nonce + ":" + sha1hex(password))``,
checked against the verifier an account keeps once enabled for OCI-P; ``LoginRequest22V5``
sends the password itself and is taken only over TLS or from the loopback address. Either
opens a session of the service's accounts, throttled and audited as every login is, so a
password change, a revoked session or its expiry ends the OCI-P session as it ends a REST
one; ``LogoutRequest`` and a closed connection end it too. The session is checked again
before every document, and its account's tenancy on every command (``commands``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Final
from xml.etree.ElementTree import Element

from ..._errors import AccessDeniedError, CallcodesError, UnknownGroupError
from ...store.accounts import Account, Role
from ..auth import NOT_MANAGED
from ..node import Node
from . import commands
from .documents import Document, command, document, error, leaf, only, success, text

__all__ = ["Session"]

_log = logging.getLogger(__name__)

_LOGIN_TYPES: Final = {Role.OPERATOR: "System", Role.PROVIDER: "Service Provider"}
_NOT_LOGGED_IN: Final = (
    "not logged in: send AuthenticationRequest, then LoginRequest14sp4 with the signed "
    "password (or LoginRequest22V5 over TLS)"
)
_ENDED: Final = "the session ended (logged out, expired, or the password changed): log in again"
_SOFTSWITCH: Final = "a softswitch account may only ask for decisions: it has no OCI-P access"
_PLAIN: Final = (
    "LoginRequest22V5 carries the password itself: it is taken only over TLS (serve --oci-tls) "
    "or from this host; use AuthenticationRequest and LoginRequest14sp4"
)
_INTERNAL: Final = "internal error: the command was not completed (see the server's log)"


class Session:
    """The state of one connection: its session id, its pending nonce, its login."""

    def __init__(self, node: Node, *, source: str, plain_ok: bool) -> None:
        self.node = node
        self.source = source  # the client's address: failed logins are counted against it
        self.plain_ok = plain_ok  # TLS or loopback: LoginRequest22V5 is taken
        self.session_id: str | None = None
        self.nonce: tuple[str, str] | None = None  # (user id, nonce) of AuthenticationRequest
        self.token: str | None = None  # the accounts' session, once logged in

    def answer(self, request: Document) -> bytes:
        """The reply to *request*: one response per command, in order."""
        if self.session_id is None:
            self.session_id = request.session_id
        if request.session_id != self.session_id:
            refusal = (
                f"one session per connection: this connection's session is {self.session_id!r}"
            )
            return document(request.session_id, [error(refusal)] * len(request.commands))
        replies = [self._one(item.kind, item.element) for item in request.commands]
        return document(request.session_id, replies)

    def _one(self, kind: str, element: Element) -> str:
        try:
            login = self._LOGIN.get(kind)
            if login is not None:
                return login(self, element)
            who = self._account()
            run = commands.COMMANDS.get(kind)
            if run is None:
                return error(
                    f"{kind} is not supported: this server answers the Account/Authorization "
                    f"Codes commands ({', '.join(sorted(commands.COMMANDS))})"
                )
            return run(self.node, who, element)
        except UnknownGroupError:  # the group went away meanwhile: as for another tenant's
            return error(NOT_MANAGED)
        except CallcodesError as exc:
            return error(str(exc))
        except Exception:  # noqa: BLE001 - a bug must not end the session nor show internals
            _log.exception("OCI-P command %s failed", kind)
            return error(_INTERNAL)

    def _account(self) -> Account:
        """The logged-in account, its session checked again (as a REST request's token)."""
        if self.token is None:
            raise AccessDeniedError(_NOT_LOGGED_IN)
        try:
            return self.node.authenticate(self.token)
        except AccessDeniedError:
            self.token = None
            raise AccessDeniedError(_ENDED) from None

    # -- login and logout ----------------------------------------------------------------------

    def _authentication(self, element: Element) -> str:
        only(element, ("userId",))
        user = text(element, "userId", limit=161)
        nonce = str(secrets.randbelow(10**20))
        self.nonce = (user, nonce)
        body = leaf("userId", user) + leaf("nonce", nonce) + leaf("passwordAlgorithm", "MD5")
        return command("AuthenticationResponse", body)

    def _login14sp4(self, element: Element) -> str:
        only(element, ("userId", "signedPassword", "plainTextPassword"))
        user = text(element, "userId", limit=161)
        signed = text(element, "signedPassword", required=False)
        pending, self.nonce = self.nonce, None  # a nonce signs one attempt only
        if pending is None or pending[0] != user:
            raise AccessDeniedError(
                f"send AuthenticationRequest for {user!r} first: its nonce signs the password"
            )
        if not signed:
            raise AccessDeniedError("give signedPassword: md5(nonce + ':' + sha1hex(password))")
        self._end()
        _info, self.token = self.node.accounts.login_signed(
            user, pending[1], signed, source=self.source
        )
        return self._logged_in("LoginResponse14sp4")

    def _login22v5(self, element: Element) -> str:
        only(element, ("userId", "password", "signedPassword"))
        user = text(element, "userId", limit=161)
        password = text(element, "password", required=False, limit=1024)
        if not self.plain_ok:
            raise AccessDeniedError(_PLAIN)
        if not password:
            raise AccessDeniedError("give password (signedPassword is not taken here)")
        self._end()
        _info, self.token = self.node.accounts.login(user, password, source=self.source)
        return self._logged_in("LoginResponse22V5")

    def _logged_in(self, kind: str) -> str:
        """The login response of the account just logged in (softswitch accounts refused)."""
        who = self._account()
        if who.role is Role.SOFTSWITCH:
            self._end()
            raise AccessDeniedError(_SOFTSWITCH)
        fields = leaf("loginType", _LOGIN_TYPES.get(who.role, "Group"))
        fields += leaf("locale", "en_US") + leaf("encoding", "ISO-8859-1")
        if who.role is Role.GROUP:
            assert who.scope is not None
            fields += leaf("groupId", who.scope)
            fields += leaf("serviceProviderId", commands.provider_id(self.node, who.scope))
        elif who.role is Role.PROVIDER:
            assert who.scope is not None
            fields += leaf("serviceProviderId", who.scope)
        fields += leaf("isEnterprise", False) + leaf("userDomain", "callcodes")
        return command(kind, fields)

    def _logout(self, element: Element) -> str:
        only(element, ("userId", "reason"))
        text(element, "userId", limit=161)
        self._end()
        return success()

    def _end(self) -> None:
        """End the session's login, if any (its session token ends with it)."""
        token, self.token = self.token, None
        if token is not None:
            self.node.accounts.logout(token)
            self.node.forget_tokens()

    def close(self) -> None:
        """The connection closed: its login ends, as BroadWorks ends a lost session."""
        self._end()

    _LOGIN: Final[dict[str, Callable[[Session, Element], str]]] = {
        "AuthenticationRequest": _authentication,
        "LoginRequest14sp4": _login14sp4,
        "LoginRequest22V5": _login22v5,
        "LogoutRequest": _logout,
    }
