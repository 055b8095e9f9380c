"""The service's configuration: where the policy and the event log are, and its limits."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import attrs

from .._errors import InvalidValueError
from .._places import host_name, to_place
from ..store.accounts import LoginPolicy

__all__ = ["MAX_BODY", "ServiceConfig"]

#: The largest request body the service reads (a CSV import of about 100,000 codes).
MAX_BODY: Final = 8 * 1024 * 1024


@attrs.frozen
class ServiceConfig:
    """What ``create_app`` needs: the store, the event log, the dial plan region and limits.

    ``store`` is an SQLite file or a ``postgresql://`` URL; ``events`` defaults to the store's
    file or database, where ``callcodes events`` reads by default. Events in PostgreSQL are
    journaled first in ``spool``/``node`` on the local disk (required then; the node is the
    host name unless given) and shipped from there, so decisions go on while the database is
    away. ``refresh_ms`` is how often a decision checks whether another process changed the
    policy.
    """

    store: Path | str = attrs.field(converter=to_place)
    events: Path | str | None = attrs.field(
        default=None, converter=attrs.converters.optional(to_place)
    )
    region: str = "US"
    max_body: int = MAX_BODY
    refresh_ms: int = 100
    login: LoginPolicy = attrs.field(factory=LoginPolicy)
    #: Where the OCI-P listeners take connections (host, port): in clear, and over TLS with
    #: ``tls`` (certificate file, key file), both in PEM.
    oci: tuple[str, int] | None = None
    oci_tls: tuple[str, int] | None = None
    tls: tuple[Path, Path] | None = None
    spool: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    node: str = attrs.field(factory=host_name)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.event_log, str) and self.spool is None:
            raise InvalidValueError(
                "spool",
                None,
                "with the events in PostgreSQL, name a local folder for the node's journal "
                "(callcodes serve --spool DIR)",
            )

    @property
    def event_log(self) -> Path | str:
        """The event log: an SQLite file or a PostgreSQL database's URL."""
        return self.store if self.events is None else self.events
