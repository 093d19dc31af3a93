"""tandem.serve.kamailio without Kamailio: its settings, and its request route driven by a
stand-in for the ``KSR`` module (what it replies, when it reloads)."""

from __future__ import annotations

import os
import time

import pytest

from tandem.errors import ConfigError
from tandem.serve.kamailio import KamailioSettings, TandemKemi
from tandem.serve.service import LOG
from tests.kamailio.conftest import SWAPPED_RATES, save_table


def test_settings_from_the_environment():
    s = KamailioSettings.from_env({"TANDEM_TABLE": "/t.tdm"})
    assert (s.table, s.mode, s.customer_header, s.reload_interval, s.redis) == (
        "/t.tdm", "redirect", "X-Tandem-Customer", 1.0, None,
    )  # fmt: skip
    s = KamailioSettings.from_env(
        {"TANDEM_TABLE": "/t.tdm", "TANDEM_MODE": "rtjson", "TANDEM_RELOAD_INTERVAL": "0.5",
         "TANDEM_REDIS": "redis://h:6379/2", "TANDEM_CUSTOMER_HEADER": ""}
    )  # fmt: skip
    assert (s.mode, s.reload_interval, s.redis, s.customer_header) == (
        "rtjson", 0.5, "redis://h:6379/2", "",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "TANDEM_TABLE is not set"),
        ({"TANDEM_TABLE": "t", "TANDEM_MODE": "proxy"}, "TANDEM_MODE must be one of"),
        ({"TANDEM_TABLE": "t", "TANDEM_RELOAD_INTERVAL": "soon"}, "must be a number"),
        ({"TANDEM_TABLE": "t", "TANDEM_RELOAD_INTERVAL": "-1"}, "0 or more seconds"),
        ({"TANDEM_TABLE": "t", "TANDEM_RELOAD_INTERVAL": "nan"}, "0 or more seconds"),
    ],
)
def test_bad_settings_are_one_clear_error(env, message):
    with pytest.raises(ConfigError, match=message):
        KamailioSettings.from_env(env)


class FakeKSR:
    """The parts of Kamailio's KSR module the redirect mode uses, recording replies."""

    def __init__(self) -> None:
        self.pvs: dict[str, object] = {}
        self.appended: list[str] = []
        self.replies: list[tuple[int, str, list[str]]] = []
        self.logs: list[str] = []
        ksr = self

        class PV:
            @staticmethod
            def get(name: str) -> object:
                return ksr.pvs.get(name)

        class Hdr:
            @staticmethod
            def append_to_reply(text: str) -> int:
                ksr.appended.append(text)
                return 1

        class SL:
            @staticmethod
            def send_reply(code: int, phrase: str) -> int:
                lines = "".join(ksr.appended).split("\r\n")
                ksr.replies.append((code, phrase, [ln for ln in lines if ln]))
                ksr.appended = []
                return 1

        self.pv, self.hdr, self.sl = PV, Hdr, SL

    def info(self, text: str) -> None:
        self.logs.append(text)

    err = warn = dbg = info

    def invite(self, number: str, source_ip: str = "127.0.0.1", customer: str | None = None):
        self.pvs = {
            "$rm": "INVITE", "$tt": None, "$rU": number, "$si": source_ip,
            "$ci": f"c-{len(self.replies)}", "$hdr(X-Tandem-Customer)": customer,
        }  # fmt: skip


@pytest.fixture
def serve_log():
    """Leave the ``tandem.serve`` logger as it was (the module adds Kamailio's handler)."""
    handlers, level = list(LOG.handlers), LOG.level
    yield
    LOG.handlers[:] = handlers
    LOG.setLevel(level)


def test_redirect_replies_and_reloads_through_ksr(routing, tmp_path, serve_log):
    table, config = routing
    ksr = FakeKSR()
    kemi = TandemKemi(
        KamailioSettings(table=str(table), config=str(config), reload_interval=0.0), ksr
    )
    assert kemi.child_init(1) == 0
    ksr.invite("+442079460000")
    kemi.ksr_request_route(None)
    code, phrase, headers = ksr.replies[-1]
    assert (code, phrase) == (302, "Moved Temporarily")
    assert [h.split(">")[0] for h in headers] == [
        "Contact: <sip:442079460000@edge.borealis.example.com:5070",
        "Contact: <sip:442079460000@203.0.113.50:5060",
        "Contact: <sip:442079460000@gw1.atlas.example.net",
    ]
    ksr.invite("+881612345678")
    kemi.ksr_request_route(None)
    code, _phrase, headers = ksr.replies[-1]
    assert code == 403 and headers[0].startswith('Reason: SIP ;cause=403 ;text="destination')
    ksr.invite("+442079460000", source_ip="198.51.100.1")  # no trunk has it
    kemi.ksr_request_route(None)
    assert ksr.replies[-1][0] == 403
    ksr.pvs = {"$rm": "OPTIONS", "$rU": None}
    kemi.ksr_request_route(None)
    assert ksr.replies[-1][:2] == (200, "OK")
    # the snapshot replaced: the next INVITE is answered from the new table
    staged = save_table(tmp_path / "next.tdm", SWAPPED_RATES)
    os.replace(staged, table)
    time.sleep(0.01)
    ksr.invite("+442079460000")
    kemi.ksr_request_route(None)
    assert [h.split(">")[0] for h in ksr.replies[-1][2]][0] == (
        "Contact: <sip:442079460000@gw1.atlas.example.net"
    )
    assert any("table reloaded" in line for line in ksr.logs)
