"""The service's configuration: where the policy and the event log are, and its limits."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import attrs

from ..store.accounts import LoginPolicy

__all__ = ["MAX_BODY", "ServiceConfig"]

#: The largest request body the service reads (a CSV import of about 100,000 codes).
MAX_BODY: Final = 8 * 1024 * 1024


@attrs.frozen
class ServiceConfig:
    """What ``create_app`` needs: the store, the event log, the dial plan region and limits.

    ``events`` defaults to the store's file, where ``callcodes events`` reads by default.
    ``refresh_ms`` is how often a decision checks whether another process changed the policy.
    """

    store: Path = attrs.field(converter=Path)
    events: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    region: str = "US"
    max_body: int = MAX_BODY
    refresh_ms: int = 100
    login: LoginPolicy = attrs.field(factory=LoginPolicy)
    #: Where the OCI-P listeners take connections (host, port): in clear, and over TLS with
    #: ``tls`` (certificate file, key file), both in PEM.
    oci: tuple[str, int] | None = None
    oci_tls: tuple[str, int] | None = None
    tls: tuple[Path, Path] | None = None

    @property
    def event_log(self) -> Path:
        """The event log's file."""
        return self.store if self.events is None else self.events
