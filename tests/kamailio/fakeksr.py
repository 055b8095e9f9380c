"""A small stand-in for Kamailio's ``KSR`` module: one SIP request, and what the router did to it.

It answers the KEMI calls the router makes the way Kamailio 5.6 does for a request received
over UDP (return values > 0 for yes, < 0 for no), and records replies, relays and header
changes so that tests can check them. The end-to-end tests check the same behaviour against
the real Kamailio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Request:
    """The request Kamailio received."""

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
        found = [value for key, value in self.headers if key.lower() == name.lower()]
        return found[0] if found else None


class FakeKSR:
    """The parts of ``KSR`` the router uses, bound to one :class:`Request`."""

    def __init__(self, request: Request, *, fail: frozenset[str] = frozenset()) -> None:
        self.request = request
        self.fail = fail  # names such as "hdr.append" that raise, to inject faults
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
        if name in self.fail:
            raise RuntimeError(f"injected failure of KSR.{name}")

    def is_method(self, method: str) -> bool:
        return self.request.method == method

    def is_INVITE(self) -> bool:  # noqa: N802  # KSR's own name
        return self.is_method("INVITE")

    def is_ACK(self) -> bool:  # noqa: N802  # KSR's own name
        return self.is_method("ACK")

    def is_CANCEL(self) -> bool:  # noqa: N802  # KSR's own name
        return self.is_method("CANCEL")

    def is_OPTIONS(self) -> bool:  # noqa: N802  # KSR's own name
        return self.is_method("OPTIONS")

    def info(self, text: str) -> None:
        self.logs.append(("info", text))

    def warn(self, text: str) -> None:
        self.logs.append(("warn", text))

    def err(self, text: str) -> None:
        self.logs.append(("err", text))

    @property
    def status(self) -> int | None:
        """The final status sent, 0 when the request was relayed, None when nothing happened."""
        if self.replies:
            return self.replies[-1][0]
        return 0 if self.relayed else None


_URI = re.compile(r"^(?:sips?|tel):(?:(?P<user>[^@;>]+)@)?(?P<host>[^;>:]*)")


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
            raise AssertionError(f"the fake KSR does not know {name}")
        return values[name]

    def sets(self, name: str, value: str) -> None:
        self.ksr.check("pv.sets")
        if name == "$rU":
            self.ksr.request.ruri_user = value
        elif name == "$du":
            self.ksr.du = value
        else:
            raise AssertionError(f"the fake KSR cannot set {name}")


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
        assert text.endswith("\r\n"), "Kamailio needs the header's CRLF"
        name, value = text[:-2].split(":", 1)
        self.ksr.request.headers.append((name.strip(), value.strip()))
        return 1


class _SL(_Part):
    def send_reply(self, code: int, reason: str) -> int:
        self.ksr.check("sl.send_reply")
        assert "\r" not in reason
        assert "\n" not in reason
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
    def process_maxfwd(self, limit: int) -> int:
        return 1 if self.ksr.request.max_forwards > 0 else -1


class _Corex(_Part):
    def has_ruri_user(self) -> int:
        return 1 if self.ksr.request.ruri_user else -1


class _Uac(_Part):
    def uac_replace_to_uri(self, uri: str) -> int:
        self.ksr.check("uac.uac_replace_to_uri")
        self.ksr.request.to_uri = uri
        return 1
