"""``tandem enum lookup`` and ``tandem enum import``."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tandem.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_lookup_text(nsd_server):
    r = run("enum", "lookup", "+44 20 7123 4567", "--server", str(nsd_server))
    assert r.exit_code == 0, r.output
    assert "on-net" in r.output
    assert "chosen" in r.output and "not-considered" in r.output
    assert "sip:2071234567@uk.example.net" in r.output
    assert "cache           miss" in r.output
    assert " ms" in r.output


def test_lookup_json_suffixes_and_budget(nsd_server):
    r = run(
        "enum",
        "lookup",
        "12025550199",
        "--server",
        str(nsd_server),
        "--suffix",
        "e164.arpa",
        "--suffix",
        "e164.example.net",
        "--budget-ms",
        "500",
        "--json",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["kind"] == "ported" and doc["routing_number"] == "12025550000"
    assert doc["domain"] == "9.9.1.0.5.5.5.2.0.2.1.e164.example.net."
    assert doc["naptr"][0]["status"] == "chosen"
    assert doc["cache"] == "miss" and doc["elapsed_ms"] >= 0


def test_lookup_failure_is_a_result(responder):
    responder.mode = "servfail"
    r = run("enum", "lookup", "+4420", "--server", str(responder.server), "--json")
    assert r.exit_code == 0
    doc = json.loads(r.output)
    assert doc["kind"] == "servfail" and doc["failed"] is True and doc["route_number"] == "4420"


def test_lookup_bad_input_exit_2():
    r = CliRunner().invoke(cli, ["enum", "lookup", "not-a-number"])
    assert r.exit_code == 2 and "tandem: error:" in r.output and "E.164" in r.output
    r = CliRunner().invoke(cli, ["enum", "lookup", "+4420", "--server", "ns.example:53"])
    assert r.exit_code == 2 and "IP address" in r.output
    r = CliRunner().invoke(cli, ["enum", "lookup", "+4420", "--budget-ms", "0"])
    assert r.exit_code == 2


def test_import_then_lookup_local(tmp_path, responder):
    db = str(tmp_path / "t.db")
    csv = tmp_path / "np.csv"
    csv.write_text("number_prefix,routing_number\n4420,44990\n")
    r = run("--db", db, "enum", "import", str(csv), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {
        "source": "np.csv",
        "imported": 1,
        "deactivated": 0,
        "active": 1,
        "replace": False,
    }
    responder.mode = "blackhole"
    r = run(
        "--db", db, "enum", "lookup", "+442071234567", "--local", "--server",
        str(responder.server), "--json",
    )  # fmt: skip
    doc = json.loads(r.output)
    assert doc["kind"] == "ported" and doc["source"] == "local" and responder.queries == 0
    r = run("--db", db, "enum", "import", str(csv), "--replace")
    assert r.exit_code == 0 and "deactivated 1 earlier, 1 active" in r.output


def test_lookup_local_csv(tmp_path, nsd_server):
    csv = tmp_path / "np.csv"
    csv.write_text("number_prefix,sip_uri\n1202555,sip:on-net@core.example.net\n")
    r = run("enum", "lookup", "+12025550100", "--local-csv", str(csv), "--json")
    assert json.loads(r.output)["sip_uri"] == "sip:on-net@core.example.net"


def test_import_bad_file_exit_2_and_nothing_stored(tmp_path):
    db = str(tmp_path / "t.db")
    csv = tmp_path / "bad.csv"
    csv.write_text("number_prefix,routing_number\n4420,44990\nabc,1\n44,\n")
    r = CliRunner().invoke(cli, ["--db", db, "enum", "import", str(csv)])
    assert r.exit_code == 2
    assert "line 3" in r.output and "line 4" in r.output and "nothing imported" in r.output
    from tandem.enum.local import LocalPortTable
    from tandem.store import Store

    with Store(db) as s:
        assert len(LocalPortTable.from_store(s)) == 0
