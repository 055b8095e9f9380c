"""The Kamailio router's configuration: where the policy and events are, how calls are read.

:class:`KamailioConfig` is frozen and validated: a bad setting is refused with an
:class:`~callcodes.InvalidValueError` naming it, when the configuration is built from Python,
from parsed TOML or JSON (:meth:`KamailioConfig.from_dict`) or from a TOML file
(:meth:`KamailioConfig.from_file`, see ``examples/kamailio/callcodes.toml``). No I/O but
reading that file.
"""

from __future__ import annotations

import enum
import os
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from ..._errors import InvalidValueError
from ..._places import MAX_NODE, host_name, to_path, to_place
from ...core._validate import check_bool, check_group, check_int, check_name, member
from ...dialplan.plan import DialPlan

__all__ = ["ACCOUNT_HEADER", "CODE_HEADER", "CallerSource", "KamailioConfig"]

#: The header an account code is sent in to the gateway, unless configured otherwise.
ACCOUNT_HEADER: Final = "X-Account-Code"
#: The header a caller (or the PBX in front) may carry the code in, unless configured otherwise.
CODE_HEADER: Final = "X-Callcodes-Code"

# RFC 3261 token characters, the only ones a header name may hold.
_TOKEN: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)
_REQUIRED: Final = ("store", "events", "gateway", "dial_plan")
_PLACES: Final = ("store", "events", "spool")


class CallerSource(enum.StrEnum):
    """Where the calling user (and its domain) is read from."""

    FROM = "from"  # the From URI
    PAI = "pai"  # the P-Asserted-Identity URI, else the From URI


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


def _to_spool(value: object) -> Path | None:
    return None if value is None else to_path(value)


def _check_node(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_name(attribute.name, value, "a node name", MAX_NODE)


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
    return member(CallerSource, "caller", value)


@attrs.frozen(weakref_slot=False)
class KamailioConfig:
    """How the router finds the policy, records events, reads calls and where it relays them.

    * ``store``: the policy store file (:class:`~callcodes.store.PolicyStore`), which must
      exist, or a ``postgresql://`` URL (:class:`~callcodes.store.PostgresPolicyStore`);
      ``events``: the SQLite event log file (created when missing), or a ``postgresql://``
      URL: the failure and use counts are then shared there with every node.
    * ``spool``: a local folder where each worker appends its events to a journal of its own
      (one ``write(2)`` per event, no database transaction on the call path), from where
      ``callcodes events ship`` moves them into the event log (see docs/kamailio.md).
      Required with the events in PostgreSQL; recommended with SQLite above a few hundred
      calls per second.
    * ``node``: this Kamailio's name among the nodes sharing a database (the host name unless
      given); worker *n* records its events as ``<node>-<n>``.
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
    * ``dialog``: track each relayed call with Kamailio's ``dialog`` module and count it as in
      progress until its end event, for groups whose ``concurrent_per_code`` is on (optional:
      needs the module and its ``event_callback`` set to ``ksr_dialog_event``).
    """

    store: Path | str = attrs.field(converter=to_place)
    events: Path | str = attrs.field(converter=to_place)
    gateway: str = attrs.field(validator=_check_gateway)
    dial_plan: DialPlan = attrs.field(converter=_to_plan)
    group: str | None = attrs.field(default=None, validator=attrs.validators.optional(check_group))
    domains: Mapping[str, str] = attrs.field(factory=dict, converter=_to_domains)
    caller: CallerSource = attrs.field(default=CallerSource.FROM, converter=_to_caller)
    code_header: str = attrs.field(default=CODE_HEADER, validator=_check_header)
    account_header: str = attrs.field(default=ACCOUNT_HEADER, validator=_check_header)
    refresh_ms: int = attrs.field(default=0, validator=check_int(0, None))
    sync_every: int = attrs.field(default=1, validator=check_int(1, None))
    record_route: bool = attrs.field(default=True, validator=check_bool)
    hide_code_in_to: bool = attrs.field(default=True, validator=check_bool)
    dialog: bool = attrs.field(default=False, validator=check_bool)
    spool: Path | None = attrs.field(default=None, converter=_to_spool)
    node: str = attrs.field(factory=host_name, validator=_check_node)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.events, str):
            if self.spool is None:
                raise InvalidValueError(
                    "spool",
                    None,
                    "with the events in PostgreSQL, name a local folder where each worker "
                    "journals its events until they are shipped (spool = /var/spool/callcodes)",
                )
            return
        if isinstance(self.store, Path) and self.events.resolve() == self.store.resolve():
            raise InvalidValueError(
                "events",
                str(self.events),
                "give the event log a file of its own: in the store's file, every event "
                "would look like a policy change to the other workers",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Path | None = None) -> KamailioConfig:
        """Build a configuration from parsed TOML or JSON; unknown keys are refused by name.

        Relative ``store``, ``events`` and ``spool`` paths are taken from *base* (the
        configuration file's folder). Raises :class:`~callcodes.InvalidValueError` naming the
        bad field.
        """
        if not isinstance(data, Mapping):
            raise InvalidValueError("config", data, "the configuration is a table of settings")
        known = [field.name for field in attrs.fields(cls)]
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise InvalidValueError(
                "config", unknown, f"unknown setting(s); the settings are {', '.join(known)}"
            )
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise InvalidValueError("config", missing, "these settings are required")
        values = dict(data)
        if base is not None:
            for name in _PLACES:
                place = _to_spool(values.get(name)) if name == "spool" else to_place(values[name])
                if isinstance(place, Path) and not place.is_absolute():
                    values[name] = base / place
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
