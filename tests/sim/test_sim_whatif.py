"""What-if: a planted cheaper vendor is found on exactly the destinations where it is
cheaper, from a deck not imported (--vs-deck) and from a candidate table (--vs)."""

from __future__ import annotations

from pathlib import Path

from sim_helpers import cdrs, make_store

from tandem.lcr.table import compile_table
from tandem.sim.run import simulate

PREFIXES = ("44", "33", "49", "39", "34")
DECKS = {
    "alpha": (
        "carrier",
        {"44": "0.010", "33": "0.020", "49": "0.011", "39": "0.013", "34": "0.02"},
    ),
    "bravo": (
        "carrier",
        {"44": "0.012", "33": "0.015", "49": "0.012", "39": "0.012", "34": "0.03"},
    ),
    "acme": ("customer", {p: "0.040" for p in PREFIXES}),
}
#: the planted vendor: cheaper than the best route on 44, 49 and 34 only
DELTA = {"44": "0.008", "33": "0.016", "49": "0.0109", "39": "0.0121", "34": "0.001"}
CHEAPER = {"44", "49", "34"}


def traffic():
    rows = []
    for i in range(200):
        p = PREFIXES[i % len(PREFIXES)]
        rows.append((i * 7, 30 + i % 90, f"{p}{700000000 + i}"))
    return cdrs(rows)


def check(result):
    w = result.whatif
    changed = w.changed
    assert set(changed["destination"]) == CHEAPER
    assert set(changed["candidate_carrier"]) == {"delta"}
    assert all(int(d) < 0 for d in changed["cost_delta"])
    assert all(int(d) > 0 for d in changed["margin_delta"])
    out = result.as_json()
    assert out["whatif"]["changed_destinations"] == 3
    assert [r["destination"] for r in out["whatif"]["destinations"]] == list(changed["destination"])
    base, cand = out["whatif"]["base"], out["whatif"]["candidate"]
    assert base["revenue"] == cand["revenue"]
    total = sum(int(d) for d in changed["cost_delta"])
    assert int(w.candidate["cost"]) - int(w.base["cost"]) == total
    # the base replay is the plain replay: its fields are unchanged by the what-if
    assert {r["carrier"] for r in out["by_carrier"]} == {"alpha", "bravo"}


def test_vs_deck_finds_the_cheaper_vendor(tmp_path: Path):
    store = make_store(tmp_path / "s.db", DECKS)
    deck = tmp_path / "delta.csv"
    # billed per second like the stored decks (a deck's default is 60/60)
    deck.write_text("prefix,rate,increment\n" + "".join(f"{p},{r},1/1\n" for p, r in DELTA.items()))
    check(simulate(traffic(), store, vs_deck=deck, carrier="delta"))


def test_vs_table_finds_the_cheaper_vendor(tmp_path: Path):
    store = make_store(tmp_path / "s.db", DECKS)
    other = make_store(tmp_path / "o.db", {**DECKS, "delta": ("carrier", DELTA)})
    current, candidate = tmp_path / "current.tdm", tmp_path / "candidate.tdm"
    compile_table(store, 0).save(current)
    compile_table(other, 0).save(candidate)
    check(simulate(traffic(), store, table=current, vs_table=candidate))


def test_vs_deck_against_a_current_table(tmp_path: Path):
    store = make_store(tmp_path / "s.db", DECKS)
    current = tmp_path / "current.tdm"
    compile_table(store, 0).save(current)
    deck = tmp_path / "delta.csv"
    deck.write_text("prefix,rate,increment\n" + "".join(f"{p},{r},1/1\n" for p, r in DELTA.items()))
    check(simulate(traffic(), store, table=current, vs_deck=deck, carrier="delta"))
