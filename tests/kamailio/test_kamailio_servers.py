"""Kamailio in front of Tandem's servers, end to end: examples/kamailio/redirect.cfg
(uac_redirect follows the 302 of ``tandem serve sip``), http-rtjson.cfg (http_client +
rtjson on ``tandem serve http``) and the benchmark's http302.cfg (``format=sip``).
Carriers are SIPp UASes: the cheapest answers 503 (a failover code), the next answers 200;
the third must never be tried."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from tests.kamailio.conftest import BASE_RATES, save_table
from tests.kamailio.harness import EXAMPLES, Carrier, Kamailio, TandemServer, run_sipp, tools
from tests.kamailio.test_kamailio_inprocess import (
    contacts_of,
    expected_contacts,
    reason_of,
    route_json,
)

pytestmark = pytest.mark.timeout(90)
HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize(("config", "kind"), [("redirect.cfg", "sip"), ("http-rtjson.cfg", "http")])
def test_kamailio_follows_tandem_in_order_and_relays_refusals(tmp_path, config, kind):
    sipp = tools()[1]
    failing = Carrier(sipp, HERE / "carrier_fail.xml", tmp_path)
    answering = Carrier(sipp, HERE / "carrier_answer.xml", tmp_path)
    unused = Carrier(sipp, HERE / "carrier_fail.xml", tmp_path)
    table = save_table(tmp_path / "routes.tdm", BASE_RATES)
    routing = tmp_path / "routing.toml"
    # +4420...: borealis (0.005) first, then cygnus (0.007), then atlas (0.008)
    routing.write_text(
        '[defaults]\nblocked = ["881"]\n'
        f'[carriers.borealis]\ntrunk = "sip:127.0.0.1:{failing.port}"\n'
        f'[carriers.cygnus]\ntrunk = "sip:127.0.0.1:{answering.port}"\n'
        f'[carriers.atlas]\ntrunk = "sip:127.0.0.1:{unused.port}"\n'
        '[customers.acme.trunks.local]\nips = ["127.0.0.1"]\n'
    )
    calls = 4
    try:
        with TandemServer(kind, table, routing, tmp_path) as server:
            defines = (f'TANDEM="{server.url}"', f'TANDEMCON="tandem=>{server.url}"')
            with Kamailio(EXAMPLES / config, tmp_path, {}, defines=defines) as k:
                run = run_sipp(sipp, k.port, tmp_path, [("+442079460000", "")], calls=calls,
                               rate=10, scenario=HERE / "call.xml")  # fmt: skip
                refused = run_sipp(sipp, k.port, tmp_path, [("+881612345678", ""),
                                   ("+5511999", "")])  # fmt: skip
                log = k.text()
                metrics = ""
                if kind == "http":
                    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as r:
                        metrics = r.read().decode()
    finally:
        fail_seen, ok_seen, unused_seen = failing.stop(), answering.stop(), unused.stop()
    assert (run.successful, run.failed) == (calls, 0), run.out + log[-3000:]
    assert fail_seen[0] == calls  # the cheapest carrier was tried first on every call
    assert ok_seen[0] == calls  # then the next one answered and got the BYE
    assert unused_seen == (0, 0)  # the third route was never needed
    assert (refused.successful, refused.failed) == (2, 0), refused.out
    codes = {r["number"]: r["code"] for r in refused.responses}
    assert codes == {"+881612345678": 403, "+5511999": 404}
    for response in refused.responses:
        expected = route_json(response["number"], table, routing)["reason"]
        assert reason_of(response) == expected.replace('"', "'" if kind == "http" else '\\"')
    if kind == "http":  # every call's end came back to the lifecycle: on the BYE
        ends = re.search(r"^tandem_call_ends_total\{[^}]*\} (\d+)$", metrics, re.M)
        assert ends and int(ends.group(1)) == calls, metrics


def test_redirect_server_contacts_reach_the_caller_through_kamailio_unchanged(tmp_path):
    """Without carriers to follow (the trunks are documentation addresses), the 302's
    Contacts equal ``tandem route --json`` when SIPp asks tandem serve sip directly."""
    sipp = tools()[1]
    table = save_table(tmp_path / "routes.tdm", BASE_RATES)
    routing = tmp_path / "routing.toml"
    routing.write_text(
        '[carriers.atlas]\ntrunk = "sip:gw1.atlas.example.net"\n'
        '[carriers.borealis]\ntrunk = "edge.borealis.example.com:5070"\n'
        '[customers.acme.trunks.local]\nips = ["127.0.0.1"]\n'
    )
    with TandemServer("sip", table, routing, tmp_path) as server:
        run = run_sipp(sipp, server.port, tmp_path, [("+442079460000", ""), ("+4930123", "")])
    assert (run.successful, run.failed) == (2, 0), run.out
    for response in run.responses:
        decision = route_json(response["number"], table, routing)
        assert contacts_of(response) == expected_contacts(decision)
        assert json.dumps(decision["routes"])  # routed


def test_http_sip_format_answers_reach_the_caller_as_tandem_decides(tmp_path, routing):
    """benchmarks/kamailio/http302.cfg: Kamailio asks ``tandem serve http`` for
    ``format=sip`` over its kept-alive connection and answers with the lines it gets, as
    they are (nothing parsed): each 302's Contacts equal ``tandem route --json``, and each
    refusal has Tandem's code and reason."""
    table, config = routing
    sipp = tools()[1]
    routed = ["+442079460000", "00442071234567", "+441614960000", "+4930123456"]
    refused = [("+881612345678", 403), ("+5511999", 404), ("+33123456789", 503),
               ("not-a-number", 484)]  # fmt: skip
    rows = [(n, "") for n in routed] + [(n, "") for n, _code in refused]
    with TandemServer("http", table, config, tmp_path) as server:
        defines = (f'TANDEM="{server.url}"', f'TANDEMCON="tandem=>{server.url}"')
        cfg = HERE.parents[1] / "benchmarks" / "kamailio" / "http302.cfg"
        with Kamailio(cfg, tmp_path, {}, defines=defines) as k:
            run = run_sipp(sipp, k.port, tmp_path, rows)
    assert (run.successful, run.failed) == (len(rows), 0), run.out
    codes = [302] * len(routed) + [code for _n, code in refused]
    for (number, _h), code, response in zip(rows, codes, run.responses, strict=True):
        decision = route_json(number, table, config)
        assert response["code"] == code, (number, response)
        if code == 302:
            assert contacts_of(response) == expected_contacts(decision), number
        else:
            assert not any(h.startswith("Contact:") for h in response["headers"]), number
            expected = decision.get("error") or decision["reason"]
            assert reason_of(response) == expected.replace('"', '\\"'), number
