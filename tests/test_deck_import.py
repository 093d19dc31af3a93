"""Deck import into the store (SQLite and PostgreSQL): validation, atomicity, modes, diff."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from tandem.decks.importer import diff_versions, import_deck
from tandem.decks.parse import DeckOptions, parse_deck
from tandem.errors import DeckError, DeckRejectedError

NOV1 = datetime(2026, 11, 1, tzinfo=UTC)
NOV23 = datetime(2026, 11, 23, tzinfo=UTC)
DEC1 = datetime(2026, 12, 1, tzinfo=UTC)


def ts(d: datetime) -> int:
    return int(d.timestamp())


def deck(store, text, account="atlas", kind="carrier", now=NOV1, **kw):
    options = kw.pop("options", None) or DeckOptions(**kw.pop("opts", {}))
    return import_deck(
        store,
        text.encode("utf-8"),
        account=account,
        kind=kind,
        now=now,
        options=options,
        source_name="deck.csv",
        **kw,
    )


def in_force(store, at, account="atlas", kind="carrier"):
    frame = store.rates(kind=kind, accounts=[account], at=at)
    return dict(zip(frame["prefix"], frame["rate"], strict=True))


BASE = (
    "Code,Destination,Rate,Effective Date\n"
    "44,UK,0.0100,2026-11-01\n"
    "4420,London,0.0080,2026-11-01\n"
    "33,France,0.0200,2026-11-01\n"
)


def test_import_stores_a_version(store):
    report = deck(store, BASE)
    assert report.written and report.version.version == 1
    assert report.accepted == 3 and report.rejected == []
    assert report.diff.counts()["new"] == 3
    assert in_force(store, NOV23) == {"44": 10_000_000, "4420": 8_000_000, "33": 20_000_000}
    v = store.decks(account="atlas")[0]
    assert v.currency == "USD" and v.source_name == "deck.csv"
    assert v.source_sha256 == hashlib.sha256(BASE.encode()).hexdigest()
    assert v.effective_from == NOV1


def test_sample_decks_import(store):
    for path, name, kind, opts in [
        ("data/decks/atlas.csv", "atlas", "carrier", {}),
        ("data/decks/borealis.csv", "borealis", "carrier", {"decimal_comma": True}),
        ("data/decks/cygnus.xlsx", "cygnus", "carrier", {}),
        ("data/decks/acme-telecom.csv", "acme-telecom", "customer", {}),
    ]:
        report = import_deck(
            store, path, account=name, kind=kind, options=DeckOptions(**opts), now=NOV23
        )
        assert report.written and not report.rejected, path
    buy = store.rates(kind="carrier", at=NOV23)
    assert set(buy["account"]) == {"atlas", "borealis", "cygnus"}
    assert 40 <= len(store.rates(kind="customer", at=NOV23)) <= 80
    # atlas announced an India increase effective 2026-11-27: short notice on 2026-11-23.
    atlas = parse_deck("data/decks/atlas.csv", now=NOV23)
    assert (atlas.rates["prefix"] == "91").sum() == 2


REJECTIONS = [
    ("44,UK,abc,2026-12-01", "Rate", "is not a number"),
    ("44,UK,-0.01,2026-12-01", "Rate", "negative rate"),
    ("44,UK,,2026-12-01", "Rate", "rate is empty"),
    ("44,UK,0.01,someday", "Effective Date", "is not a date"),
    ("4A4,UK,0.01,2026-12-01", "Code", "not digits"),
    ("4420-44259,UK,0.01,2026-12-01", "Code", "same number of digits"),
    ("44,UK,0.0000000001,2026-12-01", "Rate", "more than 9 decimal places"),
]


@pytest.mark.parametrize(("row", "column", "reason"), REJECTIONS)
def test_every_rejection_reason_names_line_and_column(sqlite_store, row, column, reason):
    text = "Code,Destination,Rate,Effective Date\n33,FR,0.02,2026-12-01\n" + row + "\n"
    with pytest.raises(DeckRejectedError) as info:
        deck(sqlite_store, text)
    rejected = info.value.result.rejected
    assert len(rejected) == 1
    assert (rejected[0].line, rejected[0].column) == (3, column)
    assert reason in rejected[0].reason
    assert sqlite_store.decks() == []


def test_duplicate_code_conflicting_and_identical(sqlite_store):
    text = (
        "Code,Rate\n44,0.01\n33,0.02\n44,0.01\n"  # identical repeat: kept once, warned
        "34,0.03\n34,0.04\n"
    )
    with pytest.raises(DeckRejectedError) as info:
        deck(sqlite_store, text)
    report = info.value.result
    assert [(r.line, r.column) for r in report.rejected] == [(6, "Code")]
    assert "duplicate code 34 with conflicting rate" in report.rejected[0].reason
    assert "line 5" in report.rejected[0].reason
    assert any("repeats line 2" in w for w in report.parsed.warnings)
    # A range that overlaps a listed code with another rate conflicts too.
    with pytest.raises(DeckRejectedError, match="duplicate code 4421"):
        deck(sqlite_store, "Code,Rate\n4420-4422,0.01\n4421,0.02\n")


def test_suspicious_rate_rejected_unless_allowed(sqlite_store):
    rows = "".join(f"{p},0.0100\n" for p in range(30, 40))
    text = "Code,Rate\n" + rows + "882,25.0\n"
    with pytest.raises(DeckRejectedError) as info:
        deck(sqlite_store, text)
    (rejection,) = info.value.result.rejected
    assert rejection.line == 12 and rejection.column == "Rate"
    assert "suspicious" in rejection.reason and "1000 times" in rejection.reason
    report = deck(sqlite_store, text, opts={"allow_suspicious": True})
    assert report.written and any("suspicious" in w for w in report.parsed.warnings)
    assert in_force(sqlite_store, NOV23)["882"] == 25_000_000_000


def test_every_row_reported_not_only_the_first(sqlite_store):
    text = "Code,Rate,Eff. Date\nX1,0.01,2026-12-01\n44,y,2026-12-01\n33,-1,never\n"
    with pytest.raises(DeckRejectedError) as info:
        deck(sqlite_store, text)
    got = [(r.line, r.column) for r in info.value.result.rejected]
    assert got == [(2, "Code"), (3, "Rate"), (4, "Eff. Date"), (4, "Rate")]


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bad_file_leaves_the_sqlite_file_byte_for_byte(sqlite_store, tmp_path):
    deck(sqlite_store, BASE)
    sqlite_store.close()
    db = tmp_path / "tandem.db"
    before = _sha(db)
    bad = BASE + "55,Brazil,not-a-rate,2026-11-01\n"
    with pytest.raises(DeckRejectedError):
        deck(sqlite_store, bad, now=NOV23)
    with pytest.raises(DeckError):
        deck(sqlite_store, "this is not a deck at all\n", now=NOV23)
    with pytest.raises(DeckError):
        import_deck(sqlite_store, b"\x00\xff" * 50, account="atlas", now=NOV23)
    sqlite_store.close()
    assert _sha(db) == before


def test_rejected_import_changes_nothing(store):
    deck(store, BASE)
    before = store.rates(accounts=["atlas"])
    with pytest.raises(DeckRejectedError):
        deck(store, "Code,Rate\n44,0.05\n33,bad\n", now=NOV23)
    after = store.rates(accounts=["atlas"])
    assert before.equals(after)
    assert len(store.decks(account="atlas")) == 1


def test_dry_run_writes_nothing(store):
    report = deck(store, BASE, dry_run=True)
    assert not report.written and report.accepted == 3
    assert store.decks() == []


def test_empty_deck_refused(store):
    with pytest.raises(DeckError, match="no rate rows"):
        deck(store, "Code,Rate\n")


def test_full_deck_closes_missing_codes_delta_keeps_them(store):
    deck(store, BASE)
    full = deck(
        store, "Code,Rate\n44,0.0100\n33,0.0250\n", now=NOV23, opts={"effective": "2026-12-01"}
    )
    assert full.diff.closed == ["4420"]
    assert full.diff.increased == ["33"] and full.diff.unchanged == ["44"]
    assert in_force(store, NOV23) == {"44": 10_000_000, "4420": 8_000_000, "33": 20_000_000}
    assert in_force(store, DEC1) == {"44": 10_000_000, "33": 25_000_000}

    deck(store, BASE, account="b")
    delta = deck(
        store,
        "Code,Rate,Status\n33,0.0150,Decrease\n4420,,Closed\n49,0.0300,New\n",
        account="b",
        mode="delta",
        now=NOV23,
        opts={"effective": DEC1},
    )
    assert delta.diff.decreased == ["33"] and delta.diff.new == ["49"]
    assert delta.diff.closed == ["4420"]
    assert in_force(store, DEC1, account="b") == {
        "44": 10_000_000,
        "33": 15_000_000,
        "49": 30_000_000,
    }


def test_row_dates_override_deck_date_and_chain(store):
    text = "Code,Rate,Effective Date\n44,0.0100,2026-11-01\n44,0.0120,2027-01-01\n33,0.0200,\n"
    report = deck(store, text, opts={"effective": "2026-11-15"})
    assert report.parsed.effective_from == ts(datetime(2026, 11, 15, tzinfo=UTC))
    assert in_force(store, NOV23) == {"44": 10_000_000, "33": 20_000_000}
    assert in_force(store, datetime(2027, 1, 1, tzinfo=UTC))["44"] == 12_000_000
    assert in_force(store, NOV1) == {"44": 10_000_000}


def test_deck_date_defaults_to_the_most_common_row_date_or_now(store):
    text = "Code,Rate,Effective Date\n1,0.1,2026-12-01\n2,0.1,2026-12-01\n3,0.1,2027-01-01\n"
    assert deck(store, text, dry_run=True).parsed.effective_from == ts(DEC1)
    assert deck(store, "Code,Rate\n1,0.1\n", dry_run=True, now=NOV23).parsed.effective_from == ts(
        NOV23
    )


def test_notice_period_flags(store):
    deck(store, BASE)  # in force from Nov 1
    text = (
        "Code,Rate,Effective Date\n"
        "44,0.0110,2026-11-26\n"  # increase, 3 days after the import: short notice
        "4420,0.0090,2026-12-05\n"  # increase, 12 days: fine
        "33,0.0150,2026-11-24\n"  # decrease: never flagged
    )
    report = deck(store, text, now=NOV23, dry_run=True)
    assert [f.prefix for f in report.diff.short_notice] == ["44"]
    flag = report.diff.short_notice[0].to_dict()
    assert flag["old_rate"] == "0.01" and flag["new_rate"] == "0.011"
    assert flag["notice_days"] == 3.0
    assert deck(store, text, now=NOV23, dry_run=True, notice_days=2).diff.short_notice == []
    wide = deck(store, text, now=NOV23, dry_run=True, notice_days=14).diff.short_notice
    assert [f.prefix for f in wide] == ["44", "4420"]


def test_diff_versions_after_the_fact(store):
    deck(store, BASE)
    deck(
        store,
        "Code,Rate,Effective Date\n"
        "44,0.0110,2026-11-25\n33,0.0200,2026-11-25\n49,0.03,2026-11-25\n",
        now=NOV23,
    )
    diff, latest, previous = diff_versions(store, "atlas", "carrier")
    assert (latest.version, previous.version) == (2, 1)
    assert diff.increased == ["44"] and diff.unchanged == ["33"] and diff.new == ["49"]
    assert diff.closed == ["4420"]
    assert [f.prefix for f in diff.short_notice] == ["44"]
    # A re-issued deck with the same date compares with the version it replaces.
    deck(store, "Code,Rate,Effective Date\n44,0.0090,2026-11-25\n33,0.02,2026-11-25\n", now=NOV23)
    diff, latest, _ = diff_versions(store, "atlas", "carrier")
    assert latest.version == 3
    assert diff.decreased == ["44"] and diff.closed == ["49"]
    with pytest.raises(DeckError, match="no deck"):
        diff_versions(store, "nobody", "carrier")


def test_customer_and_carrier_of_one_name_are_separate(store):
    deck(store, BASE, account="acme", kind="carrier")
    report = deck(store, "Code,Rate\n44,0.02\n", account="acme", kind="customer")
    assert report.diff.new == ["44"]
    assert in_force(store, NOV23, account="acme", kind="carrier")["44"] == 10_000_000


def test_bad_arguments(store):
    with pytest.raises(DeckError, match="mode"):
        deck(store, BASE, mode="partial")
    with pytest.raises(DeckError, match="carrier"):
        deck(store, BASE, kind="vendor")
    with pytest.raises(DeckError, match="ISO 4217"):
        deck(store, BASE, opts={"currency": "dollars"})
