"""``callcodes dialplan``: show, set, remove and try a group's dial plan in the policy store.

``set`` starts from the group's current plan (or from nothing, which needs ``--region``) and
changes only the options given, so one field can be changed without restating the others.
Lists are comma-separated; ``--override PREFIX=TYPE`` adds or changes one override and
``--override PREFIX=`` removes it.
"""

from __future__ import annotations

from typing import Any

import click

from .._errors import InvalidValueError
from ..core.model import CallType
from ..dialplan.plan import DialPlan
from ._common import GROUP, echo_json, pairs, state, table

__all__ = ["dialplan"]

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
_LISTS = ("extensions", "public_numbers", "extra_emergency", "local_prefixes")


def _listed(values: list[str] | tuple[str, ...] | frozenset[str]) -> str:
    return ", ".join(values) or "none"


def show_plan(plan: DialPlan) -> None:
    """Print a plan as aligned ``name: value`` lines."""
    overrides = ", ".join(f"{key}={kind.value}" for key, kind in plan.overrides.items())
    extra = sorted(plan.extra_emergency, key=lambda n: (len(n), n))
    emergency = sorted(plan.emergency_numbers, key=lambda n: (len(n), n))
    pairs(
        [
            ("region", plan.region),
            ("outside prefix", plan.outside_prefix or "none"),
            ("extensions", _listed(plan.extensions)),
            ("public numbers", _listed(plan.public_numbers)),
            ("local prefixes", _listed(plan.local_prefixes)),
            ("overrides", overrides or "none"),
            ("extra emergency", _listed(extra)),
            ("emergency numbers", _listed(emergency)),
        ]
    )


@click.group()
def dialplan() -> None:
    """A group's dial plan: how its dialed digits become call types."""


@dialplan.command("show")
@click.argument("name", metavar="GROUP", type=GROUP)
@_JSON
def dialplan_show(name: str, as_json: bool) -> None:
    """Show the dial plan of GROUP."""
    plan = state().store(read_only=True).dialplan(name)
    if as_json:
        echo_json(None if plan is None else plan.to_dict())
    elif plan is None:
        click.echo(f"group {name} has no dial plan; set one with 'callcodes dialplan set {name}'")
    else:
        show_plan(plan)


def _split(option: str, value: str) -> list[str]:
    if value.strip().lower() == "none":
        return []
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise InvalidValueError(option, value, "give a comma-separated list, or 'none'")
    return items


def _overrides(current: dict[str, str], changes: tuple[str, ...]) -> dict[str, str]:
    found = dict(current)
    for change in changes:
        key, equals, kind = change.partition("=")
        if not equals or not key:
            raise InvalidValueError(
                "--override", change, "write PREFIX=TYPE to set one, PREFIX= to remove it"
            )
        if kind:
            found[key] = kind
        else:
            found.pop(key, None)
    return found


@dialplan.command("set")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.option("--region", help="ISO 3166 country of the group, e.g. US, GB, DE.")
@click.option("--outside-prefix", help="Digits dialed for an outside line, e.g. 9; 'none'.")
@click.option("--extensions", help="Comma-separated extensions and ranges, e.g. 1000-1999,200.")
@click.option("--public-numbers", help="Comma-separated E.164 numbers or blocks of the group.")
@click.option("--local-prefixes", help="Comma-separated area codes counted as local.")
@click.option("--extra-emergency", help="Comma-separated numbers added to the emergency ones.")
@click.option(
    "--override",
    "overrides",
    multiple=True,
    metavar="PREFIX=TYPE",
    help=f"Set one override (TYPE: {', '.join(t.value for t in CallType)}); PREFIX= removes it.",
)
@click.option("--no-overrides", is_flag=True, help="Remove every override first.")
@_JSON
def dialplan_set(name: str, as_json: bool, **options: Any) -> None:
    """Create or change the dial plan of GROUP; options not given are kept."""
    store = state().store()
    current = store.dialplan(name)
    data: dict[str, Any] = {} if current is None else current.to_dict()
    if options["region"] is not None:
        data["region"] = options["region"]
    elif current is None:
        raise InvalidValueError(
            "--region", None, f"group {name} has no dial plan yet: give its country, e.g. US"
        )
    prefix = options["outside_prefix"]
    if prefix is not None:
        data["outside_prefix"] = None if prefix.lower() in ("", "none") else prefix
    for key in _LISTS:
        if options[key] is not None:
            data[key] = _split(f"--{key.replace('_', '-')}", options[key])
    base = {} if options["no_overrides"] else data.get("overrides", {})
    data["overrides"] = _overrides(base, options["overrides"])
    plan = DialPlan.from_dict(data)
    store.set_dialplan(name, plan, actor=state().actor)
    if as_json:
        echo_json({"group": name, "created": current is None, "dialplan": plan.to_dict()})
        return
    show_plan(plan)


@dialplan.command("remove")
@click.argument("name", metavar="GROUP", type=GROUP)
@_JSON
def dialplan_remove(name: str, as_json: bool) -> None:
    """Remove the dial plan of GROUP (its calls then need --type in 'callcodes check')."""
    store = state().store()
    had = store.dialplan(name) is not None
    store.set_dialplan(name, None, actor=state().actor)
    if as_json:
        echo_json({"group": name, "removed": had})
        return
    click.echo(f"removed the dial plan of {name}" if had else f"group {name} had no dial plan")


@dialplan.command("classify")
@click.argument("name", metavar="GROUP", type=GROUP)
@click.argument("dialed", nargs=-1, required=True)
@_JSON
def dialplan_classify(name: str, dialed: tuple[str, ...], as_json: bool) -> None:
    """Show the call type GROUP's dial plan gives each DIALED string."""
    plan = stored_plan(name)
    found = [(text, plan.classify(text)) for text in dialed]
    if as_json:
        echo_json(
            [
                {
                    "dialed": text,
                    "call_type": c.call_type.value,
                    "destination": c.destination,
                    "reason": c.reason,
                }
                for text, c in found
            ]
        )
        return
    table(
        ["dialed", "call type", "destination", "reason"],
        [[text, c.call_type.value, c.destination or "-", c.reason] for text, c in found],
    )


def stored_plan(name: str, instead: str = "") -> DialPlan:
    """The stored dial plan of group *name*; an error saying how to set one when it has none."""
    plan = state().store().dialplan(name)
    if plan is None:
        raise InvalidValueError(
            "dialplan",
            name,
            f"group {name} has no dial plan: set one with 'callcodes dialplan set {name} "
            f"--region US ...'{instead}",
        )
    return plan
