"""The policy store: groups, settings, users, codes, locks and dial plans, kept durably.

``Store`` is what every policy store offers; ``PolicyStore`` is the SQLite store, the embedded
default. The rules a store follows (checks, journal, audit details, refreshing loaded books) are
shared by every backend (``writes.BaseStore``); a backend writes only its queries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .._postgres import is_url
from .directory import UserDirectory
from .protocol import Store
from .sqlite import JOURNAL_KEEP, SCHEMA_VERSION, PolicyStore
from .writes import BaseStore

__all__ = [
    "JOURNAL_KEEP",
    "SCHEMA_VERSION",
    "PolicyStore",
    "Store",
    "UserDirectory",
    "open_store",
]


def open_store(
    place: Path | str,
    *,
    clock: Callable[[], datetime] | None = None,
    read_only: bool = False,
) -> BaseStore:
    """The policy store in an SQLite file, or in the PostgreSQL database a URL names.

    A ``postgresql://`` URL opens :class:`~callcodes.store.postgres.PostgresPolicyStore`
    (extra ``[postgres]``), anything else the SQLite file. *clock* defaults to the store's.
    """
    options: dict[str, Any] = {"read_only": read_only}
    if clock is not None:
        options["clock"] = clock
    if is_url(place):
        from .postgres import PostgresPolicyStore  # noqa: PLC0415  # the extra, when used

        return PostgresPolicyStore(str(place), **options)
    return PolicyStore(Path(place), **options)
