"""One grammar for instants: one table of accepted and refused forms, run against
:func:`tandem.parse_instant` and against every command option that takes an instant."""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem import InstantError, TandemError, format_instant, parse_instant
from tandem.cli.main import cli
from tandem.cli.options import INSTANT
from tandem.instant import OPEN_END
from tandem.money import UNIT
from tandem.store import Store

FIRST = -62_135_596_800  # 0001-01-01T00:00:00Z
LAST = 253_402_300_799  # 9999-12-31T23:59:59Z
NOV28 = 1_795_824_000  # 2026-11-28T00:00:00Z
NOV28_0930 = NOV28 + 9 * 3600 + 30 * 60

#: Text every instant option and ``at=`` accepts, and the UTC epoch seconds it means.
ACCEPTED = [
    ("2026-11-28", NOV28),  # a date alone: midnight UTC
    ("2028-02-29", 1_835_395_200),
    ("2026-11-28T00:00:00Z", NOV28),
    ("2026-11-28T09:30:00Z", NOV28_0930),
    ("2026-11-28T09:30Z", NOV28_0930),
    ("2026-11-28t09:30:00z", NOV28_0930),
    ("2026-11-28 09:30:00Z", NOV28_0930),
    ("2026-11-28T10:30:00+01:00", NOV28_0930),
    ("2026-11-28T10:30:00+0100", NOV28_0930),
    ("2026-11-28T10:30:00+01", NOV28_0930),
    ("2026-11-28T04:00:00-05:30", NOV28_0930),
    ("2026-11-28T09:30:00.999Z", NOV28_0930),  # instants are whole seconds
    ("1795824000", NOV28),  # epoch seconds
    ("0", 0),
    ("  2026-11-28  ", NOV28),
    ("1969-12-31T23:59:59Z", -1),
    ("0001-01-01T00:00:00Z", FIRST),
    ("9999-12-31T23:59:59Z", LAST),
]

#: Text every instant option and ``at=`` refuses, and the reason the message gives.
REFUSED = [
    ("2026-11-28T09:30:00", "no time zone"),
    ("2026-11-28T09:30", "no time zone"),
    ("2026-11-28 09:30", "no time zone"),
    ("2026-11-28T09:30:00 Z", "unreadable"),
    ("2026-11-28Z", "unreadable"),
    ("20261128T093000Z", "unreadable"),
    ("28/11/2026", "unreadable"),
    ("Nov 28, 2026", "unreadable"),
    ("yesterday", "unreadable"),
    ("now", "unreadable"),
    ("", "empty"),
    ("   ", "empty"),
    ("-1", "unreadable"),
    ("+1795824000", "unreadable"),
    ("1795824000.5", "unreadable"),
    ("\uff11\uff17\uff19\uff15", "unreadable"),  # full-width digits
    ("2026-02-30", "no such date"),
    ("2026-13-01", "no such date"),
    ("0000-12-31", "no such date"),
    ("2026-11-28T24:00:00Z", "no such date or time"),
    ("2026-11-28T09:60Z", "no such date or time"),
    ("2026-11-28T23:59:60Z", "no such date or time"),  # no leap seconds in epoch time
    ("2026-11-28T09:30:00+24:00", "no such UTC offset"),
    ("2026-11-28T09:30:00+01:60", "no such UTC offset"),
    ("10000-01-01", "unreadable"),
    ("0001-01-01T00:00:00+00:01", "out of range"),
    ("253402300800", "out of range"),
    ("99999999999999999999", "out of range"),
]

ACCEPTED_IDS = [repr(text) for text, _ in ACCEPTED]
REFUSED_IDS = [repr(text) for text, _ in REFUSED]


def message(text: str) -> str:
    """The one message a refused instant gets."""
    with pytest.raises(InstantError) as refused:
        parse_instant(text)
    return str(refused.value)


# -- the library -------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), ACCEPTED, ids=ACCEPTED_IDS)
def test_library_accepts(text, expected):
    assert parse_instant(text) == expected
    assert parse_instant(format_instant(expected)) == expected


@pytest.mark.parametrize(("text", "reason"), REFUSED, ids=REFUSED_IDS)
def test_library_refuses_with_one_message(text, reason):
    with pytest.raises(InstantError) as refused:
        parse_instant(text)
    assert str(refused.value).startswith(f"{text!r} is not an instant ({reason}")
    assert str(refused.value).endswith(
        "give an ISO 8601 date (2026-11-28, midnight UTC), a date-time with a zone "
        "(2026-11-28T09:30:00Z, 2026-11-28T10:30:00+01:00) or epoch seconds (1795824000)"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (NOV28, NOV28),
        (np.int64(NOV28), NOV28),
        (-1, -1),
        (datetime(2026, 11, 28, 9, 30, tzinfo=UTC), NOV28_0930),
        (datetime(2026, 11, 28, 10, 30, 0, 999_999, tzinfo=timezone(timedelta(hours=1))),
         NOV28_0930),
        (datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC), -1),  # floored
        (pd.Timestamp("2026-11-28T09:30:00Z"), NOV28_0930),
        (date(2026, 11, 28), NOV28),
    ],
    ids=repr,
)  # fmt: skip
def test_library_accepts_objects(value, expected):
    assert parse_instant(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "a bool"),
        (False, "a bool"),
        (1795824000.0, "a float"),
        (float("nan"), "a float"),
        (None, "nothing given"),
        (Decimal("1795824000"), "a Decimal"),
        (b"2026-11-28", "a bytes"),
        (datetime(2026, 11, 28, 9, 30), "no time zone"),
        (pd.Timestamp("2026-11-28T09:30:00"), "no time zone"),
        (pd.NaT, "not a time"),
        (np.datetime64("2026-11-28"), "a datetime64"),
        (LAST + 1, "out of range"),
        (FIRST - 1, "out of range"),
        (OPEN_END, "out of range"),
    ],
    ids=repr,
)
def test_library_refuses_objects(value, reason):
    with pytest.raises(InstantError, match=f"is not an instant \\({reason}"):
        parse_instant(value)


def test_instant_error_is_a_tandem_error_and_a_value_error():
    assert issubclass(InstantError, TandemError) and issubclass(InstantError, ValueError)


def test_a_date_alone_is_midnight_in_the_given_zone():
    assert parse_instant("2026-11-28", tz="Europe/Paris") == NOV28 - 3600
    summer = datetime(2026, 6, 30, 23, tzinfo=UTC)  # midnight in London is 23:00 UTC in July
    assert parse_instant("2026-07-01", tz="Europe/London") == calendar.timegm(summer.timetuple())
    assert parse_instant(date(2026, 11, 28), tz="America/New_York") == NOV28 + 5 * 3600
    assert parse_instant("2026-11-28", tz="UTC") == NOV28
    # the zone is the date's only: a date-time carries its own, epoch seconds are UTC
    assert parse_instant("2026-11-28T09:30:00Z", tz="Europe/Paris") == NOV28_0930
    assert parse_instant("1795824000", tz="Europe/Paris") == NOV28
    with pytest.raises(InstantError, match="no time zone"):
        parse_instant("2026-11-28T09:30", tz="Europe/Paris")
    with pytest.raises(InstantError, match=r"unknown time zone 'Mars/Olympus'"):
        parse_instant("2026-11-28", tz="Mars/Olympus")


def test_format_instant():
    assert format_instant(NOV28_0930) == "2026-11-28T09:30:00Z"
    assert format_instant(np.int64(0)) == "1970-01-01T00:00:00Z"
    assert format_instant(FIRST) == "0001-01-01T00:00:00Z"
    assert format_instant(LAST) == "9999-12-31T23:59:59Z"
    assert format_instant(datetime(2026, 11, 28, 10, 30, tzinfo=timezone(timedelta(hours=1))))\
        == "2026-11-28T09:30:00Z"  # fmt: skip
    assert format_instant(OPEN_END) == "open"
    assert format_instant(-OPEN_END) == "the beginning"
    with pytest.raises(InstantError, match="out of range"):
        format_instant(LAST + 1)
    with pytest.raises(InstantError, match="no time zone"):
        format_instant(datetime(2026, 11, 28))


@given(st.integers(FIRST, LAST))
def test_format_then_parse_round_trips(t):
    assert parse_instant(format_instant(t)) == t


_OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(datetime(2, 1, 1), datetime(9998, 12, 31), timezones=_OFFSETS))
def test_python_iso_text_reads_as_its_datetime(moment):
    assert parse_instant(moment.isoformat()) == parse_instant(moment)
    assert parse_instant(moment) == calendar.timegm(moment.utctimetuple())


# -- every command that takes an instant ---------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """A store with one carrier, one customer and a routing plan in force over the whole
    range, a small deck without dates, a routing plan file, a CDR file and a demo manifest
    that only routes."""
    base = tmp_path_factory.mktemp("instant")
    store = Store(base / "t.db")
    rates = pd.DataFrame({"prefix": ["44"], "rate": [UNIT // 100], "connect_fee": [0]})
    store.write_deck("atlas", "carrier", rates, currency="USD", effective_from=FIRST)
    sell = rates.assign(rate=UNIT // 50)
    store.write_deck("acme", "customer", sell, currency="USD", effective_from=FIRST)
    store.write_plan("routing", "[defaults]\nmax_routes = 3\n", effective_from=FIRST)
    store.close()
    (base / "deck.csv").write_text("Code,Rate\n44,0.01\n33,0.02\n", encoding="utf-8")
    (base / "routing.toml").write_text("[defaults]\nmax_routes = 2\n", encoding="utf-8")
    (base / "cdrs.csv").write_text(
        "start,duration,number,customer,carrier\n2026-11-28T09:30:00Z,60,442079460000,acme,atlas\n",
        encoding="utf-8",
    )
    (base / "demo.toml").write_text(
        '[route]\ncustomer = "acme"\nnumbers = ["+442079460000"]\n', encoding="utf-8"
    )
    return {"db": base / "t.db", "base": base}


@dataclass(frozen=True)
class Option:
    """One instant option of one command: how to call it with a value, and how to see in
    the output which instant the command used."""

    command: str
    option: str
    zoned: bool = False  # the command has --timezone

    def args(self, world: dict[str, Path], tmp_path: Path, value: str) -> list[str]:
        base, given = world["base"], f"{self.option}={value}"
        return {
            ("compile", "--at"): ["compile", given, "-o", str(tmp_path / "t.tdm")],
            ("route", "--at"): ["route", "+442079460000", "--customer", "acme", given, "--json"],
            ("demo", "--at"): ["demo", "--manifest", str(base / "demo.toml"), given,
                               "--out", str(tmp_path / "demo")],
            ("deck import", "--effective"): ["deck", "import", str(base / "deck.csv"),
                                             "--carrier", "atlas", given, "--now", "0",
                                             "--dry-run", "--json"],
            # a deck without dates and no --effective is effective at its import instant
            ("deck import", "--now"): ["deck", "import", str(base / "deck.csv"), "--carrier",
                                       "atlas", given, "--dry-run", "--json"],
            ("deck show", "--at"): ["deck", "show", "atlas", given, "--json"],
            ("deck export", "--at"): ["deck", "export", "atlas", given,
                                      "-o", str(tmp_path / "out.csv")],
            ("deck delete", "--now"): ["deck", "delete", "atlas", "--version", "1", given,
                                       "--force", "--dry-run", "--json"],
            ("plan import", "--effective"): ["plan", "import", str(base / "routing.toml"), given,
                                             "--now", "0", "--dry-run", "--json"],
            # without --effective a plan takes effect at its import instant
            ("plan import", "--now"): ["plan", "import", str(base / "routing.toml"), given,
                                       "--dry-run", "--json"],
            ("plan show", "--at"): ["plan", "show", given, "--json"],
            ("plan export", "--at"): ["plan", "export", given, "-o", str(tmp_path / "p.toml")],
            ("rate", "--from"): ["rate", str(base / "cdrs.csv"), "-o", str(tmp_path / "r.parquet"),
                                 given, f"--until={format_instant(LAST)}", "--json"],
            ("rate", "--until"): ["rate", str(base / "cdrs.csv"), "-o", str(tmp_path / "r.parquet"),
                                  f"--from={format_instant(FIRST)}", given, "--json"],
            ("account set", "--now"): ["account", "set", "acme", "--limit", "5",
                                       "--currency", "USD", given, "--json"],
            ("fraud scan", "--from"): ["fraud", "scan", str(base / "cdrs.csv"), given, "--json"],
            ("quality", "--at"): ["quality", str(base / "cdrs.csv"), given, "--json"],
            ("simulate", "--at"): ["simulate", str(base / "cdrs.csv"), given, "--json"],
        }[(self.command, self.option)]  # fmt: skip

    def check(self, output: str, expected: int) -> None:
        shown = format_instant(expected)
        if self.command == "compile":
            assert f"compiled at {shown}," in output
        elif self.command == "route":
            assert json.loads(output)["at"] == shown
        elif self.command == "demo":
            assert f"customer acme   at {shown}" in output
        elif self.command in ("deck import", "plan import"):
            assert json.loads(output)["effective_from"] == shown
        elif self.command == "plan show":
            shown_json = json.loads(output)
            assert shown_json["at"] == shown and shown_json["version"] == 1
        elif self.command == "deck show":
            shown_json = json.loads(output)
            assert shown_json["at"] == shown and len(shown_json["rates"]) == 1
        elif self.command == "deck delete":
            assert json.loads(output)["now"] == shown
        elif self.command in ("deck export", "plan export"):
            assert f"in force at {shown}" in output
        elif self.command == "account set":
            assert json.loads(output)["updated"] == shown
        elif self.command == "fraud scan":
            assert json.loads(output)["report_from"] == shown
        elif self.command in ("quality", "simulate"):
            assert json.loads(output)["at"] == shown
        elif self.command == "rate":
            period = json.loads(output)["period"]
            assert period["from" if self.option == "--from" else "until"] == shown


OPTIONS = [
    Option("compile", "--at"),
    Option("route", "--at"),
    Option("demo", "--at"),
    Option("deck import", "--effective", zoned=True),
    Option("deck import", "--now", zoned=True),
    Option("deck show", "--at"),
    Option("deck export", "--at"),
    Option("deck delete", "--now"),
    Option("plan import", "--effective"),
    Option("plan import", "--now"),
    Option("plan show", "--at"),
    Option("plan export", "--at"),
    Option("rate", "--from", zoned=True),
    Option("rate", "--until", zoned=True),
    Option("account set", "--now"),
    Option("fraud scan", "--from", zoned=True),
    Option("quality", "--at", zoned=True),
    Option("simulate", "--at", zoned=True),
]
OPTION_IDS = [f"{o.command} {o.option}" for o in OPTIONS]


def invoke(world: dict[str, Path], args: list[str]):
    return CliRunner().invoke(cli, ["--db", str(world["db"]), *args])


@pytest.mark.parametrize("option", OPTIONS, ids=OPTION_IDS)
@pytest.mark.parametrize(("text", "expected"), ACCEPTED, ids=ACCEPTED_IDS)
def test_every_instant_option_accepts(world, tmp_path, option, text, expected):
    result = invoke(world, option.args(world, tmp_path, text))
    if option.command == "rate" and (option.option, expected) in (
        ("--from", LAST),
        ("--until", FIRST),
    ):
        # the other end of the period is that same instant: a period error, not a time error
        assert result.exit_code == 2 and "must be after --from" in result.output
        return
    assert result.exit_code == 0, result.output
    option.check(result.output, expected)


@pytest.mark.parametrize("option", OPTIONS, ids=OPTION_IDS)
@pytest.mark.parametrize(("text", "reason"), REFUSED, ids=REFUSED_IDS)
def test_every_instant_option_refuses_with_the_one_message(world, tmp_path, option, text, reason):
    result = invoke(world, option.args(world, tmp_path, text))
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option.option}': {message(text)}" in result.output
    assert f"({reason}" in result.output and "Traceback" not in result.output


ZONED = [o for o in OPTIONS if o.zoned]


@pytest.mark.parametrize("option", ZONED, ids=[f"{o.command} {o.option}" for o in ZONED])
def test_a_date_alone_is_midnight_in_the_commands_timezone(world, tmp_path, option):
    paris = ["--timezone", "Europe/Paris"]
    result = invoke(world, [*option.args(world, tmp_path, "2026-11-28"), *paris])
    assert result.exit_code == 0, result.output
    option.check(result.output, NOV28 - 3600)
    result = invoke(world, [*option.args(world, tmp_path, "2026-11-28T09:30:00Z"), *paris])
    assert result.exit_code == 0, result.output
    option.check(result.output, NOV28_0930)  # a date-time carries its own zone


def _instant_options(group: click.Group, path: str = ""):
    """``(command, option, the command has --timezone)`` for every instant option."""
    for name, command in group.commands.items():
        full = f"{path} {name}".strip()
        if isinstance(command, click.Group):
            yield from _instant_options(command, full)
            continue
        zone = [p for p in command.params if p.name == "timezone"]
        # --timezone is read before the instants, so that a date alone is midnight in it
        assert all(p.is_eager for p in zone), full
        for param in command.params:
            if set(param.opts) & {"--at", "--from", "--until", "--now", "--effective"}:
                assert param.type is INSTANT, (full, param.opts)
                yield full, param.opts[-1], bool(zone)


def test_the_table_covers_every_instant_option_and_each_uses_the_one_type():
    found = set(_instant_options(cli))
    assert found == {(o.command, o.option, o.zoned) for o in OPTIONS}


# -- every library parameter that takes an instant ----------------------------------------
def _library_calls(world: dict[str, Path], tmp_path: Path):
    """``name -> call(value) -> the instant the function used`` for every library
    ``at=`` / ``now=`` / ``effective=`` / ``effective_from=`` / ``start`` / ``period``."""
    from tandem import Router, compile_rates, compile_table, import_deck, parse_deck, price_call
    from tandem.decks import DeckOptions
    from tandem.rating.price import Rater
    from tandem.rating.stream import rate_file

    store = Store(world["db"])
    deck = (world["base"] / "deck.csv").read_bytes()
    table = compile_table(store, 0)

    def write_deck(value: object) -> int:
        fresh = Store(tmp_path / "w.db")
        rates = pd.DataFrame({"prefix": ["44"], "rate": [UNIT // 100], "connect_fee": [0]})
        version = fresh.write_deck("a", "carrier", rates, currency="USD", effective_from=value)
        fresh.close()
        return parse_instant(version.effective_from)

    def rate(value: object) -> int:
        summary = rate_file(world["base"] / "cdrs.csv", tmp_path / "r.parquet",
                            Rater.from_store(store), period=(value, LAST))  # fmt: skip
        return summary.period[0]

    # These two return no instant: that they take the value and work is what is checked.
    def price(value: object) -> None:
        assert price_call("442079460000", value, 60, account="acme", rates=store).reason is None

    def rates_at(value: object) -> None:
        assert set(store.rates(at=value)["account"]) == {"atlas", "acme"}

    return store, {
        "Store.rates(at=)": rates_at,
        "Store.write_deck(effective_from=)": write_deck,
        "compile_table(at)": lambda v: compile_table(store, v).compiled_at,
        "compile_rates(at)": lambda v: compile_rates(store.rates(), v).compiled_at,
        "Router.route(at=)": lambda v: Router(table).route("442079", customer="acme", at=v).at,
        "parse_deck(now=)": lambda v: parse_deck(deck, now=v).effective_from,
        "DeckOptions(effective=)": lambda v: parse_deck(
            deck, DeckOptions(effective=v), now=0).effective_from,
        "import_deck(now=)": lambda v: import_deck(
            store, deck, account="atlas", now=v, dry_run=True).parsed.effective_from,
        "price_call(start)": price,
        "rate_file(period=)": rate,
    }  # fmt: skip


LIBRARY_CALLS = [
    "Store.rates(at=)",
    "Store.write_deck(effective_from=)",
    "compile_table(at)",
    "compile_rates(at)",
    "Router.route(at=)",
    "parse_deck(now=)",
    "DeckOptions(effective=)",
    "import_deck(now=)",
    "price_call(start)",
    "rate_file(period=)",
]
NO_INSTANT_RETURNED = {"Store.rates(at=)", "price_call(start)"}
LIBRARY_ACCEPTED = [
    ("2026-11-28", NOV28),
    ("2026-11-28T10:30:00+01:00", NOV28_0930),
    ("1795824000", NOV28),
    (NOV28, NOV28),
    (datetime(2026, 11, 28, 9, 30, tzinfo=UTC), NOV28_0930),
    (date(2026, 11, 28), NOV28),
]
LIBRARY_REFUSED = ["2026-11-28T09:30", "yesterday", True, 1795824000.0, datetime(2026, 11, 28)]


@pytest.mark.parametrize("call", LIBRARY_CALLS)
@pytest.mark.parametrize(("value", "expected"), LIBRARY_ACCEPTED, ids=repr)
def test_every_library_instant_parameter_accepts(world, tmp_path, call, value, expected):
    store, calls = _library_calls(world, tmp_path)
    try:
        used = calls[call](value)
        assert used == expected or (used is None and call in NO_INSTANT_RETURNED)
    finally:
        store.close()


@pytest.mark.parametrize("call", LIBRARY_CALLS)
@pytest.mark.parametrize("value", LIBRARY_REFUSED, ids=repr)
def test_every_library_instant_parameter_refuses(world, tmp_path, call, value):
    store, calls = _library_calls(world, tmp_path)
    try:
        with pytest.raises(InstantError) as refused:
            calls[call](value)
        with pytest.raises(InstantError) as alone:
            parse_instant(value)
        assert str(refused.value) == str(alone.value)
    finally:
        store.close()


def test_price_call_keeps_an_out_of_range_epoch_start_a_bad_time_like_the_batch_path(world):
    from tandem import price_call

    store = Store(world["db"])
    try:
        for start in (None, -1, 2**40, 10**15):
            priced = price_call("442079460000", start, 60, account="acme", rates=store)
            assert priced.reason == "bad_time", start
    finally:
        store.close()


@settings(max_examples=500, deadline=None)
@given(
    st.integers(-(2**40), 2**40)
    | st.integers(0, 253_402_300_799)
    | st.sampled_from([0, 1, 86_399, 951_782_400, 253_402_300_799, 253_402_300_800, -1])
)
def test_format_instant_of_an_int_is_the_datetime_text(t: int) -> None:
    """The gmtime fast path prints what datetime arithmetic prints (or both refuse)."""
    try:
        want = (datetime(1970, 1, 1) + timedelta(seconds=t)).isoformat() + "Z"
    except OverflowError:
        want = None
    if want is None or not (-62_135_596_800 <= t <= 253_402_300_799):
        with pytest.raises(InstantError):
            format_instant(t)
        return
    assert format_instant(t) == want
