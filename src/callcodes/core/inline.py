"""Inline code entry: split a dial string ``<code prefix><code><destination>`` for SIP proxies.

A proxy that cannot prompt takes the code from the number the caller dialed (after the group's
feature access code, default ``*71``) or from a separate field (a SIP header). The group's fixed
code length makes the split unambiguous. A malformed dial string is an answer with a
:class:`InlineProblem`, never an exception: this runs on the call path.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

from .._errors import InvalidValueError
from .model import DIGITS, GroupSettings, is_code

__all__ = ["CodeSource", "Inline", "InlineProblem", "parse_inline"]

# Linear white space that SIP allows around a header value.
_FIELD_SPACE: Final = " \t"


class CodeSource(enum.StrEnum):
    """Where the code came from."""

    NONE = "none"
    DIALED = "dialed"
    FIELD = "field"


class InlineProblem(enum.StrEnum):
    """Why a dial string (or code field) cannot be used as it is; refuse the call with it."""

    SHORT_CODE = "fewer digits after the code prefix than the code length"
    NON_DIGIT_CODE = "the code holds a character other than the digits 0-9"
    WRONG_LENGTH = "the code field does not have the group's number of digits"
    NO_DESTINATION = "no number to call after the code"
    TWO_CODES = "a code both in the dial string and in the code field"


@attrs.frozen(weakref_slot=False)
class Inline:
    """The result of :func:`parse_inline`.

    ``destination`` is what to route (the dial string without prefix and code). ``code`` is the
    code to judge: None when none was given, else the text found in the code's place (for a
    SHORT_CODE, NON_DIGIT_CODE or WRONG_LENGTH problem it is malformed, and ``decide`` judges it
    as a malformed code, which counts toward lockout; for NO_DESTINATION and TWO_CODES it is
    None). ``problem`` is None when the dial string is usable. ``code`` is kept out of
    ``repr``: an authorization code is a secret.
    """

    destination: str
    code: str | None = attrs.field(repr=False)
    source: CodeSource
    problem: InlineProblem | None = None

    @property
    def ok(self) -> bool:
        """True when the call can be routed to ``destination`` and judged with ``code``."""
        return self.problem is None


def parse_inline(dialed: str, settings: GroupSettings, field: str | None = None) -> Inline:
    """Split *dialed* into code and destination under the group's *settings*.

    A dial string that starts with ``settings.code_prefix`` carries the code: exactly
    ``settings.code_length`` ASCII digits, then the destination. Otherwise the whole string is
    the destination and the code, if any, comes from *field* (surrounding spaces and tabs are
    ignored; an empty field is no code). A code in both places is the TWO_CODES problem.
    Never raises for a malformed dial string; only a *dialed* or *field* that is not a string,
    or *settings* that are not :class:`~callcodes.GroupSettings`, raise
    :class:`~callcodes.InvalidValueError`. Runtime complexity: O(len(dialed)).
    """
    if type(dialed) is not str:
        raise InvalidValueError("dialed", dialed, "the dial string is a str")
    if field is not None and type(field) is not str:
        raise InvalidValueError("field", field, "the code field is a str or None")
    if not isinstance(settings, GroupSettings):
        raise InvalidValueError("settings", settings, "must be a GroupSettings")
    field_code = field.strip(_FIELD_SPACE) if field else None
    prefix = settings.code_prefix
    if not dialed.startswith(prefix):
        if not field_code:
            return Inline(dialed, None, CodeSource.NONE)
        return Inline(dialed, field_code, CodeSource.FIELD, _field_problem(field_code, settings))
    length = settings.code_length
    start = len(prefix)
    code = dialed[start : start + length]
    destination = dialed[start + length :]
    if field_code:
        return Inline(destination, None, CodeSource.NONE, InlineProblem.TWO_CODES)
    if not DIGITS.issuperset(code):
        return Inline(destination, code, CodeSource.DIALED, InlineProblem.NON_DIGIT_CODE)
    if len(code) < length:
        return Inline(destination, code or None, CodeSource.DIALED, InlineProblem.SHORT_CODE)
    if not destination:
        # No code is handed out: judging it would tell a prober whether it is valid, for free.
        return Inline(destination, None, CodeSource.DIALED, InlineProblem.NO_DESTINATION)
    return Inline(destination, code, CodeSource.DIALED)


def _field_problem(code: str, settings: GroupSettings) -> InlineProblem | None:
    if is_code(code, settings.code_length):
        return None
    if is_code(code):
        return InlineProblem.WRONG_LENGTH
    return InlineProblem.NON_DIGIT_CODE
