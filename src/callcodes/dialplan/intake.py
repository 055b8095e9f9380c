"""Intake: from what a caller dialed to the call to decide and the code to judge, for any adapter.

A softswitch adapter (the Kamailio router, an HTTP decision endpoint, a BroadWorks server) holds
the dialed string, maybe a code from a separate field, the group's settings and its dial plan.
:func:`read_dialed` turns them into an :class:`Intake`: the :class:`~callcodes.Call` to decide (its
number without the code prefix and the code, its type from the dial plan) and the code entered,
or the :class:`~callcodes.InlineProblem` that refuses the dial string. Emergency numbers are
recognised first, before anything that could fail, also right after the code prefix (``*71911``).
Bad dial strings are answers, never exceptions: this runs on the call path. No I/O, no clock.
"""

from __future__ import annotations

from typing import Final

import attrs

from .._errors import InvalidValueError
from ..core.inline import CodeSource, InlineProblem, parse_inline
from ..core.model import Call, CallType, GroupSettings
from .plan import DialPlan

__all__ = ["Intake", "emergency_destination", "read_dialed"]

_EMERGENCY: Final = CallType.EMERGENCY


@attrs.frozen(weakref_slot=False)
class Intake:
    """What :func:`read_dialed` made of a dial string: the call and its code, or why not.

    ``call`` is the call to decide: its ``dialed`` is the number to dial out (without the code
    prefix and the code), its type comes from the dial plan. It is None when the dial string
    cannot be judged; ``problem`` then says why (NO_DESTINATION: refuse as an incomplete
    address; TWO_CODES: a code both dialed and in the field). ``code`` is the code to judge
    with the call (None when none was entered): it may be malformed, and the decision says so
    (MALFORMED_CODE, which counts toward lockout), ``problem`` telling what is wrong with it.
    An emergency call always has a ``call``: a problem beside it is what was set aside so the
    call goes through. ``source`` is where the code came from. ``code`` is kept out of
    ``repr``: an authorization code is a secret.
    """

    call: Call | None
    code: str | None = attrs.field(repr=False)
    source: CodeSource
    problem: InlineProblem | None = None

    @property
    def refused(self) -> bool:
        """True when there is no call to decide: answer the caller with ``problem``."""
        return self.call is None


def read_dialed(
    plan: DialPlan,
    settings: GroupSettings,
    group: str,
    user: str,
    dialed: str,
    *,
    code: str | None = None,
    call_id: str | None = None,
) -> Intake:
    """Turn *dialed* (and a *code* from a separate field) into the call of *user* of *group*.

    The code comes from the dial string (``settings.code_prefix``, exactly
    ``settings.code_length`` digits, then the number) or from *code* (a SIP header, a form
    field: surrounding spaces and tabs are ignored), as :func:`~callcodes.parse_inline` splits
    them. Emergency numbers of *plan* are recognised first: the number left after the code, or
    the one right after the prefix (a caller who dials ``*71`` then 911) is an EMERGENCY call,
    whatever else is wrong with the dial string. Otherwise a dial string without a number to
    call (NO_DESTINATION) or with two codes (TWO_CODES) is refused (``call`` is None), and any
    other is classified by *plan*.

    Never raises for a malformed dial string or code. Raises
    :class:`~callcodes.InvalidValueError` for arguments of the wrong type or a bad group name
    (a programming error), and :class:`~callcodes.MissingDependencyError` when classifying a
    number that is not an emergency number needs ``phonenumbers`` and it is missing. Runtime
    complexity: O(len(dialed)) plus the plan's classification (a dict lookup for a number
    seen before).
    """
    if not isinstance(plan, DialPlan):
        raise InvalidValueError("plan", plan, "must be a DialPlan")
    inline = parse_inline(dialed, settings, code)
    destination = inline.destination
    call_type = _call_type(plan, destination)
    if call_type is _EMERGENCY:  # whatever the problem: the code, if any, is recorded with it
        call = Call(group, user, destination, _EMERGENCY, call_id)
        return Intake(call, inline.code, inline.source, inline.problem)
    bare = _after_prefix(dialed, settings)
    if bare is not None and plan.is_emergency(bare):  # the rest needs no classification
        return Intake(Call(group, user, bare, _EMERGENCY, call_id), None, CodeSource.NONE)
    if not destination:
        return Intake(None, None, inline.source, InlineProblem.NO_DESTINATION)
    if inline.problem is InlineProblem.TWO_CODES:
        return Intake(None, None, inline.source, InlineProblem.TWO_CODES)
    if call_type is None:  # classifying failed: this time the error propagates
        call_type = plan.classify(destination).call_type
    call = Call(group, user, destination, call_type, call_id)
    return Intake(call, inline.code, inline.source, inline.problem)


def emergency_destination(
    plan: DialPlan, settings: GroupSettings, dialed: str, *, code: str | None = None
) -> str | None:
    """The number to relay when *dialed* reaches an emergency number of *plan*, else None.

    What an adapter uses when deciding failed (a store that cannot be read, an event log that
    cannot record): an emergency call still goes through, to this number (without the code
    prefix and code). It looks where :func:`read_dialed` does. Never raises, on anything.
    Runtime complexity: that of :func:`read_dialed`.
    """
    try:
        inline = parse_inline(dialed, settings, code)
        bare = _after_prefix(dialed, settings)
        for number in (inline.destination, bare):
            if number is not None and plan.is_emergency(number):
                return number
    except Exception:  # noqa: BLE001  # the caller is handling a failure already: no other
        return None
    return None


def _after_prefix(dialed: str, settings: GroupSettings) -> str | None:
    """What follows the code prefix (a caller may dial it, then an emergency number)."""
    prefix = settings.code_prefix
    return dialed[len(prefix) :] if dialed.startswith(prefix) else None


def _call_type(plan: DialPlan, dialed: str) -> CallType | None:
    """The call type *plan* gives *dialed*; None when classifying fails (never for emergency)."""
    try:
        return plan.classify(dialed).call_type
    except Exception:  # noqa: BLE001  # emergency numbers never need what could fail here
        return None
