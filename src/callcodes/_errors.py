"""The exception tree: misuse and bad input, never a call's outcome.

A blocked call is a :class:`~callcodes.Decision`. Exceptions are raised only when a caller asks for
something that cannot be done (an invalid setting, a malformed batch, an unknown group). Every class
here derives from :class:`CallcodesError` and from the built-in a caller would naturally catch.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "BatchError",
    "CallcodesError",
    "ConflictError",
    "InvalidValueError",
    "MissingDependencyError",
    "RowError",
    "SinkError",
    "UnknownGroupError",
]


class CallcodesError(Exception):
    """Base class of every error raised by callcodes."""


class InvalidValueError(CallcodesError, ValueError):
    """A field was given a value it cannot take; ``field`` and ``value`` say which."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field}={value!r}: {problem}")


class ConflictError(CallcodesError, ValueError):
    """A change conflicts with what the group holds; the message says what is in the way."""


class UnknownGroupError(CallcodesError, KeyError):
    """The group does not exist in this book or store."""

    def __init__(self, group: str) -> None:
        self.group = group
        super().__init__(group)

    def __str__(self) -> str:
        return f"unknown group {self.group!r}: create it first (CodeBook.set_group)"


@attrs.frozen
class RowError:
    """One bad row of a batch: where it is, what it held, and why it was refused."""

    row: int  # position in the batch: 0-based for in-memory batches, 1-based line for files
    code: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row} ({self.code!r}): {self.reason}"


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
