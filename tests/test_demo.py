"""`tandem demo`: the README's first command, end to end on the bundled data."""

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tandem.store import Store


def test_demo_imports_routes_and_rates(tmp_path):
    db = tmp_path / "demo.db"
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["--db", str(db), "demo", "--at", "2026-11-23T12:00:00Z", "--out", str(out)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    store = Store(db)
    assert {(d.account, d.kind) for d in store.decks()} == {
        ("atlas", "carrier"),
        ("borealis", "carrier"),
        ("cygnus", "carrier"),
        ("acme-telecom", "customer"),
    }
    # margin protection drops cygnus on Nigeria mobile; 882 is blocked by the plan
    assert "dropped cygnus: buy rate 0.1254 above sell rate 0.121" in result.output
    assert "BLOCKED: destination prefix 882" in result.output
    # each deck's import report, one decision per sample number, the rating summary
    assert result.output.count("stored as version 1") == 5  # four decks and the plan
    # the routing plan is stored as a version and is what step 2 routed with
    (plan,) = store.plan_versions("routing")
    assert plan.source_name == "routing.toml" and plan.effective_from == 1793491200
    assert "routing plan routing.toml" in result.output and "+ customers.acme-telecom" in (
        result.output
    )
    assert "SHORT NOTICE: 91 0.015 -> 0.0165" in result.output
    assert result.output.count("customer acme-telecom   at 2026-11-23T12:00:00Z") == 6
    assert "1  borealis  sip:edge.borealis.example.com  44      0.0053" in result.output
    assert "17 CDRs: 11 rated, 6 unrated" in result.output
    assert "sell 0.5269 USD, buy 0.4655, margin 0.0598" in result.output
    assert pq.read_metadata(out / "rated.parquet").num_rows == 11
    assert pq.read_metadata(out / "rated.unrated.parquet").num_rows == 6
    assert (out / "report" / "by_carrier.csv").is_file()

    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert again.output.count("already imported") == 4
    assert len(Store(db).decks()) == 4
    assert "skipped: same SHA-256 as version 1" in again.output
    assert len(Store(db).plan_versions("routing")) == 1


def test_demo_missing_manifest_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "x.db"), "demo", "--manifest", str(tmp_path / "nope.toml")]
    )
    assert result.exit_code == 2
    assert "demo manifest" in result.output and "not found" in result.output


def test_demo_refused_deck_reports_rows_and_stores_nothing(tmp_path):
    (tmp_path / "bad.csv").write_text("Code,Destination,Rate\n44,UK,0.01\n33,France,abc\n")
    (tmp_path / "demo.toml").write_text('[[decks]]\nfile = "bad.csv"\ncarrier = "bad"\n')
    db = tmp_path / "x.db"
    result = CliRunner().invoke(
        cli, ["demo", "--manifest", str(tmp_path / "demo.toml"), "--db", str(db), "-q"]
    )
    assert result.exit_code == 1, result.output
    assert "REJECTED line 3" in result.output and "tandem: refused" in result.output
    assert Store(db).decks() == []


@pytest.mark.parametrize(
    ("deck", "message"),
    [
        ('carrier = "atlas"', "[[decks]] needs 'file'"),
        ('file = "atlas.csv"', "[[decks]] needs 'carrier' or 'customer'"),
        ('file = "nope.csv"\ncarrier = "atlas"', "deck file"),
    ],
)
def test_demo_manifest_with_a_bad_deck_entry_is_a_clear_error(tmp_path, deck, message):
    (tmp_path / "atlas.csv").write_text("Code,Destination,Rate\n44,UK,0.01\n")
    (tmp_path / "demo.toml").write_text(f"[[decks]]\n{deck}\n")
    result = CliRunner().invoke(
        cli, ["demo", "--manifest", str(tmp_path / "demo.toml"), "--db", str(tmp_path / "x.db")]
    )
    assert result.exit_code == 2, result.output
    assert f"tandem: error: demo manifest: {message}" in result.output
