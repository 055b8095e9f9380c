"""Benchmark-only KEMI script for bench_kamailio_memory.py: the example router, then a pass over
every code in each worker.

It runs examples/kamailio/callcodes_router.py's set-up and router (the policy loaded before
the fork), or with CALLCODES_PRELOAD=0 the router without preloading (each worker loads its
own copy, as before). After each SIP worker's child_init it decides every code of the group
once, through the decision function an INVITE goes through, and builds each decision's event
row: what a call reads of the policy, so that the memory measured after it is the memory after
traffic that used every code. The codes are made anew from their range (CALLCODES_TOUCH:
"first:count"): listing them from the book would read every entry as well.
"""

import logging
import os
import sys
from datetime import UTC, datetime

sys.path.insert(0, os.environ["CALLCODES_EXAMPLE"])

import callcodes_router as example  # its module code sets up the site folders

from callcodes import Call, CallType
from callcodes.core.decide import decide
from callcodes.events.event import row_from_decision
from callcodes.integrations import kamailio

_log = logging.getLogger("callcodes.bench")


class Touching:
    """The router, and after child_init the pass over every code."""

    def __init__(self, router):
        self.router = router

    def child_init(self, rank):
        status = self.router.child_init(rank)
        if rank > 0 and status == 0:
            self.touch()
        return status

    def touch(self):
        first, count = (int(part) for part in os.environ["CALLCODES_TOUCH"].split(":"))
        worker = self.router._worker
        book = worker.engine.book
        now = datetime.now(UTC)
        mode = book.settings_for("acme").mode
        call = Call("acme", "1001", "913125550123", CallType.NATIONAL)
        allowed = 0
        for number in range(first, first + count):
            code = str(number)
            decision = decide(book, call, code, now=now)
            row_from_decision(now, call, decision, mode, code, 1)
            allowed += decision.entry is not None
        _log.info("callcodes bench: pid %d touched %d codes", os.getpid(), allowed)

    def ksr_request_route(self, msg):
        return self.router.ksr_request_route(msg)

    def ksr_reply_route(self, msg):
        return self.router.ksr_reply_route(msg)


def mod_init():
    if os.environ.get("CALLCODES_PRELOAD", "1") == "1":
        return Touching(example.mod_init())
    return Touching(kamailio.Router.from_file(example.CONFIG))
