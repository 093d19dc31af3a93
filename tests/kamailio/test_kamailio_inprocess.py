"""Kamailio + Tandem in-process (examples/kamailio/kamailio.cfg, app_python3 KEMI), end to
end: a real Kamailio on a loopback port, SIPp sending INVITEs."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tests.kamailio.conftest import SWAPPED_RATES, save_table
from tests.kamailio.harness import EXAMPLES, Kamailio, run_sipp

pytestmark = pytest.mark.timeout(60)

CONFIG = EXAMPLES / "kamailio.cfg"


def route_json(number: str, table: Path, config: Path, **who: str) -> dict:
    """``tandem route NUMBER --json`` now, for the same table and config."""
    args = ["route", number, "--table", str(table), "--config", str(config), "--json"]
    if "customer" in who:
        args += ["--customer", who["customer"]]
    else:
        args += ["--source-ip", who.get("source_ip", "127.0.0.1")]
    res = CliRunner().invoke(cli, args)
    if res.exit_code != 0:
        return {"error": res.output.strip().removeprefix("tandem: error: ")}
    return json.loads(res.output.splitlines()[-1])


def expected_contacts(decision: dict) -> list[tuple[str, str, str]]:
    """``(uri, carrier, rate)`` per route of a ``route --json`` decision, in order: the
    number (routing number or normalised digits) at the host of the carrier's trunk."""
    digits = decision.get("routing_number") or decision["normalized"]
    out = []
    for r in decision["routes"]:
        trunk = r["trunk"]
        host = trunk[4:] if trunk.startswith("sip:") else trunk
        host = host.split(";")[0]  # the trunk's URI parameters are not the Contact's
        out.append((f"sip:{digits}@{host}", r["carrier"], r["rate"]))
    return out


CONTACT = re.compile(
    r"^Contact: <([^>]+)>;q=([0-9.]+);carrier=([^;]+);rate=([^;]+);decision=(\S+)$"
)


def contacts_of(response: dict) -> list[tuple[str, str, str]]:
    """``(uri, carrier, rate)`` per Contact of a 302, checking the q-values fall."""
    found = [CONTACT.match(h) for h in response["headers"] if h.startswith("Contact:")]
    assert all(found), response["headers"]
    qs = [float(m.group(2)) for m in found if m]
    assert qs == sorted(qs, reverse=True) and len(set(qs)) == len(qs) and qs[0] == 1.0
    assert len({m.group(5) for m in found if m}) == 1  # one decision id
    return [(m.group(1), m.group(3), m.group(4)) for m in found if m]


def reason_of(response: dict) -> str:
    line = next(h for h in response["headers"] if h.startswith("Reason:"))
    m = re.match(r'^Reason: SIP ;cause=(\d+) ;text="(.*)"$', line)
    assert m and int(m.group(1)) == response["code"], line
    return m.group(2)


@pytest.fixture
def kamailio(tmp_path, routing):
    table, config = routing
    env = {"TANDEM_TABLE": str(table), "TANDEM_CONFIG": str(config),
           "TANDEM_RELOAD_INTERVAL": "0.2"}  # fmt: skip
    with Kamailio(CONFIG, tmp_path, env) as k:
        yield k
    assert "Traceback" not in k.text(), k.text()[-3000:]


def test_contacts_of_each_302_equal_tandem_route_json(kamailio, tmp_path, routing):
    table, config = routing
    rows = [
        ("+442079460000", ""),  # acme by its source IP: borealis, cygnus, atlas
        ("00442071234567", ""),  # international access code
        ("+441614960000", ""),  # only atlas covers 44 outside 4420
        ("+4930123456", ""),  # borealis, atlas
        ("+4930123456", "X-Tandem-Customer: beta"),  # beta by the header: margin drops atlas
        ("442079460000", "X-Tandem-Customer: beta"),
    ]
    run = run_sipp(kamailio.sipp, kamailio.port, tmp_path, rows)
    assert (run.successful, run.failed) == (len(rows), 0), run.out
    assert len(run.responses) == len(rows)
    for (number, header), response in zip(rows, run.responses, strict=True):
        who = {"customer": header.split(": ")[1]} if header else {"source_ip": "127.0.0.1"}
        decision = route_json(number, table, config, **who)
        assert response["code"] == 302, (number, response)
        assert contacts_of(response) == expected_contacts(decision), number
        assert decision["routes"], number


def test_refused_calls_get_the_code_and_the_reason(kamailio, tmp_path, routing):
    table, config = routing
    rows = [
        ("+881612345678", "", 403),  # blocked prefix (plan)
        ("+5511999", "", 404),  # no prefix at all
        ("+33123456789", "", 503),  # cygnus dropped: buy rate above the sell rate
        ("+442079460000", "X-Tandem-Customer: nobody", 403),  # unknown customer
        ("not-a-number", "", 484),  # not E.164: Address Incomplete
        ("+331234", "X-Tandem-Customer: beta", 404),  # beta has no sell rate for 33
    ]
    run = run_sipp(kamailio.sipp, kamailio.port, tmp_path, [(n, h) for n, h, _ in rows])
    assert (run.successful, run.failed) == (len(rows), 0), run.out
    for (number, header, code), response in zip(rows, run.responses, strict=True):
        assert response["code"] == code, (number, response)
        assert not any(h.startswith("Contact: <sip:") for h in response["headers"])
        who = {"customer": header.split(": ")[1]} if header else {"source_ip": "127.0.0.1"}
        decision = route_json(number, table, config, **who)
        expected = decision.get("error") or decision["reason"]
        assert reason_of(response) == expected.replace('"', '\\"'), number


def test_options_answered_and_other_requests_refused(kamailio):
    from tests.kamailio.harness import options

    assert options(kamailio.port) == "SIP/2.0 200 OK"


def test_snapshot_swap_mid_run_loses_no_call(kamailio, tmp_path, routing):
    """SIPp sends 600 INVITEs at 150/s; 1.5 s in, the snapshot file is replaced (atomic
    rename): every call is answered, each 302 is the old table's or the new one's, the
    old table's answers all come before the new one's, the last ones are the new one's."""
    table, config = routing
    number = "+442079460000"
    old = expected_contacts(route_json(number, table, config))
    staged = save_table(tmp_path / "next.tdm", SWAPPED_RATES)
    new = expected_contacts(route_json(number, staged, config))
    assert old != new

    def swap() -> None:
        time.sleep(1.5)
        staged.replace(table)  # what tandem compile -o does: a new file renamed in place

    swapper = threading.Thread(target=swap)
    swapper.start()
    run = run_sipp(kamailio.sipp, kamailio.port, tmp_path, [(number, "")], calls=600, rate=150)
    swapper.join()
    assert (run.successful, run.failed) == (600, 0), run.out
    seen = [contacts_of(r) for r in run.responses]
    assert len(seen) == 600
    assert all(s in (old, new) for s in seen)
    first_new = seen.index(new)
    assert all(s == new for s in seen[first_new:])  # never back to the old table
    assert 0 < first_new < 600 - 50
    assert "tandem: table reloaded" in kamailio.text()


def test_a_corrupt_snapshot_is_refused_and_the_table_kept(kamailio, tmp_path, routing):
    table, config = routing
    number = "+442079460000"
    before = expected_contacts(route_json(number, table, config))
    broken = tmp_path / "broken.tdm"
    broken.write_bytes(table.read_bytes()[:200])
    broken.replace(table)
    time.sleep(0.3)
    run = run_sipp(kamailio.sipp, kamailio.port, tmp_path, [(number, "")] * 3)
    assert (run.successful, run.failed) == (3, 0), run.out
    assert all(contacts_of(r) == before for r in run.responses)
    assert "tandem: table reload failed" in kamailio.text()


def test_a_missing_table_stops_kamailio_with_one_clear_line(tmp_path):
    k = Kamailio(CONFIG, tmp_path, {"TANDEM_TABLE": str(tmp_path / "nowhere.tdm")})
    with pytest.raises(AssertionError, match="kamailio exited at start"):
        k.start(timeout=20)
    text = k.text()
    assert "tandem: cannot start: cannot open routing table" in text, text[-2000:]
    assert "Traceback" not in text
