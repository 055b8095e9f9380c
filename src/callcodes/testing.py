"""Helpers for testing an integration of callcodes: a clock, a policy in one call, a fake Kamailio.

For the tests of code that embeds callcodes (as ``structlog.testing`` is for structlog):

* :class:`Clock`: a clock that stands still until told, to pass as an engine's clock;
* :func:`make_book` and :func:`make_store`: a group in account or authorization mode with its
  codes and users, in a book or in a policy store file, in one call;
* :func:`recording_engine`: an engine and the in-memory sink its events go to;
* :class:`FakeKSR`, :class:`Request`, :class:`Relayed`: a stand-in for Kamailio's ``KSR``
  module, to run :class:`~callcodes.integrations.kamailio.Router` without Kamailio.

``import callcodes`` does not load this module, and it needs nothing beyond callcodes' own
dependencies (no test framework).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from . import CodeBook, CodeEntry, Engine, GroupSettings, InvalidValueError, MemorySink, Mode
from .core._validate import member
from .dialplan import DialPlan
from .store import PolicyStore

__all__ = [
    "START",
    "Clock",
    "FakeKSR",
    "Relayed",
    "Request",
    "make_book",
    "make_store",
    "recording_engine",
]

#: Where a :class:`Clock` starts unless told otherwise: a Monday morning, in UTC.
START: Final = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
_ACTOR: Final = "callcodes.testing"


# --------------------------------------------------------------------------------- the clock


class Clock:
    """A clock that stands still until told: ``Engine(book, clock=clock)``, then move it.

    Calling it returns the time it shows. :meth:`set` puts it at a time, :meth:`advance` moves
    it on. Times are timezone-aware (a naive one is refused with
    :class:`~callcodes.InvalidValueError`).
    """

    def __init__(self, start: datetime = START) -> None:
        self._now = _aware("start", start)

    def __call__(self) -> datetime:
        """The time the clock shows."""
        return self._now

    @property
    def now(self) -> datetime:
        """The time the clock shows."""
        return self._now

    def set(self, when: datetime) -> None:
        """Show *when* from now on (also a time before the one shown)."""
        self._now = _aware("when", when)

    def advance(self, by: timedelta | None = None, **units: float) -> datetime:
        """Move on by *by*, or by ``timedelta(**units)`` (``advance(minutes=3)``); the new time."""
        step = by if by is not None else timedelta(**units)
        if not isinstance(step, timedelta):
            raise InvalidValueError("by", step, "give a timedelta, or units such as minutes=3")
        self._now += step
        return self._now

    def __repr__(self) -> str:
        return f"Clock({self._now.isoformat()})"


def _aware(name: str, when: object) -> datetime:
    if not isinstance(when, datetime) or when.utcoffset() is None:
        raise InvalidValueError(name, when, "give a timezone-aware datetime (use UTC)")
    return when


# --------------------------------------------------------------------------------- the policy


def make_book(
    group: str = "acme",
    *,
    mode: Mode | str = Mode.AUTHORIZATION,
    codes: Iterable[CodeEntry | str] = ("1234",),
    mandatory: Iterable[str] = (),
    optional: Iterable[str] = (),
    **settings: Any,
) -> CodeBook:
    """A book holding *group* in *mode*, with *codes* and its mandatory and optional users.

    Other :class:`~callcodes.GroupSettings` fields come as keywords (``code_length=6``,
    ``lockout=Lockout(user_attempts=3)``...). ``make_book(mandatory={"alice"})`` is a group
    ``acme`` where alice needs an authorization code, and ``1234`` is one. Raises
    :class:`~callcodes.InvalidValueError` for a bad value, as the classes do.
    """
    book = CodeBook()
    book.set_group(group, _settings(mode, mandatory, optional, settings))
    book.add_codes(group, codes)
    return book


def make_store(
    path: str | Path,
    book: CodeBook | None = None,
    *,
    plans: Mapping[str, DialPlan] | None = None,
    actor: str = _ACTOR,
) -> Path:
    """Write every group of *book* (default: :func:`make_book`'s) into a policy store file.

    Settings, codes, use counts and locks of each group go in, and the dial plans of *plans*
    (group -> plan). The file is created when missing; the groups replace those of the same
    name. Returns the file's path, for ``KamailioConfig(store=...)`` or ``PolicyStore(...)``.
    """
    path = Path(path)
    book = make_book() if book is None else book
    with PolicyStore(path) as store:
        for group in book.groups():
            entries = book.codes(group, limit=None)
            store.replace_group(group, book.group(group), entries, actor=actor)
            for entry in entries:
                for _ in range(book.uses(group, entry.code)):
                    store.consume(group, entry.code)
            for lock in book.locks(group):
                store.lock(lock, actor=actor)
        for group, plan in (plans or {}).items():
            store.set_dialplan(group, plan, actor=actor)
    return path


def recording_engine(
    book: CodeBook | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    capacity: int = 100_000,
    **options: Any,
) -> tuple[Engine, MemorySink]:
    """An engine on *book* (default: :func:`make_book`'s) and the memory sink it records to.

    ``engine, sink = recording_engine(clock=Clock())``; then ``sink.events()`` lists what was
    recorded, oldest first, and ``sink.clear()`` starts afresh. Other keywords go to
    :class:`~callcodes.Engine` (``store``, ``on_lock``, ``tracker``...).
    """
    sink = MemorySink(capacity)
    engine = Engine(make_book() if book is None else book, sink, clock, **options)
    return engine, sink


def _settings(
    mode: Mode | str, mandatory: Iterable[str], optional: Iterable[str], other: dict[str, Any]
) -> GroupSettings:
    for name in ("mode", "mandatory_users", "optional_users"):
        if name in other:
            raise InvalidValueError(name, other[name], "give mode, mandatory and optional")
    if isinstance(mandatory, str) or isinstance(optional, str):
        raise InvalidValueError("users", mandatory, "give a set of user ids, not one string")
    return GroupSettings(
        mode=member(Mode, "mode", mode),
        mandatory_users=frozenset(mandatory),
        optional_users=frozenset(optional),
        **other,
    )


# --------------------------------------------------------------------------------- fake KSR


@dataclass
class Request:
    """The SIP request a :class:`FakeKSR` received (an INVITE to ``ruri_user`` by default)."""

    method: str = "INVITE"
    ruri_user: str = ""
    from_user: str = "1001"
    from_domain: str = "pbx.example"
    pai: str | None = None  # the P-Asserted-Identity URI, such as "sip:+15550001@pbx.example"
    headers: list[tuple[str, str]] = field(default_factory=list)
    call_id: str = "call-1@pbx.example"
    to_tag: str | None = None
    max_forwards: int = 70
    retransmission: bool = False  # t_precheck_trans: the same request is being processed
    transaction: bool = False  # t_check_trans: a transaction matches (CANCEL, ACK)
    loose_route: bool = False  # a Route header names this proxy
    to_uri: str = ""  # the To URI; by default the Request-URI as the caller sent it

    def __post_init__(self) -> None:
        if not self.to_uri:
            self.to_uri = f"sip:{self.ruri_user}@proxy.example:5060"


@dataclass
class Relayed:
    """One request as ``t_relay`` sent it."""

    ruri_user: str
    to_uri: str
    destination: str | None
    headers: list[tuple[str, str]]
    record_routed: bool

    def header(self, name: str) -> str | None:
        """The value of the first header called *name* (any case), or None."""
        found = [value for key, value in self.headers if key.lower() == name.lower()]
        return found[0] if found else None


class FakeKSR:
    """The parts of Kamailio's ``KSR`` module the router uses, bound to one :class:`Request`.

    It answers the KEMI calls the way Kamailio 5.6 does for a request received over UDP
    (return values > 0 for yes, < 0 for no), and records replies, relays, log lines and header
    changes: ``Router(config, ksr=FakeKSR(Request()))``, then :meth:`receive` a request, call
    ``router.ksr_request_route(None)`` and look at :attr:`replies`, :attr:`relayed`,
    :attr:`status` and :attr:`logs`. Names in *fail* (such as ``"hdr.append"``) raise
    ``RuntimeError`` when called, to inject faults.
    """

    def __init__(self, request: Request | None = None, *, fail: Iterable[str] = ()) -> None:
        self.request = Request() if request is None else request
        self.fail = frozenset(fail)
        self.replies: list[tuple[int, str]] = []
        self.relayed: list[Relayed] = []
        self.logs: list[tuple[str, str]] = []
        self.du: str | None = None
        self.record_routed = False
        self.pv = _PV(self)
        self.hdr = _Hdr(self)
        self.sl = _SL(self)
        self.tm = _TM(self)
        self.tmx = _TMX(self)
        self.rr = _RR(self)
        self.siputils = _SipUtils(self)
        self.maxfwd = _MaxFwd(self)
        self.corex = _Corex(self)
        self.uac = _Uac(self)

    def receive(self, request: Request) -> FakeKSR:
        """Start over with a new request: forget the replies, relays and logs of the last one."""
        self.request = request
        self.replies.clear()
        self.relayed.clear()
        self.logs.clear()
        self.du = None
        self.record_routed = False
        return self

    def check(self, name: str) -> None:
        """Raise ``RuntimeError`` when *name* is one of the calls told to fail."""
        if name in self.fail:
            raise RuntimeError(f"injected failure of KSR.{name}")

    def is_method(self, method: str) -> bool:
        """Whether the request's method is *method*."""
        return self.request.method == method

    def is_INVITE(self) -> bool:  # noqa: N802  # KSR's own name
        """Whether the request is an INVITE."""
        return self.is_method("INVITE")

    def is_ACK(self) -> bool:  # noqa: N802  # KSR's own name
        """Whether the request is an ACK."""
        return self.is_method("ACK")

    def is_CANCEL(self) -> bool:  # noqa: N802  # KSR's own name
        """Whether the request is a CANCEL."""
        return self.is_method("CANCEL")

    def is_OPTIONS(self) -> bool:  # noqa: N802  # KSR's own name
        """Whether the request is an OPTIONS."""
        return self.is_method("OPTIONS")

    def info(self, text: str) -> None:
        """Kamailio's log at level info."""
        self.logs.append(("info", text))

    def warn(self, text: str) -> None:
        """Kamailio's log at level warning."""
        self.logs.append(("warn", text))

    def err(self, text: str) -> None:
        """Kamailio's log at level error."""
        self.logs.append(("err", text))

    @property
    def status(self) -> int | None:
        """The final status sent, 0 when the request was relayed, None when nothing happened."""
        if self.replies:
            return self.replies[-1][0]
        return 0 if self.relayed else None


_URI: Final = re.compile(r"^(?:sips?|tel):(?:(?P<user>[^@;>]+)@)?(?P<host>[^;>:]*)")


class _Part:
    def __init__(self, ksr: FakeKSR) -> None:
        self.ksr = ksr


class _PV(_Part):
    def _uri_part(self, uri: str | None, part: str) -> str:
        if not uri:
            return ""
        if uri.startswith("tel:"):
            return uri[4:].split(";")[0] if part == "user" else ""
        found = _URI.match(uri)
        return (found.group(part) or "") if found else ""

    def get(self, name: str) -> str | None:
        self.ksr.check("pv.get")
        found = re.fullmatch(r"\$hdr\((.+)\)", name)
        if found:
            return self.ksr.hdr.value(found.group(1))
        value = self.gete(name)
        return value or None

    def gete(self, name: str) -> str:
        self.ksr.check("pv.gete")
        request = self.ksr.request
        values = {
            "$rU": request.ruri_user,
            "$ci": request.call_id,
            "$fU": request.from_user,
            "$fd": request.from_domain,
            "$ai": request.pai or "",
            "$(ai{uri.user})": self._uri_part(request.pai, "user"),
            "$(ai{uri.host})": self._uri_part(request.pai, "host"),
            "$tu": request.to_uri,
            "$tU": self._uri_part(request.to_uri, "user"),
        }
        if name not in values:
            raise LookupError(f"the fake KSR does not know {name}")
        return values[name]

    def sets(self, name: str, value: str) -> None:
        self.ksr.check("pv.sets")
        if name == "$rU":
            self.ksr.request.ruri_user = value
        elif name == "$du":
            self.ksr.du = value
        else:
            raise LookupError(f"the fake KSR cannot set {name}")


class _Hdr(_Part):
    def value(self, name: str) -> str | None:
        found = [v for k, v in self.ksr.request.headers if k.lower() == name.lower()]
        return found[0] if found else None

    def is_present(self, name: str) -> int:
        return 1 if self.value(name) is not None else -1

    def remove(self, name: str) -> int:
        self.ksr.check("hdr.remove")
        headers = self.ksr.request.headers
        kept = [(k, v) for k, v in headers if k.lower() != name.lower()]
        removed = len(headers) - len(kept)
        headers[:] = kept
        return 1 if removed else -1

    def append(self, text: str) -> int:
        self.ksr.check("hdr.append")
        if not text.endswith("\r\n"):
            raise ValueError(f"Kamailio needs the header's CRLF: {text!r}")
        name, value = text[:-2].split(":", 1)
        self.ksr.request.headers.append((name.strip(), value.strip()))
        return 1


class _SL(_Part):
    def send_reply(self, code: int, reason: str) -> int:
        self.ksr.check("sl.send_reply")
        if "\r" in reason or "\n" in reason:
            raise ValueError(f"a reason phrase is one line: {reason!r}")
        self.ksr.replies.append((code, reason))
        return 1

    def sl_reply_error(self) -> int:
        self.ksr.replies.append((500, "I'm terribly sorry, server error occurred"))
        return 1


class _TM(_Part):
    def t_check_trans(self) -> int:
        return 1 if self.ksr.request.transaction else -1

    def t_relay(self) -> int:
        self.ksr.check("tm.t_relay")
        request = self.ksr.request
        self.ksr.relayed.append(
            Relayed(
                request.ruri_user,
                request.to_uri,
                self.ksr.du,
                list(request.headers),
                self.ksr.record_routed,
            )
        )
        return 1


class _TMX(_Part):
    def t_precheck_trans(self) -> int:
        return 1 if self.ksr.request.retransmission else -1


class _RR(_Part):
    def loose_route(self) -> int:
        return 1 if self.ksr.request.loose_route else -1

    def record_route(self) -> int:
        self.ksr.record_routed = True
        return 1


class _SipUtils(_Part):
    def has_totag(self) -> int:
        return 1 if self.ksr.request.to_tag else -1


class _MaxFwd(_Part):
    def process_maxfwd(self, limit: int) -> int:  # noqa: ARG002  # Kamailio's signature
        return 1 if self.ksr.request.max_forwards > 0 else -1


class _Corex(_Part):
    def has_ruri_user(self) -> int:
        return 1 if self.ksr.request.ruri_user else -1


class _Uac(_Part):
    def uac_replace_to_uri(self, uri: str) -> int:
        self.ksr.check("uac.uac_replace_to_uri")
        self.ksr.request.to_uri = uri
        return 1
