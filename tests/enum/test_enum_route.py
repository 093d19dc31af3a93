"""`tandem route` with number lookups: local table, real NSD, and a black-holed server."""

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tandem.store import Store

AT = "2026-06-01T12:00:00Z"


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "route.db"
    store = Store(path)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # "ported" only reaches the ported-to network; "anywhere" sells all of +1 and +44.
    decks = [
        ("ported", "carrier", ["12025559"], [2_000_000]),
        ("anywhere", "carrier", ["1", "44"], [9_000_000, 9_000_000]),
        ("cust", "customer", ["1", "44"], [50_000_000, 50_000_000]),
    ]
    for account, kind, prefixes, rates in decks:
        frame = pd.DataFrame({"prefix": prefixes, "rate": rates})
        store.write_deck(account, kind, frame, currency="USD", effective_from=start)
    store.close()
    return path


def route(db, *args):
    result = CliRunner().invoke(
        cli, ["--db", str(db), "route", *args, "--customer", "cust", "--at", AT, "--json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_ported_number_is_routed_on_its_routing_number(db, nsd_server):
    out = route(db, "+12025550100", "--enum-server", str(nsd_server))
    assert out["normalized"] == "12025550100"
    assert out["routing_number"] == "12025559999"
    assert [r["carrier"] for r in out["routes"]] == ["ported", "anywhere"]
    assert out["routes"][0]["prefix"] == "12025559"


def test_on_net_number_gets_a_zero_cost_route_first(db, nsd_server):
    out = route(db, "+442071234567", "--enum-server", str(nsd_server))
    first = out["routes"][0]
    assert first["carrier"] == "on-net"
    assert first["trunk"] == "sip:2071234567@uk.example.net"
    assert first["rate"] == "0"
    assert [r["carrier"] for r in out["routes"][1:]] == ["anywhere"]


def test_black_holed_server_falls_back_to_the_dialed_number(db, responder):
    responder.mode = "blackhole"
    out = route(db, "+12025550100", "--enum-server", str(responder.server),
                "--enum-budget-ms", "20")  # fmt: skip
    assert "routing_number" not in out
    assert [r["carrier"] for r in out["routes"]] == ["anywhere"]
    assert any("timeout" in note for note in out["notes"]), out


def test_local_table_answers_before_dns(db, tmp_path, responder):
    responder.mode = "blackhole"
    ports = tmp_path / "ports.csv"
    ports.write_text("number_prefix,routing_number,sip_uri\n+1202555,+12025559000,\n")
    out = route(db, "+12025550100", "--local-ports-csv", str(ports),
                "--enum-server", str(responder.server))  # fmt: skip
    assert out["routing_number"] == "12025559000"
    assert out["routes"][0]["carrier"] == "ported"


def test_local_table_from_the_store(db, tmp_path):
    ports = tmp_path / "ports.csv"
    ports.write_text("number_prefix,routing_number,sip_uri\n+12025550100,+12025559001,\n")
    imported = CliRunner().invoke(cli, ["--db", str(db), "enum", "import", str(ports)])
    assert imported.exit_code == 0, imported.output
    out = route(db, "+12025550100", "--local-ports")
    assert out["routing_number"] == "12025559001"
