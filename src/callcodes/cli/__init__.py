"""The ``callcodes`` command: administer the policy store, read the logs, try a decision.

``callcodes [--db PATH|URL] COMMAND ...``: the store is the SQLite file (or the PostgreSQL
database, ``postgresql://...``) given by ``--db``, else the environment variable
``CALLCODES_DB``, else ``./callcodes.db``. Commands print tables for people
and JSON (``--json``) for scripts. Exit status: 0 on success, 1 on bad input (one ``Error:``
line saying what to fix, never a traceback), 2 on usage errors.
"""

from __future__ import annotations

from pathlib import Path

import click

from .._postgres import is_url
from ._common import MainGroup, State, Text, default_actor
from .accounts import accounts
from .admin import audit, check, demo, locks
from .codes import codes
from .dialplan import dialplan
from .events import events
from .groups import group
from .serve import serve
from .users import users

__all__ = ["main"]


@click.group(cls=MainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    type=Text(2048),
    envvar="CALLCODES_DB",
    default="callcodes.db",
    show_default=True,
    show_envvar=True,
    help="The policy store: an SQLite file, or a PostgreSQL database (postgresql://...).",
)
@click.option(
    "--actor",
    envvar="CALLCODES_ACTOR",
    default=default_actor,
    show_envvar=True,
    help="Who makes the changes, for the audit trail (default: your login name).",
)
@click.version_option(package_name="callcodes")
@click.pass_context
def main(ctx: click.Context, db: str, actor: str) -> None:
    """Account and authorization codes for hosted PBXs: the administrator's tool."""
    ctx.obj = State(db=db if is_url(db) else Path(db), actor=actor)


for command in (group, users, codes, locks, dialplan, check, audit, events, demo, serve, accounts):
    main.add_command(command)
