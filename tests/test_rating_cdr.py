"""CDR formats from the sample files, the CLI, streaming, reports, and parser fuzzing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rating_helpers import deck_frame, rates_frame

from tandem.cli.main import cli
from tandem.errors import CdrError, TandemError
from tandem.rating.cdr import CdrReader, carrier_from_channel, detect_format
from tandem.rating.price import Rater, price_cdrs
from tandem.rating.report import RatingReport
from tandem.rating.stream import rate_file

DATA = Path(__file__).resolve().parent.parent / "data" / "cdrs"
EFF = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())

SELL = [
    ("1212", "USA New York", "0.0060", 6, 6),
    ("1310", "USA Los Angeles", "0.0060", 6, 6),
    ("4420", "UK London", "0.0120", 60, 60),
    ("447", "UK Mobile", "0.0850", 30, 6),
    ("4915", "Germany Mobile", "0.0900", 60, 1),
    ("336", "France Mobile", "0.0700", 60, 60),
    ("34", "Spain", "0.0150", 60, 60),
    ("91", "India", "0.0250", 1, 1),
    ("2348", "Nigeria Mobile", "0.1500", 60, 60),
    ("63", "Philippines", "0.1100", 60, 60),
]
BUY = {  # carrier -> prefix -> rate, all billed per second
    "atlas": {"1": "0.0030", "44": "0.0070", "447": "0.0500", "34": "0.0090", "4915": "0.0600",
              "2348": "0.1000"},
    "borealis": {"1": "0.0035", "447": "0.0450", "336": "0.0400", "63": "0.0800"},
    "cygnus": {"1": "0.0032", "91": "0.0150", "4915": "0.0550"},
}  # fmt: skip


def write_sell_deck(store, effective_from: int = EFF, factor: int = 1) -> None:
    """The customer deck SELL (every rate times ``factor``) in force from ``effective_from``."""
    store.write_deck(
        "acme-telecom",
        "customer",
        deck_frame(
            [
                dict(
                    prefix=p,
                    destination=d,
                    rate=str(factor * Decimal(r)),
                    initial_increment=i,
                    next_increment=n,
                    effective_from=effective_from,
                )
                for p, d, r, i, n in SELL
            ]
        ),
        currency="USD",
        effective_from=effective_from,
    )


def load_universe(store) -> None:
    write_sell_deck(store)
    for carrier, rates in BUY.items():
        store.write_deck(
            carrier,
            "carrier",
            deck_frame(
                [
                    dict(
                        prefix=p, rate=r, initial_increment=1, next_increment=1, effective_from=EFF
                    )
                    for p, r in rates.items()
                ]
            ),  # fmt: skip
            currency="USD",
            effective_from=EFF,
        )


@pytest.fixture
def loaded(sqlite_store):
    load_universe(sqlite_store)
    return sqlite_store


def test_carrier_from_channel():
    assert carrier_from_channel("PJSIP/twilio-na-us-0000a1b2") == "twilio-na-us"
    assert carrier_from_channel("SIP/borealis-00000012") == "borealis"
    assert carrier_from_channel("IAX2/cygnus-4711") == "cygnus"
    assert carrier_from_channel("Local/123@out-0000002a;1") is None
    assert carrier_from_channel("") is None


def test_detect_formats():
    assert detect_format(DATA / "asterisk-Master.csv") == "asterisk"
    assert detect_format(DATA / "freeswitch-Master.csv") == "freeswitch"
    assert detect_format(DATA / "kamailio-acc_cdrs.csv") == "kamailio"


def test_asterisk_sample(loaded):
    from tandem.rating.cdr import load_account_map

    customers, carriers = load_account_map(DATA / "accounts.toml")
    res = price_cdrs(
        DATA / "asterisk-Master.csv",
        loaded,
        timezone="America/New_York",
        customer_map=customers,
        carrier_map=carriers,
    )
    s = res.summary
    assert s.rows_in == 17 and s.rated == 11
    assert s.unrated == {
        "bad_number": 1,  # "anonymous"
        "bad_time": 1,  # 2026-11-31 does not exist
        "bad_duration": 1,  # empty billsec
        "unknown_customer": 1,  # accountcode ZZZ99
        "no_deck_in_force": 1,  # October, before the decks
        "no_matching_prefix": 1,  # 881 (satellite), not sold
    }
    r = res.rated.set_index("call_id")
    first = r.loc["1793628903.1"]
    # 09:15:03 EST = 14:15:03 UTC; 61 s at 4420 0.012 60/60 = 0.024; atlas 44 0.007/s = 0.0071
    assert first["start"] == int(datetime(2026, 11, 2, 14, 15, 3, tzinfo=UTC).timestamp())
    assert first["carrier"] == "atlas" and first["customer"] == "acme-telecom"
    assert first["sell_amount"] == Decimal("0.024")
    assert first["buy_amount"] == Decimal("0.0071")  # 0.007 * 61 / 60 = 0.0071166..
    assert r.loc["1793631670.5", "carrier"] == "borealis"  # SIP/ channel
    assert r.loc["1793633400.7", "carrier"] == "cygnus"  # IAX2/ channel
    # 447 at 0.085 30/6: 40 s -> 42 s -> 0.0595; atlas 447 0.05/s: 40 s -> 0.0333
    assert r.loc["1793629200.3", "sell_amount"] == Decimal("0.0595")
    assert r.loc["1793629200.3", "buy_amount"] == Decimal("0.0333")
    # unanswered (billsec 0) calls are rated at zero
    assert r.loc["1793635200.9", "sell_amount"] == Decimal("0")
    # the Local/ channel names no carrier: sell side rated, buy side unknown_carrier
    assert r.loc["1793643120.33", "buy_reason"] == "unknown_carrier"


def test_freeswitch_sample(loaded):
    res = price_cdrs(
        DATA / "freeswitch-Master.csv", loaded, timezone="Europe/Paris", carrier="borealis"
    )
    s = res.summary
    assert s.rows_in == 9 and s.rated == 5
    assert s.unrated == {
        "bad_number": 1,
        "bad_duration": 1,
        "unknown_customer": 1,
        "no_matching_prefix": 1,
    }
    r = res.rated
    first = r.iloc[0]
    # 15:15:03 CET = 14:15:03 UTC
    assert first["start"] == int(datetime(2026, 11, 2, 14, 15, 3, tzinfo=UTC).timestamp())
    assert first["sell_amount"] == Decimal("0.024")
    assert pd.isna(first["buy_amount"]) and first["buy_reason"] == "no_matching_prefix"
    fr = r[r["rated_number"] == "33612345678"].iloc[0]  # 0033 -> 33; 125 s at 60/60 -> 180 s
    assert fr["sell_amount"] == Decimal("0.21")
    assert fr["buy_amount"] == Decimal("0.0833")  # borealis 336 per second: 0.04 * 125 / 60


def test_kamailio_sample(loaded):
    res = price_cdrs(DATA / "kamailio-acc_cdrs.csv", loaded)
    s = res.summary
    assert s.rows_in == 8 and s.rated == 6
    assert s.unrated == {"unknown_customer": 1, "no_matching_prefix": 1}
    assert s.buy_unrated == {"unknown_carrier": 1, "no_matching_prefix": 1}
    r = res.rated.set_index("id")
    # 61.250 s rounds up to 62 s: 4420 60/60 -> 120 s = 0.024; atlas 44: 0.007*62/60
    assert r.loc["1", "duration"] == 62
    assert r.loc["1", "sell_amount"] == Decimal("0.024")
    assert r.loc["1", "buy_amount"] == Decimal("0.0072")
    # 300.999 s -> 301 s; 1310 6/6 -> 306 s at 0.006 = 0.0306
    assert r.loc["4", "sell_amount"] == Decimal("0.0306")
    assert r.loc["8", "buy_reason"] == "unknown_carrier"  # carrier zeta has no deck


def test_column_map_and_errors(tmp_path, loaded):
    path = tmp_path / "cdrs.csv"
    path.write_text(
        "when,secs,called,who,via\n2026-11-02T14:00:00Z,60,34911234567,acme-telecom,atlas\n"
    )
    with pytest.raises(CdrError, match="no start column"):
        price_cdrs(path, loaded, format="csv")
    res = price_cdrs(
        path,
        loaded,
        format="csv",
        column_map={"start": "when", "duration": "secs", "number": "called",
                    "customer": "who", "carrier": "via"},
    )  # fmt: skip
    assert list(res.rated["sell_amount"]) == [Decimal("0.015")]
    with pytest.raises(CdrError, match="no such column"):
        price_cdrs(path, loaded, format="csv", column_map={"start": "nope"})
    with pytest.raises(CdrError, match="unknown CDR format"):
        CdrReader(format="xml")
    with pytest.raises(TandemError, match="time zone"):
        CdrReader(timezone="Mars/Olympus")


def test_malformed_csv_rows_are_kept(tmp_path, loaded):
    path = tmp_path / "cdrs.csv"
    path.write_text(
        "start,duration,number,customer,carrier\n"
        "2026-11-02T14:00:00Z,60,34911234567,acme-telecom,atlas\n"
        "broken,row\n"
        "2026-11-02T14:01:00Z,60,34911234567,acme-telecom,atlas\n"
    )
    res = price_cdrs(path, loaded)
    assert res.summary.rows_in == 3 and res.summary.rated == 2
    assert res.summary.unrated == {"bad_record": 1}
    assert list(res.unrated["raw"]) == ["broken,row"]
    assert list(res.unrated["line"]) == [3] and list(res.unrated["record"]) == [2]


def _write_parquet(path, n, start=EFF + 86400):
    import numpy as np

    rng = np.random.default_rng(1)
    numbers = rng.choice(["4420", "447", "1212", "34", "881"], n)
    pq.write_table(
        pa.table(
            {
                "start": np.full(n, start, dtype=np.int64),
                "duration": rng.integers(0, 300, n),
                "number": np.char.add(numbers, rng.integers(10**6, 10**7, n).astype(str)),
                "customer": ["acme-telecom"] * n,
                "carrier": rng.choice(["atlas", "borealis", "cygnus"], n),
            }
        ),
        path,
        row_group_size=1000,
    )


def test_streaming_is_idempotent_and_batches_agree(tmp_path, loaded):
    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 5000)
    rater = Rater.from_store(loaded)
    out = tmp_path / "rated.parquet"
    s1 = rate_file(src, out, rater, reader=CdrReader(batch_size=700))
    first = pq.read_table(out)
    s2 = rate_file(src, out, rater, reader=CdrReader(batch_size=5000))
    second = pq.read_table(out)
    assert s1.as_json() == s2.as_json()
    assert s1.rows_in == 5000 == s1.rated + s1.unrated_count
    assert first.num_rows == second.num_rows == s1.rated
    assert first.column("sell_amount").equals(second.column("sell_amount"))
    unrated = pq.read_table(tmp_path / "rated.unrated.parquet")
    assert unrated.num_rows == s1.unrated_count
    assert set(unrated.column("reason").to_pylist()) == {"no_matching_prefix"}


def test_report_tables(loaded):
    res_priced = Rater.from_store(loaded).price(
        next(CdrReader(carrier_map={"atlas-gw1": "atlas"}, customer_map={"ACME01": "acme-telecom"},
                       timezone="America/New_York").batches(DATA / "asterisk-Master.csv"))
    )  # fmt: skip
    rep = RatingReport()
    rep.add(res_priced)
    t = rep.tables()
    carrier = t["carrier"].set_index("carrier")
    # atlas: 10 attempts (incl. unrated), 7 answered (billsec > 0)
    assert carrier.loc["atlas", "calls"] == 10
    assert carrier.loc["atlas", "answered"] == 7
    assert carrier.loc["atlas", "asr_percent"] == Decimal("70.00")
    assert carrier.loc["borealis", "acd_minutes"] == Decimal("2.20")  # (180+125+91)/3/60
    cust = t["customer"].set_index("customer")
    assert cust.loc["acme-telecom", "sell_total"] == sum(
        (v for v in t["destination"]["sell_total"]), Decimal(0)
    )


def test_report_days_across_batches(loaded):
    # Days are UTC dates of the start; a CDR without a start has the day "", a negative
    # start (unrated: bad time) keeps its date; the same day in two batches is one row.
    day2 = EFF + 86400
    rows = [
        {"start": day2 + 5, "duration": 60, "number": "442071234567"},
        {"start": None, "duration": 60, "number": "442071234567"},
        {"start": -5, "duration": 60, "number": "442071234567"},
        {"start": day2 + 86399, "duration": 0, "number": "442071234567"},
    ]
    rater = Rater.from_store(loaded)
    rep = RatingReport()
    for part in (rows[:2], rows[2:]):
        table = pa.Table.from_pylist(
            [dict(r, customer="acme-telecom", carrier="atlas") for r in part],
            schema=pa.schema([("start", pa.int64()), ("duration", pa.int64()),
                              ("number", pa.string()), ("customer", pa.string()),
                              ("carrier", pa.string())]),
        )  # fmt: skip
        rep.add(rater.price(next(CdrReader().batches(table))))
    day = rep.tables()["day"].set_index("day")
    assert sorted(day.index) == ["", "1969-12-31", "2026-11-02"]
    assert day.loc["2026-11-02", "calls"] == 2 and day.loc["2026-11-02", "answered"] == 1
    assert day.loc["", "calls"] == 1 and day.loc["1969-12-31", "unrated"] == 1


def test_cli_rate_json_and_report(tmp_path, loaded):
    runner = CliRunner()
    out = tmp_path / "rated.parquet"
    args = [
        "--db", str(loaded.url.removeprefix("sqlite:///")), "rate",
        str(DATA / "asterisk-Master.csv"), "-o", str(out), "--unrated",
        str(tmp_path / "u.parquet"), "--report", str(tmp_path / "rep"), "--json",
        "--timezone", "America/New_York", "--map", str(DATA / "accounts.toml"),
    ]  # fmt: skip
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["rows_in"] == 17 and doc["rated"] == 11
    assert doc["rows_in"] == doc["rated"] + sum(doc["unrated"].values())
    assert doc["currency"] == "USD"
    rated = pq.read_table(out).to_pandas()
    assert Decimal(doc["margin"]) == sum(rated["margin"].dropna(), Decimal(0))
    assert Decimal(doc["sell_total"]) == sum(rated["sell_amount"], Decimal(0))
    assert (tmp_path / "rep" / "by_carrier.csv").exists()
    assert pq.read_table(tmp_path / "u.parquet").num_rows == 6
    bad = runner.invoke(cli, ["--db", str(tmp_path / "x.db"), "rate", str(tmp_path / "nope.csv"),
                              "-o", str(out)])  # fmt: skip
    assert bad.exit_code == 2 and "tandem: error:" in bad.output
    bad_tz = runner.invoke(
        cli, ["--db", str(tmp_path / "x.db"), "rate", str(DATA / "kamailio-acc_cdrs.csv"),
              "-o", str(out), "--timezone", "Nowhere/Land"],
    )  # fmt: skip
    assert bad_tz.exit_code == 2 and "time zone" in bad_tz.output


# -- fuzzing: random input gives a result or a CdrError, never another exception -------------


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=400), st.sampled_from(["auto", "csv", "asterisk", "freeswitch",
                                                  "kamailio", "parquet"]))  # fmt: skip
def test_fuzz_every_parser_bytes(tmp_path_factory, blob, fmt):
    path = tmp_path_factory.mktemp("fuzz") / "cdrs.csv"
    path.write_bytes(blob)
    reader = CdrReader(format=fmt, timezone="Europe/London")
    try:
        rows = sum(b.num_rows for b in reader.batches(path))
    except TandemError:
        return
    assert rows >= 0


_field = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(_field, min_size=0, max_size=20), max_size=8),
       st.sampled_from(["asterisk", "freeswitch", "kamailio", "kamailio-acc", "csv"]))  # fmt: skip
def test_fuzz_every_parser_text(tmp_path_factory, rows, fmt):
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    if fmt in ("kamailio", "csv"):
        w.writerow(["start_time", "end_time", "duration", "dst_user", "src_account", "dst_gw"])
    if fmt == "kamailio-acc":
        w.writerow(["method", "callid", "sip_code", "time", "dst_user", "src_account"])
        fmt = "kamailio"
    w.writerows(rows)
    path = tmp_path_factory.mktemp("fuzz") / "cdrs.csv"
    path.write_text(buf.getvalue())
    rater = Rater.from_rates(rates_frame([]))
    try:
        priced = [rater.price(b) for b in CdrReader(format=fmt).batches(path)]
    except TandemError:
        return
    if fmt in ("asterisk", "freeswitch"):  # nothing lost: one canonical row per record
        assert sum(p.num_rows for p in priced) == len([r for r in rows if r])
    for p in priced:  # without decks nothing can be rated; every row has a reason
        assert p.column("sell_reason").null_count == 0


def test_rerating_an_output_replaces_its_prices(tmp_path, loaded):
    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 300)
    rater = Rater.from_store(loaded)
    rate_file(src, tmp_path / "once.parquet", rater)
    again = rate_file(tmp_path / "once.parquet", tmp_path / "twice.parquet", rater)
    once, twice = (
        pq.read_table(tmp_path / "once.parquet"),
        pq.read_table(tmp_path / "twice.parquet"),
    )
    assert again.rated == once.num_rows == twice.num_rows
    assert twice.column_names.count("sell_amount") == 1
    assert once.column("sell_amount").equals(twice.column("sell_amount"))


def test_cli_plan_grace_defaults_and_column_map(tmp_path, loaded):
    cdrs = tmp_path / "plain.csv"
    cdrs.write_text(
        "when,secs,called\n"
        "2026-11-07T12:00:00Z,90,447700900123\n"  # Saturday: weekend tariff
        "2026-11-02T12:00:00Z,90,447700900123\n"  # Monday: tiered 447 tariff
        "2026-11-02T12:00:00Z,4,447700900123\n"  # within the plan's grace
    )
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[customer."acme-telecom"]\n'
        "grace = 5\n"
        '[customer."acme-telecom".periods]\n'
        'weekend = { days = ["sat", "sun"] }\n'
        '[[customer."acme-telecom".tariffs]]\n'
        'prefix = "447"\n'
        'intervals = [{ start = 0, rate = "0.10", increment = 60 },'
        ' { start = 60, rate = "0.05", increment = 1 }]\n'
        '[[customer."acme-telecom".tariffs]]\n'
        'prefix = ""\nperiod = "weekend"\nrate = "0.004"\n'
    )
    out = tmp_path / "rated.parquet"
    args = [
        "--db", str(loaded.url.removeprefix("sqlite:///")), "rate", str(cdrs), "-o", str(out),
        "--json", "--plan", str(plan), "--customer", "acme-telecom", "--carrier", "atlas",
        "--map-column", "start=when", "--map-column", "duration=secs",
        "--map-column", "number=called", "--grace", "1",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rated = pq.read_table(out).to_pandas()
    # weekend: 447's deck increments 30/6 -> 90 s at 0.004 = 0.006; Monday: 0.10 + 30 s at
    # 0.05/min = 0.125; 4 s is within the plan's grace (5 s): free.
    assert list(rated["sell_amount"]) == [Decimal("0.006"), Decimal("0.125"), Decimal("0")]
    # the carrier has no plan: the --grace 1 default applies, 4 s at 0.05/s is charged
    assert list(rated["buy_amount"]) == [Decimal("0.075"), Decimal("0.075"), Decimal("0.0033")]
    bad = CliRunner().invoke(cli, args[:-2] + ["--map-column", "nonsense"])
    assert bad.exit_code == 2 and "FIELD=COLUMN" in bad.output


def test_kamailio_acc_transactions_are_paired(loaded):
    assert detect_format(DATA / "kamailio-acc.csv") == "kamailio"
    res = price_cdrs(DATA / "kamailio-acc.csv", loaded)
    s = res.summary
    # 5 calls: answered+BYE, busy, answered+BYE, answered without BYE, BYE without INVITE
    assert s.rows_in == 5 and s.rated == 3
    assert s.unrated == {"bad_duration": 1, "bad_time": 1}
    r = res.rated.set_index("call_id")
    first = r.loc["4f3a9b1c@10.0.0.5"]
    assert first["duration"] == 62  # 61.25 s rounds up
    assert first["start"] == int(datetime(2026, 11, 2, 14, 15, 3, tzinfo=UTC).timestamp())
    assert first["sell_amount"] == Decimal("0.024")
    assert r.loc["5e6f7a8b@10.0.0.5", "duration"] == 0  # 486 Busy: an unanswered attempt
    assert r.loc["6a7b8c9d@10.0.0.5", "duration"] == 301


def test_cli_rates_ported_numbers_on_their_routing_number(tmp_path, loaded):
    """--local-ports-csv / --local-ports: a ported number is priced on its routing number."""
    cdrs = tmp_path / "cdrs.csv"
    cdrs.write_text(
        "start,duration,number,customer,carrier\n"
        "2026-11-02T10:00:00Z,60,+12125550100,acme-telecom,borealis\n"
        "2026-11-02T10:05:00Z,60,+12125550199,acme-telecom,borealis\n"
    )
    ports = tmp_path / "ports.csv"
    ports.write_text("number_prefix,routing_number,sip_uri\n+12125550100,+447700900100,\n")
    db = str(loaded.url.removeprefix("sqlite:///"))

    def rate(*extra):
        out = tmp_path / f"rated{len(extra)}.parquet"
        args = ["--db", db, "rate", str(cdrs), "--format", "csv", "-o", str(out), "--json"]
        result = CliRunner().invoke(cli, [*args, *extra])
        assert result.exit_code == 0, result.output
        return pq.read_table(out).to_pandas().set_index("number")

    plain = rate()
    assert plain.loc["+12125550100", "buy_prefix"] == "1"
    assert plain.loc["+12125550100", "buy_amount"] == Decimal("0.0035")
    ported = rate("--local-ports-csv", str(ports))
    # borealis bills UK mobile (447) at 0.0450/min per second; sell 447 is 0.0850, 30/6
    assert ported.loc["+12125550100", "rated_number"] == "447700900100"
    assert ported.loc["+12125550100", "buy_prefix"] == "447"
    assert ported.loc["+12125550100", "buy_amount"] == Decimal("0.045")
    assert ported.loc["+12125550100", "sell_amount"] == Decimal("0.085")
    assert ported.loc["+12125550199", "buy_amount"] == Decimal("0.0035")  # not ported

    imported = CliRunner().invoke(cli, ["--db", db, "enum", "import", str(ports)])
    assert imported.exit_code == 0, imported.output
    from_store = rate("--local-ports")
    assert from_store.loc["+12125550100", "buy_prefix"] == "447"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["acme", " acme ", "atlas", "", None, "zeta", "beta"]), max_size=30),
    st.sampled_from([None, "acme", "omega"]),
    st.sampled_from([None, {"atlas": "beta"}, {"acme": "zeta"}]),
    st.booleans(),
)
def test_account_names_read_from_a_dictionary_column(names, default, mapping, encoded):
    # Trimmed, an empty name taken as the default, then mapped; a dictionary column whose
    # names all stay as they are, in order, keeps its codes (no per-CDR work).
    from tandem.rating.cdr import _account_column

    arr = pa.array(names, pa.string())
    col = arr.dictionary_encode() if encoded else arr
    got = _account_column(col, len(names), default, mapping)
    assert pa.types.is_dictionary(got.type)
    want = []
    for v in names:
        name = (v or "").strip() or default or ""
        want.append((mapping or {}).get(name, name) if name else None)
    assert got.to_pylist() == want
    assert got.dictionary.to_pylist() == sorted(set(got.dictionary.to_pylist()))
