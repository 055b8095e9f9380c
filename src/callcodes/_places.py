"""Where a node keeps its data, as its configuration names it: a file, or a database URL.

The Kamailio router and the network service read the same kinds of settings (the store, the
event log, the spool folder, this node's name among the nodes of a shared database); both
convert them here, so that a value means the same in either.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Final

from ._errors import InvalidValueError
from ._postgres import is_url

__all__ = ["MAX_NODE", "host_name", "to_path", "to_place"]

#: The longest node name (a Kamailio worker's name adds a dash and its rank).
MAX_NODE: Final = 100


def to_path(value: object) -> Path:
    """A file path from a non-empty string or a path."""
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value:
        return Path(value)
    raise InvalidValueError("path", value, "a file path is a non-empty string")


def to_place(value: object) -> Path | str:
    """A file path, or a ``postgresql://`` URL kept as it is."""
    if is_url(value):
        return str(value)
    return to_path(value)


def host_name() -> str:
    """The host name, a node's default name (cut to ``MAX_NODE``)."""
    return socket.gethostname()[:MAX_NODE] or "node"
