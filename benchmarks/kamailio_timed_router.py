"""Benchmark-only KEMI script for time_kamailio.py: a route with CPU timers in each worker.

With TIMED_ROUTE=callcodes it runs examples/kamailio/callcodes_router.py's set-up and router
(the policy loaded before the fork); with TIMED_ROUTE=trivial, kamailio_trivial_route.py. Each
timer adds the CPU time of its thread (``time.thread_time_ns``, what Kamailio's CPU per call
counts) spent in one function: the router's parts, and Kamailio's own ``record_route`` and
``t_relay``. Each worker writes what it counted since its first request to
``TIMERS_DIR/<pid>.json`` every 500 requests. A timer costs about a microsecond (two
``clock_gettime`` calls), which nested timers add to the parts around them.
"""

import json
import os
import sys
import time
from pathlib import Path

import KSR

HERE = Path(__file__).resolve().parent
OUT = Path(os.environ["TIMERS_DIR"])
ROUTE = os.environ.get("TIMED_ROUTE", "callcodes")
EVERY = 500  # requests between two writes of a worker's counts

sys.path.insert(0, str(HERE))
sys.path.insert(0, os.environ.get("CALLCODES_EXAMPLE", str(HERE.parent / "examples" / "kamailio")))

spent: dict[str, int] = {}
calls: dict[str, int] = {}
state = {"pid": 0, "requests": 0}


def timed(owner, name, label):
    """Replace owner.name by the same function counting its CPU time under *label*."""
    function = getattr(owner, name)
    clock = time.thread_time_ns

    def timer(*args, **kwargs):
        start = clock()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0) + clock() - start
            calls[label] = calls.get(label, 0) + 1

    setattr(owner, name, timer)


def counting(route_class):
    """Count each request of *route_class*; forget what the parent counted before the fork."""
    route = route_class.ksr_request_route

    def ksr_request_route(self, msg):
        pid = os.getpid()
        if state["pid"] != pid:
            state["pid"], state["requests"] = pid, 0
            spent.clear()
            calls.clear()
        result = route(self, msg)
        state["requests"] += 1
        if state["requests"] % EVERY == 0:
            data = json.dumps({"route": ROUTE, "spent_ns": spent, "calls": calls})
            (OUT / f"{pid}.json").write_text(data)
        return result

    route_class.ksr_request_route = ksr_request_route


timed(KSR.rr, "record_route", "  Kamailio record_route")
timed(KSR.tm, "t_relay", "  Kamailio t_relay")
timed(KSR.pv, "gete", "  KSR.pv.gete")
timed(KSR.pv, "get", "  KSR.pv.get")
timed(KSR.hdr, "is_present", "  KSR.hdr.is_present")

if ROUTE == "trivial":
    import kamailio_trivial_route as trivial

    timed(trivial.TrivialRoute, "ksr_request_route", "request route")
    counting(trivial.TrivialRoute)

    def mod_init():
        return trivial.TrivialRoute()

else:
    import callcodes_router as example  # its module code sets up the site folders

    from callcodes.engine import Engine
    from callcodes.events._commit import GroupCommitSink
    from callcodes.integrations.kamailio import router

    timed(router.Router, "ksr_request_route", "request route")
    timed(router.Router, "check_invite", "  check_invite")
    timed(router.Router, "_current", "    worker and policy refresh")
    timed(router, "read_dialed", "    read_dialed")
    timed(Engine, "decide", "    Engine.decide")
    timed(Engine, "_settle", "      failed entry counted")
    timed(GroupCommitSink, "_write_row", "      event journaled")
    timed(router.Router, "_rewrite", "    request rewritten")
    timed(KSR.uac, "uac_replace_to_uri", "      uac To rewrite")
    counting(router.Router)

    mod_init = example.mod_init
