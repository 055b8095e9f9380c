"""The exception tree: misuse and bad input, never a call's outcome.

A blocked call is a :class:`~callcodes.Decision`. Exceptions are raised only when a caller asks for
something that cannot be done (an invalid setting, a malformed batch, an unknown group). Every class
here derives from :class:`CallcodesError` and from the built-in a caller would naturally catch.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Final

import attrs

__all__ = [
    "BatchError",
    "CallcodesError",
    "ConflictError",
    "InvalidValueError",
    "MissingDependencyError",
    "RowError",
    "SinkError",
    "UnavailableError",
    "UnknownAccountError",
    "UnknownGroupError",
    "show",
]

#: Values echoed in a message are cut to about this many characters.
SHOWN_LENGTH: Final = 60


def _seconds(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds % 60 == 0 and abs(seconds) >= 60:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


def show(value: object, limit: int = SHOWN_LENGTH) -> str:
    """*value* as a person reads it in a message, at most about *limit* characters.

    Enums show their value, durations seconds or minutes, text is quoted, and anything longer
    than *limit* characters is cut with an ellipsis.

    Never fails and never renders more than about *limit* characters, whatever it is given
    (a huge integer is not turned into its thousands of digits).
    """
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, timedelta):
        return _seconds(value)
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        if value.bit_length() > 4 * limit:  # str() would be long (or refused) for nothing
            return f"a number of {value.bit_length()} bits"
        text = str(value)
    elif isinstance(value, float):
        text = str(value) if math.isfinite(value) else f"{value} (not a number)"
    elif isinstance(value, str):
        text = repr(value[: limit + 1])
        if len(value) > limit:
            return f"{text[: limit - 1]}...' ({len(value)} characters)"
        return text
    elif isinstance(value, dict):  # at most 20 items are rendered: the rest would be cut
        pairs = itertools.islice(value.items(), 20)
        text = "{" + ", ".join(f"{show(k, limit)}: {show(v, limit)}" for k, v in pairs) + "}"
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(itertools.islice(value, 20))
        if isinstance(value, (set, frozenset)):
            items.sort(key=str)
        text = "[" + ", ".join(show(item, limit) for item in items) + "]"
    else:
        try:
            text = repr(value)
        except Exception:  # noqa: BLE001 - a message must never fail for the value it shows
            text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CallcodesError(Exception):
    """Base class of every error raised by callcodes."""


class InvalidValueError(CallcodesError, ValueError):
    """A field was given a value it cannot take; ``field`` and ``value`` say which."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field}={show(value)}: {problem}")


class ConflictError(CallcodesError, ValueError):
    """A change conflicts with what the group holds; the message says what is in the way."""


class AccessDeniedError(CallcodesError, PermissionError):
    """The account may not do this, or its credentials were refused; the message says which."""


class UnknownGroupError(CallcodesError, KeyError):
    """The group does not exist in this book or store."""

    def __init__(self, group: str) -> None:
        self.group = group
        super().__init__(group)

    def __str__(self) -> str:
        return f"unknown group {show(self.group)}: create it first (CodeBook.set_group)"


class UnknownAccountError(CallcodesError, KeyError):
    """The account (or, with *token*, the token) does not exist; the message says where to look."""

    def __init__(self, name: str, *, token: bool = False) -> None:
        self.name = name
        self.token = token
        super().__init__(name)

    def __str__(self) -> str:
        if self.token:
            return f"unknown token {show(self.name)}: see callcodes accounts token --list"
        return f"unknown account {show(self.name)}: see callcodes accounts list"


@attrs.frozen
class RowError:
    """One bad row of a batch: where it is, what it held, and why it was refused."""

    row: int  # position in the batch from 1, or the line of a file (also from 1)
    code: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row} ({show(self.code)}): {self.reason}"


class BatchError(CallcodesError, ValueError):
    """A batch was refused whole: ``rows`` lists every bad row, and nothing was changed."""

    def __init__(self, what: str, rows: Iterable[RowError]) -> None:
        self.rows = tuple(rows)
        self.what = what
        lines = "\n".join(f"  {row}" for row in self.rows)
        super().__init__(
            f"{what}: {len(self.rows)} bad row(s), nothing was changed; "
            f"fix them and retry:\n{lines}"
        )


class MissingDependencyError(CallcodesError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""

    def __init__(self, package: str, extra: str, needed_for: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{needed_for} needs the {package} package, which is not installed: "
            f"pip install 'callcodes[{extra}]'",
            name=package,
        )


class SinkError(CallcodesError, OSError):
    """An event sink could not record (disk full, no permission, closed): nothing was dropped.

    The event was not acknowledged; the message says which log and what to fix.
    """


class UnavailableError(CallcodesError, ConnectionError):
    """A shared database (PostgreSQL) cannot be reached now: what was asked was not done.

    The message says which database (without its password) and why; retry once it is back.
    Decisions go on from what is loaded, and each component says what it does meanwhile.
    """
