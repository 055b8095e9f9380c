"""The ``accounts`` commands: who may use the network service, their passwords and tokens.

``add``, ``list``, ``remove`` and ``passwd`` manage the accounts (operator, provider, group,
softswitch); ``token`` issues an API token (its text is printed once), lists tokens and
sessions, and revokes one; ``oci`` enables (with the password) or disables the account's
OCI-P signed-password login, which keeps a SHA-1 verifier of the password. Passwords are
read from standard input (``--password-stdin``) or asked twice on the terminal, never from the
command line. Hashing needs the ``serve`` extra.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import Any, Final

import click

from .._errors import InvalidValueError, show
from ..core._validate import check_account_name, check_provider_id
from ..store.accounts import MAX_PASSWORD_LENGTH, Account, Accounts, Role, TokenInfo
from ._common import GROUP, JSON_OPTION, Text, Whole, echo_json, exclusive, state, table

__all__ = ["accounts"]

_LABEL_LENGTH: Final = 80


class _Checked(click.ParamType[str]):
    """An account name or a provider id: printable and bounded (exit status 2 otherwise)."""

    def __init__(self, name: str, check: Any) -> None:
        self.name = name
        self._check = check

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The value, or a usage error saying what is wrong with it."""
        try:
            return str(self._check(self.name, value))
        except InvalidValueError as exc:
            self.fail(f"{show(value)}: {exc.problem}", param, ctx)


ACCOUNT: Final = _Checked("account", check_account_name)
PROVIDER: Final = _Checked("provider", check_provider_id)


def _accounts(*, create: bool = False, read_only: bool = False) -> Accounts:
    return Accounts(state().store(create=create, read_only=read_only))


def _on_terminal() -> bool:
    return sys.stdin.isatty()


def _read_password(from_stdin: bool, *, ask: bool) -> str:
    """The password: the first line of standard input, or typed twice on the terminal."""
    if from_stdin:
        line = sys.stdin.buffer.readline(4 * MAX_PASSWORD_LENGTH + 2).rstrip(b"\n")
        line = line.removesuffix(b"\r")
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidValueError("password", "(hidden)", "must be UTF-8 text") from None
    if ask and _on_terminal():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    raise click.UsageError(
        "no terminal to ask for the password on: give it on standard input with --password-stdin"
    )


def _when(at: datetime | None) -> str:
    return "never" if at is None else at.isoformat(timespec="seconds")


@click.group()
def accounts() -> None:
    """Manage the accounts of the network service: roles, passwords and tokens."""


@accounts.command("add")
@click.argument("name", metavar="NAME", type=ACCOUNT)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--provider", type=PROVIDER, help="The provider of a provider account.")
@click.option("--group", "group_name", type=GROUP, help="The group of a group account.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--no-password", is_flag=True, help="No password: the account uses tokens only.")
@JSON_OPTION
def accounts_add(
    *,
    name: str,
    role: str,
    provider: str | None,
    group_name: str | None,
    password_stdin: bool,
    no_password: bool,
    as_json: bool,
) -> None:
    """Add an account; without a password option, the password is asked twice."""
    exclusive(provider=provider, group=group_name)
    exclusive(password_stdin=password_stdin, no_password=no_password)
    wanted = {"provider": ("--provider", provider), "group": ("--group", group_name)}
    if role in wanted and wanted[role][1] is None:
        raise click.UsageError(f"a {role} account needs {wanted[role][0]}")
    given = [option for kind, (option, value) in wanted.items() if value and kind != role]
    if given:
        raise click.UsageError(f"a {role} account takes no {given[0]}")
    password = None
    if role == Role.SOFTSWITCH:
        if password_stdin:
            raise click.UsageError("a softswitch account has no password: give it a token")
    elif not no_password:
        password = _read_password(password_stdin, ask=True)
    account = _accounts(create=True).add(
        name, role, scope=provider or group_name, password=password, actor=state().actor
    )
    if as_json:
        echo_json(account.to_dict())
        return
    scope = f" of {account.scope}" if account.scope else ""
    how = "a password" if account.has_password else "tokens only"
    click.echo(f"added {account.role.value} account {name}{scope} ({how})")


def _rows(found: list[Account]) -> list[list[str]]:
    return [
        [
            a.name,
            a.role.value,
            a.scope or "",
            "yes" if a.has_password else "no",
            a.created.isoformat(timespec="seconds"),
        ]
        for a in found
    ]


@accounts.command("list")
@JSON_OPTION
def accounts_list(as_json: bool) -> None:
    """List the accounts, by name."""
    found = _accounts(read_only=True).list()
    if as_json:
        echo_json([account.to_dict() for account in found])
        return
    table(["NAME", "ROLE", "SCOPE", "PASSWORD", "CREATED"], _rows(found))


@accounts.command("remove")
@click.argument("name", metavar="NAME", type=ACCOUNT)
@click.option("--yes", is_flag=True, help="Confirm removing the account and its tokens.")
@JSON_OPTION
def accounts_remove(name: str, yes: bool, as_json: bool) -> None:
    """Remove an account; its tokens and sessions end with it."""
    store = _accounts()
    count = len(store.tokens(name))
    if not yes:
        raise InvalidValueError(
            "--yes", False, f"removing account {name!r} ends its {count} token(s); add --yes"
        )
    store.remove(name, actor=state().actor)
    if as_json:
        echo_json({"account": name, "removed": True, "tokens_ended": count})
        return
    click.echo(f"removed account {name} and its {count} token(s)")


@accounts.command("passwd")
@click.argument("name", metavar="NAME", type=ACCOUNT)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@JSON_OPTION
def accounts_passwd(name: str, password_stdin: bool, as_json: bool) -> None:
    """Set an account's password; its sessions end (its API tokens stay)."""
    store = _accounts()
    # An unknown account, or one that takes no password, is refused before the password is asked.
    if store.get(name).role is Role.SOFTSWITCH:
        raise InvalidValueError(
            "NAME", name, "a softswitch account has no password: it uses tokens"
        )
    sessions = sum(1 for t in store.tokens(name) if t.kind == "session")
    store.set_password(name, _read_password(password_stdin, ask=True), actor=state().actor)
    if as_json:
        echo_json({"account": name, "password_changed": True, "sessions_ended": sessions})
        return
    click.echo(f"changed the password of {name}; ended {sessions} session(s)")


@accounts.command("oci")
@click.argument("name", metavar="NAME", type=ACCOUNT)
@click.option("--enable", "enable", flag_value=True, default=None, help="Allow the OCI-P login.")
@click.option("--disable", "enable", flag_value=False, help="Refuse it; erase the verifier.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@JSON_OPTION
def accounts_oci(name: str, enable: bool | None, password_stdin: bool, as_json: bool) -> None:
    """Enable (with the current password) or disable NAME's OCI-P signed-password login."""
    store = _accounts()
    if enable is None:
        state_now = store.oci_enabled(name)
    else:
        if password_stdin and not enable:
            raise click.UsageError("--disable takes no password")
        password = _read_password(password_stdin, ask=True) if enable else None
        store.set_oci(name, password, actor=state().actor)
        state_now = enable
    if as_json:
        echo_json({"account": name, "oci": state_now})
        return
    click.echo(f"OCI-P login of {name}: {'enabled' if state_now else 'disabled'}")


def _token_rows(found: list[TokenInfo]) -> list[list[str]]:
    return [[t.id, t.account, t.kind, t.label, _when(t.created), _when(t.expires)] for t in found]


@accounts.command("token")
@click.argument("name", metavar="[NAME]", required=False, type=ACCOUNT)
@click.option("--label", type=Text(_LABEL_LENGTH), default="", help="What the token is for.")
@click.option("--days", type=Whole(1, 3660), help="Expire after N days (default: never).")
@click.option("--list", "listing", is_flag=True, help="List the tokens (of NAME, or all).")
@click.option("--revoke", metavar="ID", type=Text(40), help="Revoke the token with this id.")
@JSON_OPTION
def accounts_token(
    *,
    name: str | None,
    label: str,
    days: int | None,
    listing: bool,
    revoke: str | None,
    as_json: bool,
) -> None:
    """Issue an API token for NAME (printed once), or --list tokens, or --revoke one."""
    exclusive(list=listing, revoke=revoke)
    extra = [option for option, value in (("--label", label), ("--days", days)) if value]
    if extra and (listing or revoke is not None):
        raise click.UsageError(f"{extra[0]} is for issuing a token: not with --list or --revoke")
    if revoke is not None:
        if name is not None:
            raise click.UsageError("--revoke takes the token's id only, without NAME")
        _accounts().revoke_token(revoke, actor=state().actor)
        if as_json:
            echo_json({"token": revoke, "revoked": True})
            return
        click.echo(f"revoked token {revoke}")
        return
    if listing:
        found = _accounts(read_only=True).tokens(name)
        if as_json:
            echo_json([token.to_dict() for token in found])
            return
        table(["ID", "ACCOUNT", "KIND", "LABEL", "CREATED", "EXPIRES"], _token_rows(found))
        return
    if name is None:
        raise click.UsageError("give the account's NAME, or --list, or --revoke ID")
    ttl = None if days is None else timedelta(days=days)
    info, text = _accounts().issue_token(name, actor=state().actor, label=label, ttl=ttl)
    if as_json:
        echo_json({**info.to_dict(), "token": text})
        return
    click.echo(text)
    click.echo(
        f"issued token {info.id} for {name} (expires: {_when(info.expires)}); it is shown only now",
        err=True,
    )
