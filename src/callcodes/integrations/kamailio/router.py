"""Kamailio integration: a KEMI router for ``app_python3`` that enforces codes on every INVITE.

Kamailio loads a small script (``examples/kamailio/callcodes_router.py``) whose ``mod_init``
returns a :class:`Router`. For each new INVITE the router finds the calling user and its group,
takes the code from the dialed number (``*71`` + code + number) or from a SIP header, classifies
the destination with the group's :class:`~callcodes.DialPlan` and asks
:class:`~callcodes.Engine`:

* ALLOW or LOG_ONLY: the prefix and the code leave the Request-URI, an account code goes into
  a header (``X-Account-Code``), and the call is relayed to the configured gateway;
* BLOCK: ``403`` with a reason phrase that tells the caller why;
* every decision is recorded in the SQLite event log, which Kamailio's forked workers share;
* workers pick up an administrator's changes to the policy store without a restart;
* an unexpected error never leaves a request without an answer: an emergency call is still
  relayed, anything else is refused with ``500`` and the error is logged.

The ``KSR`` module exists only inside Kamailio: the router takes it as a parameter, or imports
it on first use, so everything here can be imported and tested without Kamailio. The store and
the event log are opened in each worker (``child_init``), never before Kamailio forks.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import logging
import os
import sqlite3
import time
import tomllib
import types
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import attrs

from ..._errors import InvalidValueError, UnknownGroupError
from ...core.guard import FailureTracker, LockEvent
from ...core.inline import CodeSource, Inline, InlineProblem, parse_inline
from ...core.model import Call, CallType, Decision, GroupSettings, Lock, Lockout, Reason, Verdict
from ...dialplan.plan import DialPlan
from ...engine import Engine
from ...events.sinks import FlushPolicy, SqliteSink
from ...store.sqlite import PolicyStore

__all__ = [
    "ACCOUNT_HEADER",
    "CODE_HEADER",
    "REASON_PHRASES",
    "Action",
    "CallerSource",
    "KamailioConfig",
    "KamailioLogHandler",
    "Router",
    "reason_phrase",
]

#: The header an account code is sent in to the gateway, unless configured otherwise.
ACCOUNT_HEADER: Final = "X-Account-Code"
#: The header a caller (or the PBX in front) may carry the code in, unless configured otherwise.
CODE_HEADER: Final = "X-Callcodes-Code"

#: The reason phrase of the ``403`` for each reason ``decide`` blocks with.
REASON_PHRASES: Final[Mapping[Reason, str]] = types.MappingProxyType(
    {
        Reason.MISSING_CODE: "Authorization code required",
        Reason.MALFORMED_CODE: "Malformed authorization code",
        Reason.INVALID_CODE: "Invalid authorization code",
        Reason.LOCKED_OUT: "Locked out after too many invalid codes",
        Reason.NOT_YET_VALID: "Authorization code not yet valid",
        Reason.EXPIRED: "Authorization code expired",
        Reason.VALIDITY_UNKNOWN: "Authorization code validity unknown",
        Reason.USED_UP: "Authorization code used up",
        Reason.LEVEL_TOO_LOW: "Authorization code not allowed for this call",
    }
)
_TWO_CODES_STATUS: Final = 400
_NO_DESTINATION_STATUS: Final = 484
_FAILED_STATUS: Final = 500
_FAILED_PHRASE: Final = "Code check failed"
# RFC 3261 token characters, the only ones a header name may hold.
_TOKEN: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)
_DEFAULT_SETTINGS: Final = GroupSettings()
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

_log = logging.getLogger("callcodes.kamailio")


class Action(enum.StrEnum):
    """What :meth:`Router.check_invite` did with an INVITE, and what the script does next."""

    RELAY = "relay"  # the Request-URI and headers are set: relay the request
    REPLIED = "replied"  # a final response was sent: stop routing this request


class CallerSource(enum.StrEnum):
    """Where the calling user (and its domain) is read from."""

    FROM = "from"  # the From URI
    PAI = "pai"  # the P-Asserted-Identity URI, else the From URI


def reason_phrase(decision: Decision, settings: GroupSettings) -> str:
    """The reason phrase of the ``403`` that refuses a call blocked by *decision*.

    When the decision allows another entry (``retry``), the phrase says how to redial with a
    code: over SIP every INVITE is a new call with one entry. Runtime complexity: O(1).
    """
    phrase = REASON_PHRASES.get(decision.reason, f"Call refused: {decision.reason.value}")
    if decision.retry:
        phrase += (
            f"; redial {settings.code_prefix}, the {settings.code_length}-digit code, "
            "then the number"
        )
    return phrase


# --------------------------------------------------------------------------------- configuration


def _check_header(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value or not _TOKEN.issuperset(value):
        raise InvalidValueError(
            attribute.name, value, "a SIP header name is letters, digits and - (X-Account-Code)"
        )


def _check_gateway(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if (
        not isinstance(value, str)
        or not value.startswith(("sip:", "sips:"))
        or any(c.isspace() for c in value)
        or len(value) <= len("sip:")
    ):
        raise InvalidValueError(
            attribute.name, value, "the gateway is a SIP URI, such as 'sip:192.0.2.10:5060'"
        )


def _to_path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value:
        return Path(value)
    raise InvalidValueError("path", value, "a file path is a non-empty string")


def _to_plan(value: object) -> DialPlan:
    if isinstance(value, DialPlan):
        return value
    if isinstance(value, Mapping):
        return DialPlan.from_dict(value)
    raise InvalidValueError("dial_plan", value, "a dial plan is a DialPlan or its to_dict() data")


def _to_domains(value: object) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidValueError("domains", value, "map SIP domains to group names")
    domains = {}
    for domain, group in value.items():
        if not isinstance(domain, str) or not isinstance(group, str) or not domain or not group:
            raise InvalidValueError(
                "domains", {domain: group}, "a domain and its group are non-empty strings"
            )
        domains[domain.lower()] = group
    return types.MappingProxyType(domains)


def _to_caller(value: object) -> CallerSource:
    try:
        return CallerSource(str(value))
    except ValueError:
        raise InvalidValueError("caller", value, "must be 'from' or 'pai'") from None


def _check_group(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value or value != value.strip()):
        raise InvalidValueError(
            attribute.name, value, "a group is a non-empty name without surrounding spaces"
        )


def _check_bool(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not bool:
        raise InvalidValueError(attribute.name, value, "must be true or false")


def _check_count(low: int) -> Callable[[object, attrs.Attribute[Any], object], None]:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if type(value) is not int or value < low:
            raise InvalidValueError(attribute.name, value, f"must be an integer of at least {low}")

    return check


@attrs.frozen(weakref_slot=False)
class KamailioConfig:
    """How the router finds the policy, records events, reads calls and where it relays them.

    * ``store``: the policy store file (:class:`~callcodes.store.PolicyStore`), which must
      exist; ``events``: the SQLite event log file (created when missing).
    * ``gateway``: the SIP URI every call that may proceed is relayed to.
    * ``dial_plan``: the dial plan of the groups that have none in the store (an
      administrator gives a group its own with ``callcodes dialplan set``).
    * ``group``: the one group of every caller through this Kamailio. When ``None``, the
      caller's SIP domain names the group, through ``domains`` (domain -> group) when the
      domain is listed there, else the domain itself.
    * ``caller``: ``from`` (the From URI's user and domain) or ``pai`` (P-Asserted-Identity's,
      falling back to From when the header is absent).
    * ``code_header``: the header a code may come in (removed before relaying);
      ``account_header``: the header the account code is sent in.
    * ``refresh_ms``: how often a worker checks the store for an administrator's change
      (0: before every INVITE).
    * ``sync_every``: events per fsync of the event log (1: each event is on the disk before
      the call proceeds; more: committed at once, synced in groups, see docs/kamailio.md).
    * ``record_route``: keep Kamailio on the path of the dialog's later requests.
    * ``hide_code_in_to``: when the To URI repeats the dial string (code included), give the
      gateway the destination instead (needs Kamailio's ``uac`` module and ``record_route``).
    """

    store: Path = attrs.field(converter=_to_path)
    events: Path = attrs.field(converter=_to_path)
    gateway: str = attrs.field(validator=_check_gateway)
    dial_plan: DialPlan = attrs.field(converter=_to_plan)
    group: str | None = attrs.field(default=None, validator=_check_group)
    domains: Mapping[str, str] = attrs.field(factory=dict, converter=_to_domains)
    caller: CallerSource = attrs.field(default=CallerSource.FROM, converter=_to_caller)
    code_header: str = attrs.field(default=CODE_HEADER, validator=_check_header)
    account_header: str = attrs.field(default=ACCOUNT_HEADER, validator=_check_header)
    refresh_ms: int = attrs.field(default=0, validator=_check_count(0))
    sync_every: int = attrs.field(default=1, validator=_check_count(1))
    record_route: bool = attrs.field(default=True, validator=_check_bool)
    hide_code_in_to: bool = attrs.field(default=True, validator=_check_bool)

    def __attrs_post_init__(self) -> None:
        if self.events.resolve() == self.store.resolve():
            raise InvalidValueError(
                "events",
                str(self.events),
                "give the event log a file of its own: in the store's file, every event "
                "would look like a policy change to the other workers",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Path | None = None) -> KamailioConfig:
        """Build a configuration from parsed TOML or JSON; unknown keys are refused by name.

        Relative ``store`` and ``events`` paths are taken from *base* (the configuration
        file's folder). Raises :class:`~callcodes.InvalidValueError` naming the bad field.
        """
        if not isinstance(data, Mapping):
            raise InvalidValueError("config", data, "the configuration is a table of settings")
        known = [field.name for field in attrs.fields(cls)]
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise InvalidValueError(
                "config", unknown, f"unknown setting(s); the settings are {', '.join(known)}"
            )
        missing = [name for name in ("store", "events", "gateway", "dial_plan") if name not in data]
        if missing:
            raise InvalidValueError("config", missing, "these settings are required")
        values = dict(data)
        if base is not None:
            for name in ("store", "events"):
                path = _to_path(values[name])
                values[name] = path if path.is_absolute() else base / path
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> KamailioConfig:
        """Read a TOML configuration file (see ``examples/kamailio/callcodes.toml``)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidValueError("config", str(path), f"cannot be read ({exc})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidValueError("config", str(path), f"is not valid TOML ({exc})") from None
        return cls.from_dict(data, base=path.parent)


# --------------------------------------------------------------------------------- logging


class KamailioLogHandler(logging.Handler):
    """Sends Python log records to Kamailio's log (``KSR.err``, ``KSR.warn``, ``KSR.info``)."""

    def __init__(self, ksr: Any, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._ksr = ksr

    def emit(self, record: logging.LogRecord) -> None:
        """Write *record* as one line of Kamailio's log."""
        try:
            text = self.format(record).replace("\r", " ").replace("\n", " | ") + "\n"
            if record.levelno >= logging.ERROR:
                self._ksr.err(text)
            elif record.levelno >= logging.WARNING:
                self._ksr.warn(text)
            else:
                self._ksr.info(text)
        except Exception:  # noqa: BLE001  # logging must never break a call
            self.handleError(record)


# --------------------------------------------------------------------------------- the router


@attrs.define
class _Opened:
    """What one Kamailio process holds open: the store, the loaded policy and the engine."""

    pid: int
    store: PolicyStore
    engine: Engine
    sink: SqliteSink
    failures: _SharedFailures
    plans: dict[str, DialPlan]
    watch: _Watch
    turns: _Turns
    next_refresh: float = 0.0


class Router:
    """The KEMI object Kamailio calls: ``child_init``, ``ksr_request_route``, ``ksr_reply_route``.

    *ksr* is Kamailio's ``KSR`` module (imported on first use when not given); *clock* is the
    engine's clock (default: UTC wall clock). Integrators with their own routing logic call
    :meth:`check_invite` from their ``ksr_request_route`` and relay as they please.
    """

    def __init__(
        self,
        config: KamailioConfig,
        *,
        ksr: Any = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not isinstance(config, KamailioConfig):
            raise InvalidValueError("config", config, "must be a KamailioConfig")
        self.config = config
        self._ksr = ksr
        self._clock = clock
        self._opened: _Opened | None = None
        self._log_handler: KamailioLogHandler | None = None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, ksr: Any = None) -> Router:
        """A router configured by the TOML file at *path*; checks the store file exists."""
        config = KamailioConfig.from_file(path)
        if not config.store.is_file():
            raise InvalidValueError(
                "store",
                str(config.store),
                "no such policy store: create it with the callcodes CLI (callcodes --db ...)",
            )
        return cls(config, ksr=ksr)

    @property
    def ksr(self) -> Any:
        """Kamailio's ``KSR`` module."""
        if self._ksr is None:
            try:
                import KSR  # type: ignore[import-not-found]  # noqa: PLC0415
            except ModuleNotFoundError:
                raise InvalidValueError(
                    "ksr", None, "KSR exists only inside Kamailio's app_python3: pass ksr="
                ) from None
            self._ksr = KSR
        return self._ksr

    # -- process life ---------------------------------------------------------------------------

    def child_init(self, rank: int) -> int:
        """Kamailio's per-process start: SIP workers (rank > 0) open the store and the log.

        Returns 0, or -1 (which stops Kamailio) when the store or the event log cannot be
        opened; the error is in Kamailio's log.
        """
        if rank <= 0:
            return 0
        try:
            self.open()
        except Exception:  # noqa: BLE001  # logged with its traceback; Kamailio stops
            _log.exception("callcodes cannot start in worker %d", rank)
            return -1
        return 0

    def open(self) -> None:
        """Open the store, load the policy and open the event log for this process.

        Called by :meth:`child_init`; a request in a process that has not opened them (or that
        was forked from one that had) opens them first.
        """
        self._attach_log()
        config = self.config
        if not config.store.is_file():
            raise InvalidValueError(
                "store", str(config.store), "no such policy store: create it with the callcodes CLI"
            )
        turns = _Turns(config.events)
        with contextlib.ExitStack() as undo:
            undo.callback(turns.close)
            # Workers start together: they open the files in turn, since SQLite refuses a
            # second process while the first one turns a new event log to WAL mode.
            with turns:
                watch = _Watch(config.store)  # before loading: a change made meanwhile is seen
                undo.callback(watch.close)
                store = PolicyStore(config.store)
                undo.callback(store.close)
                book = store.load()
                plans = store.dialplans()
                sink = _TurnSink(config.events, FlushPolicy(config.sync_every, None), turns)
                undo.callback(sink.close)
                failures = _SharedFailures(config.events, turns)
                undo.callback(failures.close)
            undo.pop_all()
        # Failed entries are counted for every worker together, not per process.
        engine = Engine(book, sink, self._clock, store=store, on_lock=_log_lock, tracker=failures)
        self._opened = _Opened(os.getpid(), store, engine, sink, failures, plans, watch, turns)
        refresh = f"every {config.refresh_ms} ms" if config.refresh_ms else "before every INVITE"
        _log.info(
            "callcodes ready in pid %d: %d group(s) from %s, events to %s, policy checked %s",
            os.getpid(),
            len(book.groups()),
            config.store,
            config.events,
            refresh,
        )

    def close(self) -> None:
        """Close the event log and the store of this process, detach the log (idempotent)."""
        opened, self._opened = self._opened, None
        handler, self._log_handler = self._log_handler, None
        if handler is not None:
            logging.getLogger("callcodes").removeHandler(handler)
        if opened is not None and opened.pid == os.getpid():
            try:
                opened.sink.close()
            finally:
                opened.failures.close()
                opened.store.close()
                opened.watch.close()
                opened.turns.close()

    def _attach_log(self) -> None:
        """Send the library's log records to Kamailio's log."""
        if self._log_handler is None:
            self._log_handler = KamailioLogHandler(self.ksr)
            logger = logging.getLogger("callcodes")
            logger.addHandler(self._log_handler)
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)

    def _engine(self) -> Engine:
        """The engine of the current process, opened on first use, its policy up to date."""
        opened = self._opened
        if opened is None or opened.pid != os.getpid():
            self._opened = None  # a parent's connections are never used after fork()
            self.open()
            opened = self._opened
            assert opened is not None
        now = time.monotonic()
        if now >= opened.next_refresh:
            watch = opened.watch
            version = watch.version()
            if version != watch.seen:
                if opened.store.refresh(opened.engine.book):
                    opened.plans = opened.store.dialplans()
                watch.seen = version  # only now: a refresh that failed is tried again
            opened.next_refresh = now + self.config.refresh_ms / 1000
        return opened.engine

    # -- KEMI routes ----------------------------------------------------------------------------

    def ksr_request_route(self, _msg: object) -> int:
        """Route one request; every failure ends in a reply (an unhandled one would leave none)."""
        try:
            self._route(self.ksr)
        except Exception:  # noqa: BLE001  # logged with its traceback, then answered
            _log.exception("request routing failed")
            try:
                self.ksr.sl.send_reply(_FAILED_STATUS, "Server Internal Error")
            except Exception:  # noqa: BLE001  # nothing more can be done for this request
                _log.exception("cannot send the 500 reply")
        return 1

    def ksr_reply_route(self, _msg: object) -> int:
        """Replies pass through unchanged."""
        return 1

    def _route(self, ksr: Any) -> None:
        if ksr.maxfwd.process_maxfwd(10) < 0:
            ksr.sl.send_reply(483, "Too Many Hops")
            return
        if ksr.is_OPTIONS() and ksr.corex.has_ruri_user() < 0:
            ksr.sl.send_reply(200, "Keepalive")  # a probe of the proxy itself
            return
        if ksr.is_CANCEL():
            if ksr.tm.t_check_trans() > 0:
                self._relay(ksr)
            return
        if ksr.siputils.has_totag() > 0:  # within a dialog
            if ksr.rr.loose_route() > 0:
                self._relay(ksr)
            elif ksr.is_ACK():
                if ksr.tm.t_check_trans() > 0:  # ACK of a relayed negative reply
                    self._relay(ksr)
            else:
                ksr.sl.send_reply(404, "Not Here")
            return
        if ksr.is_ACK():
            return  # ACK of a reply sent here: absorbed
        if ksr.tmx.t_precheck_trans() > 0:  # a retransmission being processed
            ksr.tm.t_check_trans()
            return
        if ksr.tm.t_check_trans() == 0:  # a retransmission already answered
            return
        if not ksr.is_INVITE():
            ksr.sl.send_reply(405, "Method Not Allowed")
            return
        if self.check_invite() is Action.RELAY:
            if self.config.record_route:
                ksr.rr.record_route()
            ksr.pv.sets("$du", self.config.gateway)
            self._relay(ksr)

    def _relay(self, ksr: Any) -> None:
        if ksr.tm.t_relay() < 0:
            ksr.sl.sl_reply_error()

    # -- the code check -------------------------------------------------------------------------

    def check_invite(self) -> Action:
        """Decide the current INVITE: rewrite it for relaying, or answer it.

        On :attr:`Action.RELAY` the Request-URI holds the destination without prefix and code,
        the code header is gone and the account code header is set; the caller relays. On
        :attr:`Action.REPLIED` a final response was sent. Never raises: an unexpected error
        relays an emergency call and answers anything else with 500.
        """
        ksr = self.ksr
        dialed = ""
        group: str | None = None
        try:
            pv = ksr.pv
            dialed = pv.gete("$rU")
            call_id = pv.gete("$ci") or None
            user, domain = self._caller(pv)
            group = self._group_of(domain)
            field = pv.get(f"$hdr({self.config.code_header})")
            return self._check(
                ksr, group=group, user=user, dialed=dialed, field=field, call_id=call_id
            )
        except Exception as exc:  # noqa: BLE001  # no INVITE is left without an answer
            return self._failed(ksr, exc, group, dialed)

    def _caller(self, pv: Any) -> tuple[str, str]:
        """The calling user and its domain, from the configured header."""
        if self.config.caller is CallerSource.PAI and pv.gete("$ai"):
            user = pv.gete("$(ai{uri.user})")
            domain = pv.gete("$(ai{uri.host})") or pv.gete("$fd")
            return user, domain.lower()
        return pv.gete("$fU"), pv.gete("$fd").lower()

    def _plan_for(self, group: str) -> DialPlan:
        """The group's dial plan from the store, else the configuration's. O(1), no I/O."""
        opened = self._opened
        if opened is not None:
            found = opened.plans.get(group)
            if found is not None:
                return found
        return self.config.dial_plan

    def _group_of(self, domain: str) -> str:
        fixed = self.config.group
        if fixed is not None:
            return fixed
        if not domain:
            raise InvalidValueError("domain", domain, "the caller's URI has no domain")
        return self.config.domains.get(domain, domain)

    def _check(
        self,
        ksr: Any,
        *,
        group: str,
        user: str,
        dialed: str,
        field: str | None,
        call_id: str | None,
    ) -> Action:
        engine = self._engine()
        settings = _settings(engine, group)
        plan = self._plan_for(group)
        inline = parse_inline(dialed, settings, field)
        call_type = plan.classify(inline.destination).call_type
        if call_type is not CallType.EMERGENCY:
            bare = _after_prefix(dialed, settings)
            if bare is not None and _is_emergency(plan, bare):
                inline, call_type = Inline(bare, None, CodeSource.NONE), CallType.EMERGENCY
        call = Call(group, user, inline.destination, call_type, call_id)
        if call_type is not CallType.EMERGENCY:
            if not inline.destination or inline.problem is InlineProblem.NO_DESTINATION:
                ksr.sl.send_reply(_NO_DESTINATION_STATUS, "Address Incomplete: no number to call")
                return Action.REPLIED
            if inline.problem is InlineProblem.TWO_CODES:
                ksr.sl.send_reply(
                    _TWO_CODES_STATUS, f"Two codes: one dialed, one in {self.config.code_header}"
                )
                return Action.REPLIED
        decision = engine.decide(call, inline.code)
        if decision.verdict is Verdict.BLOCK:
            ksr.sl.send_reply(403, reason_phrase(decision, settings))
            return Action.REPLIED
        self._rewrite(ksr, dialed, inline, decision)
        return Action.RELAY

    def _rewrite(self, ksr: Any, dialed: str, inline: Inline, decision: Decision | None) -> None:
        """Set the Request-URI to the destination and the headers the gateway receives."""
        config = self.config
        if inline.destination != dialed:
            ksr.pv.sets("$rU", inline.destination)
            if config.hide_code_in_to and ksr.pv.gete("$tU") == dialed:
                # The To URI repeats the dial string, code included: the gateway must not see
                # it. The uac module restores the original To in replies and in the dialog.
                to = ksr.pv.gete("$tu")
                ksr.uac.uac_replace_to_uri(to.replace(f":{dialed}@", f":{inline.destination}@", 1))
        if ksr.hdr.is_present(config.code_header) > 0:
            ksr.hdr.remove(config.code_header)
        if ksr.hdr.is_present(config.account_header) > 0:
            ksr.hdr.remove(config.account_header)  # only this proxy says which account to bill
        if decision is not None and decision.reason is Reason.ACCOUNT_CODE:
            code = decision.entry.code if decision.entry is not None else inline.code
            if code is not None:
                ksr.hdr.append(f"{config.account_header}: {code}\r\n")

    def _failed(self, ksr: Any, exc: Exception, group: str | None, dialed: str) -> Action:
        """After an unexpected error: relay an emergency call, answer anything else with 500."""
        _log.error("callcodes check of INVITE to %r failed: %r", dialed, exc, exc_info=exc)
        try:
            inline = self._emergency(group, dialed)
            if inline is not None:
                _log.warning("emergency call to %s relayed although the check failed", dialed)
                self._rewrite(ksr, dialed, inline, None)
                return Action.RELAY
        except Exception:  # noqa: BLE001  # the 500 below still answers
            _log.exception("cannot relay the emergency call to %r", dialed)
        ksr.sl.send_reply(_FAILED_STATUS, _FAILED_PHRASE)
        return Action.REPLIED

    def _emergency(self, group: str | None, dialed: str) -> Inline | None:
        """The dialed string split for relaying when it reaches an emergency number, else None.

        Uses only what needs no I/O: the group's dial plan from the configuration and its code
        prefix from the policy last loaded (the defaults when that is unavailable).
        """
        plan = self.config.dial_plan if group is None else self._plan_for(group)
        settings = _DEFAULT_SETTINGS
        opened = self._opened
        if group is not None and opened is not None and opened.pid == os.getpid():
            settings = _settings(opened.engine, group)
        inline = parse_inline(dialed, settings)
        for candidate in (inline.destination, _after_prefix(dialed, settings), dialed):
            if candidate is not None and _is_emergency(plan, candidate):
                return Inline(candidate, None, CodeSource.NONE)
        return None


def _after_prefix(dialed: str, settings: GroupSettings) -> str | None:
    """What follows the code prefix (a caller may dial it, then an emergency number)."""
    prefix = settings.code_prefix
    return dialed[len(prefix) :] if dialed.startswith(prefix) else None


def _settings(engine: Engine, group: str) -> GroupSettings:
    try:
        return engine.book.group(group)
    except UnknownGroupError:
        return _DEFAULT_SETTINGS


def _is_emergency(plan: DialPlan, dialed: str) -> bool:
    try:
        return plan.classify(dialed).call_type is CallType.EMERGENCY
    except Exception:  # noqa: BLE001  # emergency numbers never need what could fail here
        return False


class _Watch:
    """Tells cheaply whether anything was written to the store since the last look.

    SQLite's ``data_version`` changes when another connection commits to the file: one
    statement, a few microseconds, where ``PolicyStore.refresh`` reads the change journal in a
    transaction. Keep the event log in another file, or each event would count as a change.
    """

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.seen = self.version()  # the version the loaded policy reflects

    def version(self) -> int:
        """The file's version now: it differs from ``seen`` after any change. O(1)."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


class _Turns:
    """Makes Kamailio's workers take turns writing the event log: an ``flock`` on a lock file.

    SQLite alone lets a writer that finds the file locked sleep 1, 2, 5, 10... milliseconds
    before it tries again; with several workers writing one event per call, those sleeps add
    up to seconds at a thousand calls per second. A worker waiting here wakes up as soon as
    the other one is done. The lock is a file of its own (``<events>.lock``): closing a
    descriptor of the database itself would drop SQLite's locks of this process.
    """

    def __init__(self, events: Path) -> None:
        self._file = Path(f"{events}.lock").open("ab")  # noqa: SIM115  # held until close()

    def __enter__(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)

    def close(self) -> None:
        self._file.close()


class _TurnSink(SqliteSink):
    """The SQLite event log, each write taken in turn with the other workers (``_Turns``)."""

    def __init__(self, path: Path, flush: FlushPolicy, turns: _Turns) -> None:
        super().__init__(path, flush)
        self._turns = turns

    def _write_rows(self, rows: list[Any]) -> None:
        with self._turns:
            super()._write_rows(rows)


def _log_lock(change: LockEvent) -> None:
    lock = change.lock
    who = f"user {lock.user!r}" if lock.user is not None else "the whole group"
    _log.warning("callcodes %s %s of group %r", change.change.value, who, lock.group)


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // _MICROSECOND


class _SharedFailures(FailureTracker):
    """Failed entries counted in an SQLite table that every Kamailio worker shares.

    The engine's own tracker counts in the memory of one process: with W workers an attacker
    would get W times the allowance. This one keeps the same rules (sliding windows, a lock
    empties its count) in the table ``guard_failures`` of the event log file, each record one
    transaction. It is only written on a failed entry, never on the common path.
    """

    def __init__(self, path: Path, turns: _Turns, busy_timeout: float = 5.0) -> None:
        super().__init__()
        self._turns = turns
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS guard_failures (grp TEXT NOT NULL, "
                "whole INTEGER NOT NULL, user TEXT NOT NULL, at INTEGER NOT NULL)"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS guard_failures_key "
                "ON guard_failures (grp, whole, user, at)"
            )
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def close(self) -> None:
        """Release the file."""
        self._conn.close()

    def record(self, group: str, user: str, now: datetime, lockout: Lockout) -> tuple[Lock, ...]:
        """Count one failed entry of *user* for every worker; return the locks now due.

        Runtime complexity: O(log f) for f failures kept, in one transaction.
        """
        if not isinstance(now, datetime) or now.utcoffset() is None:
            raise InvalidValueError("now", now, "must be a timezone-aware datetime (use UTC)")
        if not isinstance(lockout, Lockout):
            raise InvalidValueError("lockout", lockout, "must be a Lockout")
        until = None if lockout.lock_for is None else now + lockout.lock_for
        at = _micros(now)
        due = []
        keys = (
            (1, user, lockout.user_window, lockout.user_attempts),
            (0, "", lockout.group_window, lockout.group_attempts),
        )
        with self._mutex, self._write() as conn:
            for mine, who, window, attempts in keys:
                key = (group, 1 - mine, who)
                conn.execute(
                    "DELETE FROM guard_failures WHERE grp = ? AND whole = ? AND user = ? "
                    "AND at <= ?",
                    (*key, at - window // _MICROSECOND),
                )
                conn.execute("INSERT INTO guard_failures VALUES (?, ?, ?, ?)", (*key, at))
                (count,) = conn.execute(
                    "SELECT count(*) FROM guard_failures WHERE grp = ? AND whole = ? AND user = ?",
                    key,
                ).fetchone()
                if count >= attempts:
                    conn.execute(
                        "DELETE FROM guard_failures WHERE grp = ? AND whole = ? AND user = ?", key
                    )
                    due.append(Lock(group, who if mine else None, now, until))
        return tuple(due)

    def count(self, group: str, user: str | None, now: datetime, lockout: Lockout) -> int:
        """How many failures of *user* (of the group when None) are in the window at *now*.

        Runtime complexity: O(log f + k).
        """
        window = lockout.group_window if user is None else lockout.user_window
        key = (group, int(user is None), user or "")
        with self._mutex:
            (count,) = self._conn.execute(
                "SELECT count(*) FROM guard_failures WHERE grp = ? AND whole = ? AND user = ? "
                "AND at > ?",
                (*key, _micros(now) - window // _MICROSECOND),
            ).fetchone()
        return int(count)

    def forget(self, group: str, user: str | None = None) -> None:
        """Drop the count of *user* (of the group when None). Runtime complexity: O(log f)."""
        with self._mutex, self._write() as conn:
            conn.execute(
                "DELETE FROM guard_failures WHERE grp = ? AND whole = ? AND user = ?",
                (group, int(user is None), user or ""),
            )

    def prune(self, now: datetime, older_than: timedelta) -> int:
        """Drop every count whose last failure is at or before ``now - older_than``.

        Returns how many counts were dropped. Runtime complexity: O(f).
        """
        limit = _micros(now) - older_than // _MICROSECOND
        with self._mutex, self._write() as conn:
            stale = conn.execute(
                "SELECT grp, whole, user FROM guard_failures GROUP BY grp, whole, user "
                "HAVING max(at) <= ?",
                (limit,),
            ).fetchall()
            conn.executemany(
                "DELETE FROM guard_failures WHERE grp = ? AND whole = ? AND user = ?", stale
            )
        return len(stale)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        with self._turns:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
