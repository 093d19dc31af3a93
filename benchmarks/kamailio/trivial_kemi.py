"""Benchmark case (a): a trivial app_python3 KEMI route, no lookup: every INVITE gets a 302
with five fixed Contacts (the size of Tandem's answer), OPTIONS a 200. Loaded by
examples/kamailio/kamailio.cfg (-A TANDEM_SCRIPT=...) in bench_kamailio.py."""

import KSR  # provided by app_python3

CONTACTS = [
    f"Contact: <sip:442079460000@10.0.0.{i}:5060>;q={q};carrier=carrier{i:02d}\r\n"
    for i, q in zip(range(1, 6), ("1.0", "0.8", "0.6", "0.4", "0.2"), strict=True)
]


class Trivial:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        method = KSR.pv.get("$rm")
        if method == "INVITE":
            for contact in CONTACTS:
                KSR.hdr.append_to_reply(contact)
            KSR.sl.send_reply(302, "Moved Temporarily")
        elif method == "OPTIONS":
            KSR.sl.send_reply(200, "OK")
        return 1

    def ksr_reply_route(self, msg):
        return 1

    def ksr_onsend_route(self, msg):
        return 1


def mod_init():
    return Trivial()
