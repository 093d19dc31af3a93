"""Routing and tariff plans versioned in the store: import, diff, the version in force,
`tandem plan`, and routing and rating with the plan in force at each instant."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tandem.errors import ConfigError
from tandem.lcr.plans import (
    diff_plans,
    find_plan,
    import_plan,
    routing_config_at,
    table_routing_config,
    tariff_plan_at,
)
from tandem.lcr.table import RoutingTable, compile_table
from tandem.money import UNIT, to_scaled
from tandem.rating.price import Rater, price_call, price_cdrs

MILLI = UNIT // 1000


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


NOV = ts("2026-11-01")
DEC = ts("2026-12-01")
JAN = ts("2027-01-01")

ROUTING_V1 = b"""# first plan
[defaults]
max_routes = 5

[carriers.atlas]
trunk = "sip:gw1.atlas.example.net"

[customers.acme]
strategy = "least-cost"
max_routes = 3
"""

ROUTING_V2 = b"""# second plan: borealis forced first, atlas on a new trunk, 4420 blocked
[defaults]
max_routes = 5

[carriers.atlas]
trunk = "sip:gw2.atlas.example.net"

[carriers.borealis]
trunk = "sip:edge.borealis.example.com"

[customers.acme]
strategy = "least-cost"
max_routes = 2
blocked = ["4470"]

[[customers.acme.forced]]
prefix = "44"
carriers = ["borealis"]
"""

TARIFF_V1 = b"""[customer.acme]
grace = 5
"""

TARIFF_V2 = b"""[customer.acme]
grace = 0

[[customer.acme.tariffs]]
prefix = "44"
rate = "0.05"
"""


def _deck(rows):
    return pd.DataFrame(rows, columns=["prefix", "rate", "connect_fee"])


def _load_decks(store) -> None:
    store.write_deck("atlas", "carrier", _deck([("44", 8 * MILLI, 0)]), currency="USD",
                     effective_from=0)  # fmt: skip
    store.write_deck("borealis", "carrier", _deck([("44", 9 * MILLI, 0)]), currency="USD",
                     effective_from=0)  # fmt: skip
    store.write_deck("acme", "customer", _deck([("44", 20 * MILLI, 0)]), currency="USD",
                     effective_from=0)  # fmt: skip


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# -- storing versions ----------------------------------------------------------------------


def test_import_stores_versions_and_the_one_in_force_at_each_instant(store):
    first = import_plan(store, ROUTING_V1, source_name="routing.toml", effective=NOV, now=NOV)
    assert first.written and first.version.version == 1 and first.previous is None
    assert first.diff.added == ["carriers.atlas", "customers.acme", "defaults"]
    second = import_plan(store, ROUTING_V2, source_name="r2.toml", effective=DEC, now=NOV + 60)
    assert second.version.version == 2 and second.previous.version == 1
    assert second.diff.added == ["carriers.borealis"] and second.diff.unchanged == ["defaults"]
    assert second.diff.changed == ["carriers.atlas", "customers.acme"]
    assert [str(k) for k in second.diff.keys] == [
        'trunk: "sip:gw1.atlas.example.net" -> "sip:gw2.atlas.example.net"',
        'blocked = ["4470"] (added)',
        'forced[0].carriers = ["borealis"] (added)',
        'forced[0].prefix = "44" (added)',
        "max_routes: 3 -> 2",
    ]
    # [v1 from NOV, v2 from DEC): nothing before, v1 up to the instant before DEC, v2 on.
    assert store.plan_in_force("routing", NOV - 1) is None
    assert store.plan_in_force("routing", NOV).version == 1
    assert store.plan_in_force("routing", DEC - 1).version == 1
    assert store.plan_in_force("routing", DEC).version == 2
    assert store.plan_in_force("routing", JAN).version == 2
    assert store.plan_in_force("tariff", DEC) is None
    assert routing_config_at(store, NOV).plan_for("acme").max_routes == 3
    assert routing_config_at(store, DEC).plan_for("acme").max_routes == 2
    assert routing_config_at(store, NOV - 1) is None
    v1, v2 = store.plan_versions("routing")
    assert (v1.effective_from, v1.effective_until) == (NOV, DEC)
    assert (v2.effective_from, v2.effective_until) == (DEC, None)
    assert v1.text == ROUTING_V1.decode() and v2.source_name == "r2.toml"
    assert v1.imported_at == datetime.fromtimestamp(NOV, UTC)
    assert [v.version for v in store.plan_history("routing", since=DEC)] == [2]
    assert [v.version for v in store.plan_history("routing", until=DEC)] == [1]


def test_a_backdated_version_voids_later_ones_and_cuts_the_one_in_force(store):
    import_plan(store, ROUTING_V1, effective=NOV, now=NOV)
    import_plan(store, ROUTING_V2, effective=JAN, now=NOV)
    third = import_plan(store, ROUTING_V1 + b"# again\n", effective=DEC, now=DEC)
    assert third.previous.version == 1  # the version in force at DEC
    v1, v2, v3 = store.plan_versions("routing")
    assert (v1.effective_until, v2.voided, v3.effective_until) == (DEC, True, None)
    assert store.plan_in_force("routing", JAN + 1).version == 3
    assert [v.version for v in store.plan_history("routing")] == [1, 3]


def test_same_sha_as_the_version_in_force_is_skipped(store):
    import_plan(store, ROUTING_V1, effective=NOV, now=NOV)
    again = import_plan(store, ROUTING_V1, effective=DEC, now=DEC)
    assert again.skipped and not again.written and again.diff.empty
    assert len(store.plan_versions()) == 1
    # The same text against another version in force is a new version.
    import_plan(store, ROUTING_V2, effective=DEC, now=DEC)
    back = import_plan(store, ROUTING_V1, effective=JAN, now=JAN)
    assert back.written and back.version.version == 3


def test_effective_defaults_to_the_import_instant(store):
    report = import_plan(store, TARIFF_V1, kind="tariff", now=DEC + 3600)
    assert report.effective_from == DEC + 3600
    assert store.plan_in_force("tariff", DEC + 3599) is None
    assert tariff_plan_at(store, DEC + 3600).get("customer", "acme").grace == 5


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("routing", b"[defaults\nmax_routes = 1\n", "is not valid TOML"),
        ("routing", b"[defaults]\nstrategy = 'cheapest'\n", "strategy"),
        ("routing", b"[nonsense]\n", "unknown top-level table"),
        ("tariff", b"[customer.acme]\ngrace = -1\n", "grace"),
        ("tariff", b"[customer.acme]\n[[customer.acme.tariffs]]\nprefix='44'\nrate=0.1\n",
         "write rates as strings"),
        ("tariff", b"\xff\xfe", "not UTF-8"),
    ],
)  # fmt: skip
def test_an_invalid_plan_is_refused_and_the_store_unchanged(store, kind, text, message):
    import_plan(store, ROUTING_V1, effective=NOV, now=NOV)
    before = store.plan_versions()
    with pytest.raises(ConfigError, match=message):
        import_plan(store, text, kind=kind, effective=DEC, now=DEC)
    assert store.plan_versions() == before


def test_bad_kind_and_missing_file_are_clear_errors(store, tmp_path):
    with pytest.raises(ConfigError, match="'routing' or 'tariff'"):
        import_plan(store, ROUTING_V1, kind="pricing")
    with pytest.raises(ConfigError, match="cannot read routing plan"):
        import_plan(store, tmp_path / "nowhere.toml")
    with pytest.raises(ConfigError, match="no routing plan in force"):
        find_plan(store, "routing", at=NOV)
    with pytest.raises(ConfigError, match="no tariff plan version 3"):
        find_plan(store, "tariff", version=3)


def test_diff_lists_removed_sections_and_keys():
    diff = diff_plans(ROUTING_V2.decode(), ROUTING_V1.decode())
    assert diff.removed == ["carriers.borealis"]
    assert "- carriers.borealis" in diff.lines()
    assert 'blocked (removed, was ["4470"])' in [str(k) for k in diff.keys]
    assert diff.to_dict()["sections"]["removed"] == 1


# -- routing with the plan in force --------------------------------------------------------


def _routes(store, at: int, *extra: str) -> dict:
    res = run("--db", store.url, "route", "+442079460000", "--customer", "acme", "--at",
              str(at), "--json", *extra)  # fmt: skip
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_route_at_uses_the_routing_plan_in_force_then(store, tmp_path):
    _load_decks(store)
    before = _routes(store, NOV)  # no plan stored: plain least cost, trunks = carrier names
    assert [(r["carrier"], r["trunk"]) for r in before["routes"]] == [
        ("atlas", "atlas"),
        ("borealis", "borealis"),
    ]
    import_plan(store, ROUTING_V1, effective=NOV, now=NOV)
    import_plan(store, ROUTING_V2, effective=DEC, now=NOV)
    v1 = _routes(store, DEC - 1)
    assert [(r["carrier"], r["trunk"]) for r in v1["routes"]] == [
        ("atlas", "sip:gw1.atlas.example.net"),
        ("borealis", "borealis"),
    ]
    v2 = _routes(store, DEC)  # borealis forced first, atlas on its new trunk
    assert [(r["carrier"], r["trunk"]) for r in v2["routes"]] == [
        ("borealis", "sip:edge.borealis.example.com"),
        ("atlas", "sip:gw2.atlas.example.net"),
    ]
    # --config still overrides the stored plan.
    override = tmp_path / "v1.toml"
    override.write_bytes(ROUTING_V1)
    assert _routes(store, DEC, "--config", str(override))["routes"] == v1["routes"]


def test_compile_carries_the_routing_plan_and_its_validity(store, tmp_path):
    _load_decks(store)
    import_plan(store, ROUTING_V1, effective=NOV, now=NOV)
    import_plan(store, ROUTING_V2, effective=DEC, now=NOV)
    table = compile_table(store, NOV + 10)
    assert table.routing_plan.version == 1
    assert (table.valid_from, table.valid_until) == (NOV, DEC)
    snap = tmp_path / "routes.tdm"
    res = run("--db", store.url, "compile", "--at", str(DEC + 10), "-o", str(snap))
    assert res.exit_code == 0, res.output
    assert "routing plan version 2" in res.output
    loaded = RoutingTable.load(snap)
    assert loaded.routing_plan == store.plan_in_force("routing", DEC)
    assert table_routing_config(loaded).plan_for("acme").max_routes == 2
    assert loaded.valid_from == DEC
    routes = _routes(store, DEC + 10, "--table", str(snap))["routes"]
    assert [r["carrier"] for r in routes] == ["borealis", "atlas"]
    # Before any plan: no plan in the table, valid until the first one takes effect.
    early = compile_table(store, NOV - 10)
    assert early.routing_plan is None and early.valid_until == NOV
    assert table_routing_config(early).plan_for("acme").max_routes == 5


def test_a_router_without_a_plan_follows_the_plan_of_each_table(store):
    from tandem.lcr.policy import Plan
    from tandem.lcr.router import Router

    _load_decks(store)
    import_plan(store, ROUTING_V1, effective=NOV, now=NOV)
    import_plan(store, ROUTING_V2, effective=DEC, now=NOV)
    router = Router(compile_table(store, DEC - 1))
    assert router.config.plan_for("acme") == table_routing_config(router._state.table).plan_for(
        "acme"
    )

    def order(decision) -> list[tuple[str, str]]:
        return [(r.carrier, r.trunk) for r in decision.routes]

    v1 = order(router.route("+442079460000", customer="acme", at=DEC - 1))
    assert v1 == [("atlas", "sip:gw1.atlas.example.net"), ("borealis", "borealis")]
    router.swap(compile_table(store, DEC))  # the new table brings plan version 2 with it
    v2 = order(router.route("+442079460000", customer="acme", at=DEC))
    assert v2 == [
        ("borealis", "sip:edge.borealis.example.com"),
        ("atlas", "sip:gw2.atlas.example.net"),
    ]
    # A plan given to the router wins over the table's, before and after a swap.
    own = Router(compile_table(store, DEC), plan=Plan())
    assert own.config.plan_for("acme") == Plan()
    assert order(own.route("+442079460000", customer="acme", at=DEC)) == [
        ("atlas", "atlas"),
        ("borealis", "borealis"),
    ]


# -- rating with the plan in force ---------------------------------------------------------


def _cdrs(path, starts: list[int]) -> None:
    pd.DataFrame(
        {
            "start": starts,
            "duration": [4] * len(starts),
            "number": ["442079460000"] * len(starts),
            "customer": ["acme"] * len(starts),
            "carrier": ["atlas"] * len(starts),
        }
    ).to_parquet(path)


def test_a_rerate_across_a_plan_change_prices_each_side_with_its_plan(store, tmp_path):
    """Tariff v1 (5 s grace: a 4 s call is free) until DEC, v2 (0.05/min on 44) from DEC:
    a month's rerate prices the calls before DEC with v1 and those after with v2."""
    _load_decks(store)
    import_plan(store, TARIFF_V1, kind="tariff", effective=NOV, now=NOV)
    import_plan(store, TARIFF_V2, kind="tariff", effective=DEC, now=DEC - 86400)
    starts = [DEC + 60, NOV + 5, DEC - 1, DEC, NOV - 60, JAN]
    src = tmp_path / "cdrs.parquet"
    _cdrs(src, starts)
    out = tmp_path / "rated.parquet"
    res = run("--db", store.url, "rate", str(src), "-o", str(out), "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["rows_in"] == summary["rated"] == len(starts)
    assert summary["tariff_plan"] == {"versions": [1, 2]}
    rated = pq.read_table(out).to_pandas().set_index("start_epoch")
    # A 4 s call on 60/60 increments is billed 60 s: v2 0.05/min; flat deck 0.02/min.
    expected = {
        NOV - 60: Decimal("0.02"),  # before any plan: the deck's flat rate
        NOV + 5: Decimal("0"),  # v1: within grace
        DEC - 1: Decimal("0"),  # v1, the last second
        DEC: Decimal("0.05"),  # v2 from its first second
        DEC + 60: Decimal("0.05"),
        JAN: Decimal("0.05"),
    }
    assert {s: rated.loc[s, "sell_amount"] for s in starts} == expected
    # The batch (file), the library batch and the scalar path agree on every CDR.
    frame = pd.read_parquet(src)
    batch = price_cdrs(frame, store).rated.set_index("start")["sell_amount"].to_dict()
    assert batch == expected
    for start in starts:
        one = price_call("442079460000", start, 4, account="acme", rates=store)
        assert one.amount == expected[start], start
    # --plan still overrides: one file for every CDR.
    plan_file = tmp_path / "v2.toml"
    plan_file.write_bytes(TARIFF_V2)
    res = run("--db", store.url, "rate", str(src), "-o", str(out), "--plan", str(plan_file),
              "--json")  # fmt: skip
    assert json.loads(res.output)["tariff_plan"] == {"file": str(plan_file)}
    every = pq.read_table(out).to_pandas()
    assert set(every["sell_amount"]) == {Decimal("0.05")}


def test_rater_keeps_row_order_and_counts_across_windows(store):
    _load_decks(store)
    import_plan(store, TARIFF_V1, kind="tariff", effective=NOV, now=NOV)
    import_plan(store, TARIFF_V2, kind="tariff", effective=DEC, now=NOV)
    starts = [JAN, NOV + 1, None, DEC, NOV - 1, DEC - 1] * 50
    frame = pd.DataFrame(
        {
            "start": pd.array(starts, dtype="Int64"),
            "duration": [4] * len(starts),
            "number": ["442079460000"] * len(starts),
            "customer": ["acme"] * len(starts),
            "carrier": ["atlas"] * len(starts),
        }
    )
    rater = Rater.from_store(store)
    assert rater.plan_cuts == (NOV, DEC)
    result = price_cdrs(frame, rater)
    assert result.summary.rows_in == len(starts) == result.summary.rated + len(result.unrated)
    assert result.summary.unrated == {"bad_time": 50}
    amounts = result.rated["sell_amount"].map(to_scaled).tolist()
    per_start = {JAN: 50_000, NOV + 1: 0, DEC: 50_000, NOV - 1: 20_000, DEC - 1: 0}
    scale = UNIT // 1_000_000
    assert amounts == [per_start[s] * scale for s in starts if s is not None]


# -- the CLI -------------------------------------------------------------------------------


def test_cli_import_list_show_export_round_trip(store, tmp_path):
    db = store.url
    first = tmp_path / "routing.toml"
    first.write_bytes(ROUTING_V1)
    second = tmp_path / "routing-dec.toml"
    second.write_bytes(ROUTING_V2.replace(b"\n", b"\r\n"))  # kept byte for byte
    res = run("--db", db, "plan", "import", str(first), "--effective", "2026-11-01")
    assert res.exit_code == 0, res.output
    assert "stored as version 1" in res.output and "+ customers.acme" in res.output
    res = run("--db", db, "plan", "import", str(second), "--effective", "2026-12-01", "--json")
    report = json.loads(res.output)
    assert report["version"] == 2 and report["previous_version"] == 1
    assert report["diff"]["sections"]["names"]["added"] == ["carriers.borealis"]
    res = run("--db", db, "plan", "import", str(second), "--effective", "2026-12-02")
    assert "skipped: same SHA-256 as version 2" in res.output
    tariff = tmp_path / "tariffs.toml"
    tariff.write_bytes(TARIFF_V1)
    res = run("--db", db, "plan", "import", str(tariff), "--kind", "tariff", "--json")
    assert json.loads(res.output)["kind"] == "tariff"

    listed = json.loads(run("--db", db, "plan", "list", "--json").output)["plans"]
    windows = [(p["kind"], p["version"], p["effective_from"], p["effective_until"]) for p in listed]
    assert windows == [
        ("routing", 1, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
        ("routing", 2, "2026-12-01T00:00:00Z", None),
        ("tariff", 1, listed[2]["effective_from"], None),
    ]
    assert "routing.toml" in run("--db", db, "plan", "list", "--kind", "routing").output

    shown = run("--db", db, "plan", "show", "--at", "2026-11-15")
    assert shown.exit_code == 0 and shown.stdout == ROUTING_V1.decode()
    summary = run("--db", db, "plan", "show", "--version", "2", "--summary").output
    assert "version 2" in summary and "carriers.borealis" in summary
    as_json = json.loads(run("--db", db, "plan", "show", "--version", "1", "--json").output)
    assert as_json["text"] == ROUTING_V1.decode() and "defaults" in as_json["sections"]

    out = tmp_path / "out" / "exported.toml"
    out.parent.mkdir()
    for args, original in ((["--version", "2"], second), (["--at", "2026-11-30"], first)):
        res = run("--db", db, "plan", "export", *args, "-o", str(out))
        assert res.exit_code == 0, res.output
        assert out.read_bytes() == original.read_bytes()
    assert [p.name for p in out.parent.iterdir()] == ["exported.toml"]  # no temp file left
    res = run("--db", db, "plan", "export", "--kind", "tariff", "--version", "1", "-o", "-")
    assert res.stdout_bytes == TARIFF_V1


def test_cli_refusals_are_one_clear_line(store, tmp_path):
    db = store.url
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"[defaults]\nmax_routes = 'many'\n")
    res = run("--db", db, "plan", "import", str(bad))
    assert res.exit_code == 2 and "tandem: error: routing plan 'bad.toml'" in res.output
    assert "Traceback" not in res.output
    assert json.loads(run("--db", db, "plan", "list", "--json").output) == {"plans": []}
    res = run("--db", db, "plan", "import", str(bad), "--effective", "next tuesday")
    assert res.exit_code == 2 and "--effective" in res.output
    res = run("--db", db, "plan", "show")
    assert res.exit_code == 2 and "no routing plan in force" in res.output
    res = run("--db", db, "plan", "export", "--at", "2026-01-01", "--version", "1", "-o", "x")
    assert res.exit_code == 2 and "not both" in res.output
