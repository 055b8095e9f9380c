"""Kamailio integration: a KEMI router for ``app_python3`` that enforces codes on every INVITE.

Kamailio loads a small script (``examples/kamailio/callcodes_router.py``) whose ``mod_init``
returns a :class:`Router`. For each new INVITE the router finds the calling user and its group,
hands the dialed number and the code header to :func:`~callcodes.dialplan.read_dialed` (code prefix,
inline code, emergency numbers first, the group's :class:`~callcodes.DialPlan`) and asks
:class:`~callcodes.Engine`:

* ALLOW or LOG_ONLY: the prefix and the code leave the Request-URI, an account code goes into
  a header (``X-Account-Code``), and the call is relayed to the configured gateway;
* BLOCK: ``403`` with a reason phrase that tells the caller why;
* every decision is recorded in the SQLite event log, which Kamailio's forked workers share;
* workers pick up an administrator's changes to the policy store without a restart;
* an unexpected error never leaves a request without an answer: an emergency call is still
  relayed, anything else is refused with ``500`` and the error is logged.

The ``KSR`` module exists only inside Kamailio: the router takes it as a parameter, or imports
it on first use, so everything here can be imported and tested without Kamailio. The policy is
loaded once, before Kamailio forks (:meth:`Router.preload`, from ``mod_init``), and its memory
shared by the workers; the store and the event log are opened in each worker (``child_init``),
never before Kamailio forks.
"""

from __future__ import annotations

import enum
import gc
import logging
import os
import types
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import attrs

from ..._errors import InvalidValueError
from ...core.inline import InlineProblem
from ...core.model import Decision, GroupSettings, Reason, Verdict
from ...dialplan.intake import emergency_destination, read_dialed
from ...dialplan.plan import DialPlan
from ._redirect import redirector
from ._worker import DEFAULT_SETTINGS, Preloaded, Worker
from .config import CallerSource, KamailioConfig
from .log import KamailioLogHandler

__all__ = ["REASON_PHRASES", "Action", "Router", "reason_phrase"]

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
        Reason.SUSPENDED: "Authorization code suspended",
        Reason.OUTSIDE_HOURS: "Calls of this type not allowed at this time",
        Reason.CALLS_LIMIT: "Authorization code call limit reached",
        Reason.USERS_LIMIT: "Authorization code user limit reached",
        Reason.COSTLY_LIMIT: "Authorization code international call limit reached",
        Reason.USER_COSTLY_LIMIT: "International call limit reached",
        Reason.CONCURRENT_LIMIT: "Authorization code already in use",
        Reason.REDIRECT_BLOCKED: "Forwarded call not allowed",
    }
)
_TWO_CODES_STATUS: Final = 400
_NO_DESTINATION_STATUS: Final = 484
_NO_DESTINATION_PHRASE: Final = "Address Incomplete: no number to call"
_FAILED_STATUS: Final = 500
_FAILED_PHRASE: Final = "Code check failed"
# The dialog variable that carries a call's group to its end event.
_DIALOG_GROUP: Final = "callcodes_group"

_log = logging.getLogger("callcodes.kamailio")


def _unescape_user(user: str) -> str:
    """The user part of a SIP URI with its ``%HH`` escapes read (RFC 3261, 19.1.2).

    Some phones send ``*`` as ``%2A`` (``sip:%2A711234...@``): the dial string is what the escapes
    stand for. Bytes that are not UTF-8 become U+FFFD, which no dial plan reads as a digit, so
    escaped junk is refused like any other undialable string; this never raises on a string.
    """
    if "%" not in user:
        return user
    return urllib.parse.unquote(user, errors="replace")


class Action(enum.StrEnum):
    """What :meth:`Router.check_invite` did with an INVITE, and what the script does next."""

    RELAY = "relay"  # the Request-URI and headers are set: relay the request
    REPLIED = "replied"  # a final response was sent: stop routing this request


def _check_store(config: KamailioConfig) -> None:
    """Refuse a store file that does not exist (a database is checked by connecting)."""
    if isinstance(config.store, Path) and not config.store.is_file():
        raise InvalidValueError(
            "store",
            str(config.store),
            "no such policy store: create it with the callcodes CLI (callcodes --db ...)",
        )


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
        self._worker: Worker | None = None
        self._preloaded: Preloaded | None = None
        self._log_handler: KamailioLogHandler | None = None
        self._code_pv = f"$hdr({config.code_header})"

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, ksr: Any = None) -> Router:
        """A router configured by the TOML file at *path*; checks the store file exists."""
        config = KamailioConfig.from_file(path)
        _check_store(config)
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

    def preload(self) -> None:
        """Load the policy now, in Kamailio's main process, before it forks its workers.

        Call it from ``mod_init``. Every worker then starts from this one copy of the policy,
        whose memory the workers share (copy on write) instead of each loading its own: the
        loaded objects are frozen out of the garbage collector (``gc.freeze``), whose passes
        would otherwise write to every one of them in every worker. Each worker still opens
        its own store and event log, and reads only the changes written since this load.
        """
        self._attach_log()
        _check_store(self.config)
        preloaded = self._preloaded = Preloaded.load(self.config)
        # The number tables of every region, which international numbers may reach: compiled
        # in each worker instead, they cost its first calls milliseconds. Each group's plan
        # then only binds its region's table, built already.
        self.config.dial_plan.prepare(every_region=True)
        for plan in preloaded.plans.values():
            plan.prepare()
        gc.freeze()
        _log.info(
            "callcodes loaded %d group(s) from %s before the fork (pid %d)",
            len(preloaded.book.groups()),
            self.config.store,
            os.getpid(),
        )

    def child_init(self, rank: int) -> int:
        """Kamailio's per-process start: SIP workers (rank > 0) open the store and the log.

        Returns 0, or -1 (which stops Kamailio) when the store or the event log cannot be
        opened; the error is in Kamailio's log.
        """
        if rank <= 0:
            return 0
        try:
            self.open(rank)
        except Exception:  # noqa: BLE001  # logged with its traceback; Kamailio stops
            _log.exception("callcodes cannot start in worker %d", rank)
            return -1
        return 0

    def open(self, rank: int | None = None) -> None:
        """Open the store, load the policy and open the event log for this process.

        Called by :meth:`child_init` with Kamailio's number of the worker, *rank* (see
        :meth:`Worker.open`); a request in a process that has not opened them (or that was
        forked from one that had) opens them first.
        """
        self._attach_log()
        config = self.config
        _check_store(config)
        preloaded = self._preloaded
        worker = self._worker = Worker.open(config, self._clock, rank=rank, preloaded=preloaded)
        refresh = f"every {config.refresh_ms} ms" if config.refresh_ms else "before every INVITE"
        _log.info(
            "callcodes ready in pid %d: %d group(s) from %s (%s), events to %s, policy checked %s",
            worker.pid,
            len(worker.engine.book.groups()),
            config.store,
            "loaded before the fork" if preloaded is not None else "loaded here",
            config.events,
            refresh,
        )

    def close(self) -> None:
        """Close the event log and the store of this process, detach the log (idempotent)."""
        worker, self._worker = self._worker, None
        handler, self._log_handler = self._log_handler, None
        if handler is not None:
            logging.getLogger("callcodes").removeHandler(handler)
        if worker is not None and worker.current:
            worker.close()

    def _attach_log(self) -> None:
        """Send the library's log records to Kamailio's log."""
        if self._log_handler is None:
            self._log_handler = KamailioLogHandler(self.ksr)
            logger = logging.getLogger("callcodes")
            logger.addHandler(self._log_handler)
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)

    def _current(self) -> Worker:
        """The worker of the current process, opened on first use, its policy up to date."""
        worker = self._worker
        if worker is None or not worker.current:
            self._worker = None  # a parent's connections are never used after fork()
            self.open()
            worker = self._worker
            assert worker is not None
        worker.refreshed()
        return worker

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

    def ksr_dialog_event(self, _msg: object, event: str) -> int:
        """Kamailio's ``dialog`` module says a call ended: it no longer counts as in progress.

        Set as the module's ``event_callback`` (with ``dialog = true`` in the configuration);
        only ``dialog:end`` and ``dialog:failed`` matter. A failure is logged, never raised.
        """
        if event not in ("dialog:end", "dialog:failed"):
            return 1
        try:
            pv = self.ksr.pv
            group = pv.gete(f"$dlg_var({_DIALOG_GROUP})")
            call_id = pv.gete("$ci")
            if group and call_id:
                self._current().engine.end(group, call_id)
        except Exception:  # noqa: BLE001  # a missed end only holds a slot until CALL_LIMIT
            _log.exception("cannot count the end of a call")
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
            raw = pv.gete("$rU")
            dialed = _unescape_user(raw) if isinstance(raw, str) else raw
            call_id = pv.gete("$ci") or None
            user, domain = self._caller(pv)
            group = self._group_of(domain)
            field = pv.get(self._code_pv)
            history = None  # every History-Info header's entries, in order
            if ksr.hdr.is_present("History-Info") > 0:
                history = pv.get("$(hdr(History-Info)[*])")
            named = redirector(pv.get("$hdr(Diversion)"), history)
            return self._check(
                ksr,
                group=group,
                user=user,
                dialed=dialed,
                field=field,
                call_id=call_id,
                redirected_by=named,
                raw=raw,
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
        redirected_by: tuple[str, str] | None = None,
        raw: str | None = None,
    ) -> Action:
        worker = self._current()
        settings = worker.settings(group)
        # A redirected call is judged as its redirecting user's outside leg. A caller enrolled
        # in its group keeps its own policy, so a header it adds can never loosen it.
        redirected = redirected_by is not None and not (
            user in settings.mandatory_users or user in settings.optional_users
        )
        if redirected:
            assert redirected_by is not None
            user, group = redirected_by[0], self._group_of(redirected_by[1])
            settings = worker.settings(group)
        plan = worker.plan_for(group)
        taken = read_dialed(plan, settings, group, user, dialed, code=field, call_id=call_id)
        call = taken.call
        if call is not None and redirected:
            call = attrs.evolve(call, redirected=True)
        if call is None:  # nothing to decide: the dial string is answered as it is
            if taken.problem is InlineProblem.TWO_CODES:
                phrase = f"Two codes: one dialed, one in {self.config.code_header}"
                ksr.sl.send_reply(_TWO_CODES_STATUS, phrase)
            else:
                ksr.sl.send_reply(_NO_DESTINATION_STATUS, _NO_DESTINATION_PHRASE)
            return Action.REPLIED
        decision = worker.engine.decide(call, taken.code)
        if decision.verdict is Verdict.BLOCK:
            ksr.sl.send_reply(403, reason_phrase(decision, settings))
            return Action.REPLIED
        if self.config.dialog:  # tracked, and which group's count its end event goes to
            ksr.dialog.dlg_manage()
            ksr.pv.sets(f"$dlg_var({_DIALOG_GROUP})", call.group)
        account = None
        if decision.reason is Reason.ACCOUNT_CODE:
            account = decision.entry.code if decision.entry is not None else taken.code
        self._rewrite(ksr, dialed, call.dialed, account, raw=raw, code_sent=field is not None)
        return Action.RELAY

    def _rewrite(
        self,
        ksr: Any,
        dialed: str,
        destination: str,
        account: str | None,
        *,
        raw: str | None = None,
        code_sent: bool = True,
    ) -> None:
        """Set the Request-URI to *destination* and the headers the gateway receives.

        *dialed* is the dial string read from the Request-URI, escapes read; the URI itself
        (and the To URI that repeats it) may hold it escaped: *raw*, when it was read already.
        *code_sent* False says the code header is absent (it was read): no need to look.
        """
        config = self.config
        if raw is None:
            raw = ksr.pv.gete("$rU")
        if destination != dialed or raw != destination:
            ksr.pv.sets("$rU", destination)
            to_user = ksr.pv.gete("$tU")
            if config.hide_code_in_to and to_user in (dialed, raw) and to_user != destination:
                # The To URI repeats the dial string, code included: the gateway must not see
                # it. The uac module restores the original To in replies and in the dialog.
                to = ksr.pv.gete("$tu")
                ksr.uac.uac_replace_to_uri(to.replace(f":{to_user}@", f":{destination}@", 1))
        if code_sent and ksr.hdr.is_present(config.code_header) > 0:
            ksr.hdr.remove(config.code_header)
        if ksr.hdr.is_present(config.account_header) > 0:
            ksr.hdr.remove(config.account_header)  # only this proxy says which account to bill
        if account is not None:
            ksr.hdr.append(f"{config.account_header}: {account}\r\n")

    def _failed(self, ksr: Any, exc: Exception, group: str | None, dialed: str) -> Action:
        """After an unexpected error: relay an emergency call, answer anything else with 500."""
        _log.error("callcodes check of INVITE to %r failed: %r", dialed, exc, exc_info=exc)
        try:
            destination = emergency_destination(*self._known(group), dialed)
            if destination is not None:
                _log.warning("emergency call to %s relayed although the check failed", dialed)
                self._rewrite(ksr, dialed, destination, None)
                return Action.RELAY
        except Exception:  # noqa: BLE001  # the 500 below still answers
            _log.exception("cannot relay the emergency call to %r", dialed)
        ksr.sl.send_reply(_FAILED_STATUS, _FAILED_PHRASE)
        return Action.REPLIED

    def _known(self, group: str | None) -> tuple[DialPlan, GroupSettings]:
        """The group's dial plan and settings from what is in memory, without I/O.

        The plan stored for the group, else the configuration's; the settings of the policy
        last loaded in this process, else the defaults.
        """
        worker = self._worker
        if group is None or worker is None:
            return self.config.dial_plan, DEFAULT_SETTINGS
        settings = worker.settings(group) if worker.current else DEFAULT_SETTINGS
        return worker.plan_for(group), settings
