"""Decision routes: ``POST /api/v1/decide`` for softswitches, ``/healthz`` and ``/metrics``.

``POST /api/v1/decide`` does over HTTP what the Kamailio adapter does for an INVITE: the dial
string (and a code from a separate field) is split with the group's dial plan
(:func:`~callcodes.dialplan.read_dialed`, emergency numbers first), the call decided by the
process's :class:`~callcodes.Engine` on its loaded policy, and the event recorded in the event
log before the answer leaves. Emergency calls are never stopped: when anything fails, the dial
string is looked at once more (:func:`~callcodes.dialplan.emergency_destination`) and an
emergency number is allowed; any other call whose event cannot be recorded is refused with
503, since a decision nobody can bill or audit must not let the call through.

The handlers run on the event loop (``sync_to_thread=False``): a decision takes tens of
microseconds, less than handing it to a thread would cost.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Annotated, Any, Final

import attrs
import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import RawBody

from .._errors import InvalidValueError, SinkError
from ..core._validate import MAX_USER_ID_LENGTH
from ..core.inline import InlineProblem
from ..core.model import CallType, Reason, Verdict
from ..dialplan.intake import emergency_destination, read_dialed
from ..store.accounts import Account
from .auth import account, node
from .node import DEFAULT_SETTINGS, Node
from .problems import Problem, json_object, problem_responses, request_body

__all__ = [
    "MAX_ATTEMPT",
    "MAX_CALL_ID",
    "MAX_CODE_FIELD",
    "MAX_DIALED",
    "MAX_GROUP",
    "ROUTES",
    "DecideAnswer",
    "DecideRequest",
]

_log = logging.getLogger("callcodes.service")

#: The longest group a softswitch may name: a domain name (the Kamailio adapter takes the
#: caller's domain as its group), though stored groups have at most 30 characters.
MAX_GROUP: Final = 253
#: The longest dial string: a code prefix, the longest code and an international number with
#: room to spare.
MAX_DIALED: Final = 64
#: The longest code field: longer than any code (14 digits), so a malformed entry is judged
#: (and counted toward lockout) rather than refused.
MAX_CODE_FIELD: Final = 32
#: The longest call id (SIP Call-IDs are rarely over 100 characters).
MAX_CALL_ID: Final = 255
#: The highest entry number on one call.
MAX_ATTEMPT: Final = 100
#: What a softswitch relays when the dial string is refused, as the Kamailio adapter does.
_REFUSALS: Final = {
    InlineProblem.NO_DESTINATION: (484, "Address Incomplete: no number to call"),
    InlineProblem.TWO_CODES: (400, "Two codes: one dialed, one in the code field"),
}
_ACCOUNT_CODE: Final = Reason.ACCOUNT_CODE
#: Where msgspec says a value was refused (`` - at `$.dialed` ``).
_FIELD: Final = re.compile(r" - at `\$\.?([^`]*)`")
#: ... or which field is missing or unknown (``Object missing required field `dialed` ``).
_NAMED: Final = re.compile(r"field `([^`]*)`")
_convert: Final = msgspec.convert
_BLOCK: Final = Verdict.BLOCK


class DecideRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One entry on one call: who calls, what they dialed, and a code from a separate field.

    ``dialed`` may hold the code prefix and the code before the number (``*71`` ``1234``
    ``913125550123``); ``code`` is a code entered apart from the number (a prompt, a SIP
    header), not both. ``attempt`` is which entry on the call this is (1 for the first).
    ``redirected``: *user* forwarded or transferred the call and this is the new outside leg;
    *user*'s policy applies, and the group's ``redirect`` setting when no code can be entered.
    """

    group: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_GROUP)]
    user: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_USER_ID_LENGTH)]
    dialed: Annotated[str, msgspec.Meta(max_length=MAX_DIALED)]
    code: Annotated[str, msgspec.Meta(max_length=MAX_CODE_FIELD)] | None = None
    call_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CALL_ID)] | None = None
    attempt: Annotated[int, msgspec.Meta(ge=1, le=MAX_ATTEMPT)] = 1
    redirected: bool = False


class DecideAnswer(msgspec.Struct, frozen=True):
    """The decision: what happens to the call, why, and what to dial out.

    ``retry``: the entry was refused and the caller may enter a code again (as attempt + 1).
    ``dial``: the number to dial out, without the code prefix and the code (None when the call
    is blocked). ``account_code``: the account code to forward with the call (an account-code
    group's code, for billing), else None. ``call_type``: what the dial plan made of the number.
    """

    verdict: Verdict
    reason: Reason
    retry: bool
    dial: str | None
    account_code: str | None
    call_type: CallType


def _decider(request: Request[Any, Any, Any]) -> Account:
    """The account of a decide request: an operator or a softswitch; else 401 or 403."""
    who = account(request)
    if not who.may_decide():
        raise Problem(
            403,
            f"account {who.name} may not ask for decisions: use an operator or softswitch "
            "account's token",
        )
    return who


def _request(request: Request[Any, Any, Any], body: bytes) -> DecideRequest:
    """The decide request in *body*: 415, 400 or 422 (naming the field) when it is not one."""
    try:
        return _convert(json_object(request, body), type=DecideRequest)
    except msgspec.ValidationError as exc:
        text = str(exc)
        where = _FIELD.search(text) or _NAMED.search(text)
        field = where.group(1) if where else "body"
        raise Problem(422, f"{field}: {_FIELD.sub('', text)}", extra={"field": field}) from None


def _printable(field: str, value: str | None) -> None:
    """Refuse control characters, which no dial string, user or call id holds."""
    if value is not None and not value.isprintable():
        raise InvalidValueError(field, value, "must hold printable characters only")


def _decide(current: Node, data: DecideRequest) -> DecideAnswer:
    """Split, decide and record one entry; called with the node's decide lock held."""
    engine = current.refreshed()
    group = data.group
    settings = current.decide_settings(group)
    taken = read_dialed(
        current.plan_for(group),
        settings,
        group,
        data.user,
        data.dialed,
        code=data.code,
        call_id=data.call_id,
    )
    call = taken.call
    if call is not None and data.redirected:
        call = attrs.evolve(call, redirected=True)
    if call is None:  # nothing to decide: the dial string is answered as it is, not recorded
        problem = taken.problem or InlineProblem.NO_DESTINATION
        status, phrase = _REFUSALS.get(problem, _REFUSALS[InlineProblem.NO_DESTINATION])
        current.metrics.refused(problem.name.lower().replace("_", " "))
        raise Problem(
            422,
            f"the dial string cannot be decided: {problem.value}; refuse the call "
            f"(SIP {status} {phrase})",
            extra={"problem": problem.name.lower(), "sip_status": status, "sip_reason": phrase},
        )
    if call.call_type is not CallType.EMERGENCY:  # checked after emergency: nothing stops one
        _printable("group", data.group)
        _printable("user", data.user)
        _printable("dialed", data.dialed)
        _printable("call_id", data.call_id)
    written = current.sink.written
    decision = engine.decide(call, taken.code, data.attempt)
    current.recorded(ok=current.sink.written > written)
    account = None
    if decision.reason is _ACCOUNT_CODE:
        account = decision.entry.code if decision.entry is not None else taken.code
    return DecideAnswer(
        decision.verdict,
        decision.reason,
        decision.retry,
        None if decision.verdict is _BLOCK else call.dialed,
        account,
        call.call_type,
    )


def _emergency_anyway(current: Node, data: DecideRequest, exc: Exception) -> DecideAnswer | None:
    """After a failure: the answer that lets an emergency call through, else None.

    Looks with what is in memory only (the group's plan and settings as last loaded), as the
    Kamailio adapter does; never raises.
    """
    try:
        try:
            plan, settings = current.plan_for(data.group), current.decide_settings(data.group)
        except Exception:  # noqa: BLE001  # the defaults still know the emergency numbers
            plan, settings = current.default_plan, DEFAULT_SETTINGS
        number = emergency_destination(plan, settings, data.dialed, code=data.code)
        if number is None:
            return None
        _log.error(
            "emergency call of %r in %r to %r allowed although deciding failed: %r",
            data.user,
            data.group,
            number,
            exc,
            exc_info=exc,
        )
        return DecideAnswer(
            Verdict.ALLOW, Reason.EMERGENCY, False, number, None, CallType.EMERGENCY
        )
    except Exception:  # noqa: BLE001  # the caller answers with the original error
        _log.exception("cannot tell whether %r is an emergency number", data.dialed)
        return None


@post(
    "/api/v1/decide",
    sync_to_thread=False,
    status_code=200,
    summary="Decide one call",
    tags=["decisions"],
    operation_class=request_body(DecideRequest),
    responses=problem_responses(400, 401, 403, 415, 422, 503),
)
def decide(request: Request[Any, Any, Any], body: RawBody) -> DecideAnswer:
    """Decide one entry on one call and record it in the event log (operator or softswitch).

    A dial string with no number to call, or with a code both dialed and in ``code``, is
    refused with 422 (``sip_status`` says what a SIP proxy answers: 484 or 400). A call whose
    event cannot be recorded is refused with 503, except an emergency call, which is always
    allowed.
    """
    # The token and the body are read here rather than by the framework's dependencies and
    # body model, which cost about 40 µs of the route's 270 (docs/performance.md).
    _decider(request)
    data = _request(request, body)
    current = node(request)
    metrics = current.metrics
    started = time.perf_counter()
    try:
        with current.decide_lock:
            answer = _decide(current, data)
    except Problem:
        raise
    except SinkError as exc:  # the engine raises it only for a call that is not an emergency
        current.recorded(ok=False)
        metrics.refused("event log")
        _log.error("decision of %r in %r not recorded: %s", data.user, data.group, exc)
        raise Problem(
            503,
            "the event log cannot record the decision, so the call is refused (emergency calls "
            "still pass); the service's log says why",
            headers={"Retry-After": "1"},
        ) from None
    except Exception as exc:
        fallback = _emergency_anyway(current, data, exc)
        if fallback is None:
            metrics.refused("bad input" if isinstance(exc, InvalidValueError) else "error")
            raise
        answer = fallback
    metrics.decided(answer.verdict, answer.reason, time.perf_counter() - started)
    return answer


@get("/healthz", sync_to_thread=False, exclude_from_auth=True, tags=["service"])
def healthz(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """Whether the store can be read and the event log took the last event (no token needed).

    200 when both are usable, else 503 (a load balancer then sends decisions elsewhere).
    """
    current = node(request)
    try:
        current.store.version  # noqa: B018  # one read of the store: it answers, or raises
        store = "ok"
    except Exception:  # noqa: BLE001  # reported as failing; the details stay in the log
        _log.exception("health check: the policy store cannot be read")
        store = "failing"
    events = "ok" if current.events_ok else "failing"
    healthy = store == "ok" and events == "ok"
    return Response(
        {"status": "ok" if healthy else "failing", "store": store, "event_log": events},
        status_code=200 if healthy else 503,
    )


@get("/metrics", sync_to_thread=False, tags=["service"], responses=problem_responses(401, 403))
def metrics(request: Request[Any, Any, Any], who: NamedDependency[Account]) -> Response[bytes]:
    """The service's metrics in Prometheus' text format (an operator or softswitch token).

    Decisions by verdict and reason, decision latency, locks placed, the event log's lag.
    """
    if not who.may_decide():
        raise Problem(
            403,
            f"account {who.name} may not read metrics: use an operator or softswitch account's "
            "token",
        )
    body, media_type = node(request).metrics.render(request.headers.get("accept", ""))
    return Response(body, media_type=media_type)


ROUTES = [decide, healthz, metrics]
