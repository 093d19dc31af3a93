"""`tandem demo`: the README's first command, end to end on the bundled data."""

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
    assert "17 CDRs: 11 rated, 6 unrated" in result.output
    assert (out / "rated.parquet").is_file()
    assert (out / "report").is_dir()

    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert again.output.count("already imported") == 4
    assert len(Store(db).decks()) == 4


def test_demo_missing_manifest_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "x.db"), "demo", "--manifest", str(tmp_path / "nope.toml")]
    )
    assert result.exit_code == 2
    assert "demo manifest" in result.output and "not found" in result.output
