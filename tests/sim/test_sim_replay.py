"""Traffic replay on a small known history: hand-checked shares and margins, an outage
(failover, then traffic back), a quality collapse, capacity over simulated time, a deck
change at an instant, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_helpers import T0, cdrs, make_store

from tandem.errors import ConfigError
from tandem.sim.run import simulate
from tandem.sim.scenario import scenario_from_mapping

#: 10 answered calls to the UK (60 s, one a minute), 5 to France (120 s), 2 unanswered UK.
HISTORY = (
    [(i * 60, 60, f"447700900{i:03d}") for i in range(10)]
    + [(i * 60 + 5, 120, f"33612345{i:03d}") for i in range(5)]
    + [(30, 0, "447700900999"), (31, 0, "447700900998")]
)


@pytest.fixture
def store(tmp_path: Path):
    return make_store(tmp_path / "s.db")


def by(rows, key="carrier"):
    return {r[key]: r for r in rows}


def test_replay_hand_checked(store):
    out = simulate(cdrs(HISTORY), store).as_json()
    assert out["calls"] == 17 and out["carried"] == 15 and out["unanswered"] == 2
    c = by(out["by_carrier"])
    # UK: alpha cheapest (0.010 buy, 0.020 sell): 10 min -> cost 0.10, revenue 0.20
    assert c["alpha"] == {
        "carrier": "alpha", "offered": 12, "carried": 10, "failovers": 0, "minutes": "10.00",
        "cost": "0.1", "revenue": "0.2", "margin": "0.1",
    }  # fmt: skip
    # France: bravo cheapest (0.015 buy, 0.025 sell): 5 x 2 min -> cost 0.15, revenue 0.25
    assert c["bravo"] == {
        "carrier": "bravo", "offered": 5, "carried": 5, "failovers": 0, "minutes": "10.00",
        "cost": "0.15", "revenue": "0.25", "margin": "0.1",
    }  # fmt: skip
    assert c["charlie"]["offered"] == 0
    assert out["totals"] == {"minutes": "20.00", "cost": "0.25", "revenue": "0.45", "margin": "0.2"}
    d = by(out["by_destination"], "destination")
    assert d["44"]["name"] == "United Kingdom" and d["44"]["carrier"] == "alpha"
    assert (d["44"]["offered"], d["44"]["carried"], d["44"]["margin"]) == (12, 10, "0.1")
    assert (d["33"]["offered"], d["33"]["margin"]) == (5, "0.1")
    share = {r["carrier"]: r["share"] for r in out["over_time"]}
    assert share == {"alpha": "0.6667", "bravo": "0.3333"}
    assert out["blocked"] == {} and out["unrated"] == {}


def test_outage_fails_over_and_traffic_comes_back(store):
    scenario = scenario_from_mapping(
        {"events": [{"carrier": "alpha", "down_from": T0 + 120, "down_until": T0 + 300}]}
    )
    out = simulate(cdrs(HISTORY), store, scenario=scenario, interval=60).as_json()
    c = by(out["by_carrier"])
    # UK calls at 120, 180, 240 s fail on alpha (503) and go to bravo at 0.012
    assert (c["alpha"]["carried"], c["alpha"]["failovers"], c["alpha"]["offered"]) == (7, 3, 12)
    assert (c["bravo"]["carried"], c["bravo"]["failovers"]) == (8, 0)
    assert c["bravo"]["cost"] == "0.186"  # 0.15 France + 3 x 0.012
    assert c["bravo"]["margin"] == "0.124"
    assert by(out["by_destination"], "destination")["44"]["failovers"] == 3
    uk_by_minute = {}
    for r in out["over_time"]:
        uk_by_minute.setdefault(r["time"], {})[r["carrier"]] = r["carried"]
    minutes = sorted(uk_by_minute)
    alpha = [uk_by_minute[m].get("alpha", 0) for m in minutes]
    # alpha carries minutes 0-1, nothing while down (2-4), and again from minute 5
    assert alpha == [1, 1, 0, 0, 0, 1, 1, 1, 1, 1]
    assert out["blocked"] == {}


def test_outage_on_every_route_is_counted(store):
    scenario = scenario_from_mapping(
        {
            "events": [
                {"carrier": c, "down_from": T0, "down_until": T0 + 3600}
                for c in ("alpha", "bravo", "charlie")
            ]
        }
    )
    out = simulate(cdrs(HISTORY), store, scenario=scenario).as_json()
    assert out["carried"] == 0
    assert out["blocked"] == {"routes_exhausted": 17}
    # UK: three routes each; France: two (charlie's 0.030 is above the 0.025 sell rate)
    assert sum(r["failovers"] for r in out["by_carrier"]) == 12 * 3 + 5 * 2


def test_capacity_cap_holds(tmp_path):
    store = make_store(tmp_path / "c.db", routing="[carriers.alpha]\nmax_concurrent = 2\n")
    rows = [(i * 10, 100, f"44770090{i:04d}") for i in range(12)]
    out = simulate(cdrs(rows), store).as_json()
    c = by(out["by_carrier"])
    # t=0,10 on alpha (2 busy); 20..90 overflow to bravo; at 100 and 110 alpha is free again
    assert c["alpha"]["carried"] == 4 and c["bravo"]["carried"] == 8
    assert out["skipped_capacity"] == {"alpha": 8}
    assert c["alpha"]["offered"] == 4 and c["alpha"]["failovers"] == 0


def test_quality_collapse_is_seeded(store):
    rows = [(i, 30, f"4477009{i:05d}") for i in range(400)]
    events = {
        "events": [
            {"carrier": "alpha", "prefix": "4477", "asr": 0.25, "from": T0, "until": T0 + 200}
        ]
    }
    scenario = scenario_from_mapping(events)
    a = simulate(cdrs(rows), store, scenario=scenario, seed=3).as_json()
    b = simulate(cdrs(rows), store, scenario=scenario, seed=3).as_json()
    other = simulate(cdrs(rows), store, scenario=scenario, seed=4).as_json()
    assert a == b
    fo = by(a["by_carrier"])["alpha"]["failovers"]
    assert fo != by(other["by_carrier"])["alpha"]["failovers"]
    assert 110 < fo < 190  # about 3/4 of the 200 calls inside the window
    assert a["carried"] == 400  # every failed attempt found bravo


def test_deck_change_at_an_instant(store, tmp_path):
    deck = tmp_path / "alpha_new.csv"
    deck.write_text("prefix,rate,increment\n44,0.030,1/1\n33,0.005,1/1\n")
    events = {"events": [{"at": T0 + 300, "deck": str(deck), "carrier": "alpha"}]}
    out = simulate(cdrs(HISTORY), store, scenario=scenario_from_mapping(events)).as_json()
    c = by(out["by_carrier"])
    # before 300 s: UK on alpha (5 calls at 0.010); after: UK on bravo at 0.012 (5 calls)
    # France: calls at 5..245 on bravo at 0.015 (5 x 2 min)
    assert c["alpha"]["carried"] == 5 and c["alpha"]["cost"] == "0.05"
    assert c["bravo"]["carried"] == 10 and c["bravo"]["cost"] == "0.21"


def test_unknown_event_carrier_refused(store):
    scenario = scenario_from_mapping(
        {"events": [{"carrier": "zulu", "down_from": T0, "down_until": T0 + 1}]}
    )
    with pytest.raises(ConfigError, match="zulu"):
        simulate(cdrs(HISTORY), store, scenario=scenario)


def test_bad_rows_are_counted_not_lost(store):
    table = cdrs(HISTORY[:3])
    import pyarrow as pa

    start = table.column("start").to_pylist()
    start[1] = None
    table = table.set_column(0, "start", pa.array(start, pa.int64()))
    out = simulate(table, store).as_json()
    assert out["calls"] == 3 and out["blocked"] == {"bad_time": 1} and out["carried"] == 2


def test_each_call_routed_with_the_table_in_force_then(store):
    from sim_helpers import deck_frame

    # from T0 + 300 s alpha's UK rate rises above bravo's: calls from then go to bravo
    store.write_deck(
        "alpha", "carrier", deck_frame({"44": "0.013", "33": "0.020"}, T0 + 300), currency="USD",
        effective_from=T0 + 300,
    )  # fmt: skip
    out = simulate(cdrs(HISTORY), store).as_json()
    c = by(out["by_carrier"])
    assert c["alpha"]["carried"] == 5 and c["alpha"]["cost"] == "0.05"
    assert c["bravo"]["carried"] == 10 and c["bravo"]["cost"] == "0.21"  # 0.15 + 5 x 0.012
    # --at T0: every call routed with the table of T0 (alpha), priced at its start
    out = simulate(cdrs(HISTORY), store, at=T0).as_json()
    c = by(out["by_carrier"])
    assert c["alpha"]["carried"] == 10 and c["alpha"]["cost"] == "0.115"  # 5 x 0.010 + 5 x 0.013
