"""The reference of bench_kamailio.py: a KEMI route without callcodes, for app_python3.

It routes requests the way callcodes' Router does (keepalive, CANCEL, in-dialog, ACK,
retransmissions, then record-route and relay of each new INVITE to the gateway), without the
code check. The gateway is read from the environment variable TRIVIAL_GATEWAY.
"""

import os

import KSR

GATEWAY = os.environ.get("TRIVIAL_GATEWAY", "sip:127.0.0.1:5080")


def mod_init():
    return TrivialRoute()


class TrivialRoute:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.send_reply(483, "Too Many Hops")
            return 1
        if KSR.is_OPTIONS() and KSR.corex.has_ruri_user() < 0:
            KSR.sl.send_reply(200, "Keepalive")
            return 1
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                self.relay()
            return 1
        if KSR.siputils.has_totag() > 0:
            if KSR.rr.loose_route() > 0:
                self.relay()
            elif KSR.is_ACK():
                if KSR.tm.t_check_trans() > 0:
                    self.relay()
            else:
                KSR.sl.send_reply(404, "Not Here")
            return 1
        if KSR.is_ACK():
            return 1
        if KSR.tmx.t_precheck_trans() > 0:
            KSR.tm.t_check_trans()
            return 1
        if KSR.tm.t_check_trans() == 0:
            return 1
        if not KSR.is_INVITE():
            KSR.sl.send_reply(405, "Method Not Allowed")
            return 1
        KSR.rr.record_route()
        KSR.pv.sets("$du", GATEWAY)
        self.relay()
        return 1

    def relay(self):
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    def ksr_reply_route(self, msg):
        return 1
