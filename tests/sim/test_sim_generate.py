"""The traffic generator: seeded, realistic, every planted pattern present and labelled."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tandem.errors import ConfigError
from tandem.fraud.highrisk_list import load_high_risk
from tandem.instant import parse_instant
from tandem.rating.cdr import CdrReader
from tandem.sim import (
    DESTINATIONS,
    EXPENSIVE,
    PATTERNS,
    Cps,
    QualityCollapse,
    Velocity,
    generate_traffic,
    traffic_profile,
    write_traffic,
)

SEED = 7
CALLS = 60_000


@pytest.fixture(scope="module")
def normal() -> pa.Table:
    return generate_traffic(SEED, calls=CALLS)


@pytest.fixture(scope="module")
def planted() -> pa.Table:
    return generate_traffic(SEED, calls=CALLS, fraud=PATTERNS, quality_collapse=True)


def _np(table: pa.Table, column: str) -> np.ndarray:
    return table.column(column).to_numpy(zero_copy_only=False)


def _of(table: pa.Table, label: str) -> pa.Table:
    return table.filter(pc.equal(table.column("label"), label))


def _max_concurrent(starts: np.ndarray, ends: np.ndarray) -> int:
    """Most calls in progress at once (a call holds [start, end))."""
    times = np.concatenate([starts, ends])
    delta = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
    order = np.lexsort((delta, times))  # ends before starts at the same second
    return int(np.cumsum(delta[order]).max(initial=0))


def _held_until(table: pa.Table) -> np.ndarray:
    # a call holds its slot while it rings (pdd) and while it is answered
    return _np(table, "start") + (_np(table, "pdd_ms") + 999) // 1000 + _np(table, "duration")


def test_same_seed_same_table_other_seed_other_table():
    a = generate_traffic(3, calls=5_000, fraud=PATTERNS, quality_collapse=True)
    b = generate_traffic(3, calls=5_000, fraud=PATTERNS, quality_collapse=True)
    c = generate_traffic(4, calls=5_000, fraud=PATTERNS, quality_collapse=True)
    assert a.equals(b)
    assert not a.column("number").equals(c.column("number"))


def test_columns_and_basic_invariants(planted):
    assert planted.num_rows > CALLS
    call_id = planted.column("call_id")
    assert pc.count_distinct(call_id).as_py() == planted.num_rows
    starts = _np(planted, "start")
    assert (np.diff(starts) >= 0).all()
    sip = _np(planted, "sip_code")
    duration = _np(planted, "duration")
    assert ((sip == 200) == (duration > 0)).all()
    disp = np.asarray(planted.column("disposition").to_pylist())
    assert set(disp[sip == 200]) == {"ANSWERED"}
    assert set(disp[sip == 486]) == {"BUSY"}
    assert (_np(planted, "pdd_ms") > 0).all()
    numbers = planted.column("number").to_pylist()
    dests = planted.column("destination").to_pylist()
    assert all(
        n.isdigit() and n.startswith(d) and len(n) <= 15
        for n, d in zip(numbers, dests, strict=True)
    )
    assert set(planted.column("sell_rate").to_pylist()) <= {
        d.sell_rate for d in DESTINATIONS + EXPENSIVE
    } | {Decimal("1.5000"), Decimal("0.2500"), Decimal("3.2000")}


def test_normal_traffic_has_no_labels_and_avoids_risky_ranges(normal):
    assert set(normal.column("label").to_pylist()) == {""}
    high_risk = load_high_risk()
    assert not high_risk.is_high_risk(normal.column("number")).any()
    expensive = tuple(d.prefix for d in EXPENSIVE)
    assert not any(n.startswith(expensive) for n in normal.column("number").to_pylist())


def test_patterns_do_not_change_normal_traffic(normal, planted):
    """Patterns draw from their own random streams: the normal calls stay the same, except
    the outcomes the quality collapse redraws (its carrier, destination, from noon)."""
    fields = [c for c in normal.column_names if c != "call_id"]
    profile = traffic_profile(SEED)
    carrier = profile.carriers[int(np.argmax(profile.routing[0]))]
    hit = pc.and_(
        pc.and_(
            pc.equal(normal["carrier"], carrier),
            pc.equal(normal["destination"], profile.destinations[0].prefix),
        ),
        pc.greater_equal(normal["start"], parse_instant("2026-11-02T12:00:00Z")),
    )
    expected = normal.filter(pc.invert(hit)).select(fields)
    assert _of(planted, "").select(fields).equals(expected)
    assert _of(planted, "quality_collapse").num_rows == pc.sum(pc.cast(hit, pa.int64())).as_py()


def test_destination_shares_follow_the_profile(normal):
    profile = traffic_profile(SEED)
    expected = profile.expected_shares()
    prefixes = [d.prefix for d in profile.destinations]
    counts = pc.value_counts(normal.column("destination")).to_pylist()
    observed = np.zeros(len(prefixes))
    for row in counts:
        observed[prefixes.index(row["values"])] = row["counts"]
    n = normal.num_rows
    top = np.argsort(-expected)[:30]
    sigma = np.sqrt(n * expected[top] * (1 - expected[top]))
    assert (np.abs(observed[top] - n * expected[top]) <= 5 * sigma + 0.01 * n * expected[top]).all()
    # Zipf-like: the biggest destination carries far more than the 100th; shares fall with rank
    assert observed[0] > 10 * observed[99]
    ranks = np.argsort(np.argsort(-observed))
    assert np.corrcoef(ranks, np.arange(len(prefixes)))[0, 1] > 0.8
    # mobile and fixed, many countries
    kinds = {d.kind for d in profile.destinations}
    countries = {d.name.rsplit(" ", 1)[0] for d in profile.destinations}
    assert kinds == {"fixed", "mobile"} and len(countries) >= 50


def test_calls_per_hour_follow_the_daily_curve(normal):
    profile = traffic_profile(SEED)
    start = parse_instant("2026-11-02T00:00:00Z")
    expected = np.zeros(24)
    for c in profile.customers:
        hw = profile.hour_weights(start, 24, c.utc_offset)
        expected += c.share * hw / hw.sum()
    hours = (_np(normal, "start") - start) // 3600
    observed = np.bincount(np.minimum(hours, 24), minlength=25)[:24] / normal.num_rows
    assert np.abs(observed - expected).max() < 0.08 * expected.max()
    assert observed[3] < 0.4 * observed[10]  # night is quiet, mid-morning busy


def test_durations_asr_and_codes_are_realistic(normal):
    sip = _np(normal, "sip_code")
    asr = (sip == 200).mean()
    assert 0.4 < asr < 0.65
    answered = _np(normal, "duration")[sip == 200]
    assert 120 <= answered.mean() <= 240  # ACD 2-4 minutes
    assert np.median(answered) < answered.mean()  # long right tail
    codes = set(sip.tolist())
    assert {200, 486, 480, 487, 404, 503} <= codes
    pdd = _np(normal, "pdd_ms")
    assert 1000 < np.median(pdd[sip == 200]) < 5000
    assert np.median(pdd[sip == 404]) < 1000


def test_each_customer_uses_its_own_trunks_and_addresses(normal):
    profile = traffic_profile(SEED)
    pairs = set(
        zip(
            normal.column("customer").to_pylist(),
            normal.column("trunk").to_pylist(),
            normal.column("source_ip").to_pylist(),
            strict=True,
        )
    )
    allowed = {
        (c.name, t, ip)
        for c in profile.customers
        for t, ip in zip(c.trunks, c.source_ips, strict=True)
    }
    assert pairs <= allowed
    assert len({c for c, _, _ in pairs}) == 50


# -- each planted pattern: present, labelled, and shaped like the fraud it stands for -------


def test_every_pattern_is_planted_and_labelled(planted):
    labels = set(planted.column("label").to_pylist())
    assert labels == {"", *PATTERNS, "quality_collapse"}


def test_high_risk_and_long_calls_go_to_high_risk_ranges(planted):
    high_risk = load_high_risk()
    for label in ("high_risk", "long_call"):
        rows = _of(planted, label)
        assert rows.num_rows > 0
        assert high_risk.is_high_risk(rows.column("number")).all()
    assert len(set(_of(planted, "high_risk").column("customer").to_pylist())) == 3
    long_calls = _of(planted, "long_call")
    assert (_np(long_calls, "duration") >= 2 * 3600).all()
    assert _np(_of(planted, ""), "duration").max() <= 7200


def test_concurrent_burst_far_above_any_customers_normal_peak(planted):
    rows = _of(planted, "concurrent")
    assert len(set(rows.column("customer").to_pylist())) == 1
    assert len(set(rows.column("trunk").to_pylist())) == 1
    burst = _max_concurrent(_np(rows, "start"), _held_until(rows))
    normal = _of(planted, "")
    peak = 0
    for name in set(normal.column("customer").to_pylist()):
        mine = normal.filter(pc.equal(normal["customer"], name))
        peak = max(peak, _max_concurrent(_np(mine, "start"), _held_until(mine)))
    assert burst >= 90 and burst >= 2 * peak


def test_cps_burst_from_one_source_ip(planted):
    rows = _of(planted, "cps")
    assert len(set(rows.column("source_ip").to_pylist())) == 1
    per_second = np.bincount(_np(rows, "start") - _np(rows, "start").min())
    normal = _of(planted, "")
    keys = pc.binary_join_element_wise(
        normal["source_ip"], pc.cast(normal["start"], pa.string()), "@"
    )
    normal_peak = max(r["counts"] for r in pc.value_counts(keys).to_pylist())
    assert per_second.max() >= 20 and per_second.max() >= 4 * normal_peak
    assert rows.num_rows == 30 * per_second.max()


def _spend_by_customer_hour(table: pa.Table) -> dict[tuple[str, int], Decimal]:
    out: dict[tuple[str, int], Decimal] = {}
    ends = _np(table, "start") + _np(table, "duration")
    for cust, end, dur, rate in zip(
        table.column("customer").to_pylist(),
        ends,
        _np(table, "duration"),
        table.column("sell_rate").to_pylist(),
        strict=True,
    ):
        if dur:
            key = (cust, int(end) // 3600)
            out[key] = out.get(key, Decimal(0)) + Decimal(int(dur)) * rate / 60
    return out


def test_spend_hour_far_above_normal(planted):
    rows = _of(planted, "spend")
    assert len(set(rows.column("customer").to_pylist())) == 1
    ends = _np(rows, "start") + _np(rows, "duration")
    assert ends.max() - _np(rows, "start").min() <= 3600
    fraud = sum(_spend_by_customer_hour(rows).values())
    normal = max(_spend_by_customer_hour(_of(planted, "")).values())
    assert fraud >= 200 and fraud >= 4 * normal


def test_velocity_many_times_the_destinations_own_rate(planted):
    rows = _of(planted, "velocity")
    dests = set(rows.column("destination").to_pylist())
    assert len(dests) == 1
    assert len(set(rows.column("customer").to_pylist())) == 4
    t0, t1 = _np(rows, "start").min(), _np(rows, "start").max()
    normal = _of(planted, "")
    same = pc.equal(normal["destination"], dests.pop())
    window = pc.and_(pc.greater_equal(normal["start"], t0), pc.less_equal(normal["start"], t1))
    baseline = pc.sum(pc.cast(pc.and_(same, window), pa.int64())).as_py()
    assert rows.num_rows >= 50 and rows.num_rows >= 5 * baseline


def test_sequential_numbers_dialled_in_a_row(planted):
    rows = _of(planted, "sequential")
    numbers = np.array([int(n) for n in rows.column("number").to_pylist()])
    assert rows.num_rows == 60
    assert (np.diff(numbers) == 1).all()  # in time order, each the next number
    assert len(set(rows.column("customer").to_pylist())) == 1


def test_wangiri_short_calls_into_one_block(planted):
    rows = _of(planted, "wangiri")
    assert rows.num_rows == 300
    dest = rows.column("destination")[0].as_py()
    assert {n[: len(dest) + 3] for n in rows.column("number").to_pylist()} == {
        rows.column("number")[0].as_py()[: len(dest) + 3]
    }
    assert _np(rows, "duration").max() <= 3
    sip = set(_np(rows, "sip_code").tolist())
    assert sip <= {200, 487} and 487 in sip


def test_first_calls_to_a_destination_never_called_before(planted):
    rows = _of(planted, "first_call")
    expensive = {d.prefix for d in EXPENSIVE}
    assert set(rows.column("destination").to_pylist()) <= expensive
    normal = _of(planted, "")
    assert not set(normal.column("destination").to_pylist()) & expensive
    for cust, start in zip(rows.column("customer").to_pylist(), _np(rows, "start"), strict=True):
        earlier = normal.filter(
            pc.and_(pc.equal(normal["customer"], cust), pc.less(normal["start"], int(start)))
        )
        assert earlier.num_rows > 0  # a customer with history
    assert all(r >= Decimal("0.95") for r in rows.column("sell_rate").to_pylist())


def test_quality_collapse_visible_in_per_carrier_asr(planted):
    profile = traffic_profile(SEED)
    dest = profile.destinations[0].prefix
    carrier = profile.carriers[int(np.argmax(profile.routing[0]))]
    at = parse_instant("2026-11-02T12:00:00Z")
    rows = planted.filter(pc.equal(planted["destination"], dest))
    rows = rows.filter(pc.is_in(rows["label"], value_set=pa.array(["", "quality_collapse"])))
    for name in {c for c in rows.column("carrier").to_pylist()}:
        mine = rows.filter(pc.equal(rows["carrier"], name))
        before = mine.filter(pc.less(mine["start"], at))
        after = mine.filter(pc.greater_equal(mine["start"], at))
        asr_before = (_np(before, "sip_code") == 200).mean()
        asr_after = (_np(after, "sip_code") == 200).mean()
        if name == carrier:
            assert asr_before > 0.35 and asr_after < 0.1
            assert set(after.column("label").to_pylist()) == {"quality_collapse"}
        elif after.num_rows > 200:
            assert abs(asr_after - asr_before) < 0.1
    assert set(_of(planted, "quality_collapse").column("carrier").to_pylist()) == {carrier}


def test_patterns_take_parameters():
    table = generate_traffic(
        1,
        calls=2_000,
        fraud=[
            Cps(rate=7, seconds=4, customer="cust03", at=1793620800),
            Velocity(destination="4420", min_calls=80, factor=1.0),
        ],
        quality_collapse=QualityCollapse(
            carrier="atlas", destination="1212", asr=0.0, at=1793577600
        ),
    )
    cps = _of(table, "cps")
    assert cps.num_rows == 28 and set(cps.column("customer").to_pylist()) == {"cust03"}
    assert _np(cps, "start").min() == 1793620800
    vel = _of(table, "velocity")
    assert vel.num_rows >= 80 and set(vel.column("destination").to_pylist()) == {"4420"}
    qc = _of(table, "quality_collapse")
    assert set(qc.column("carrier").to_pylist()) <= {"atlas"}
    assert (_np(qc, "sip_code") != 200).all()


def test_bad_parameters_are_refused():
    with pytest.raises(ConfigError, match="unknown fraud pattern"):
        generate_traffic(1, calls=10, fraud=["nope"])
    with pytest.raises(ConfigError, match="destinations"):
        generate_traffic(1, calls=10, destinations=10_000)
    with pytest.raises(ConfigError, match="no customer"):
        generate_traffic(1, calls=10, fraud=[Cps(customer="ghost")])
    with pytest.raises(ConfigError, match="no carrier"):
        generate_traffic(1, calls=10, quality_collapse=QualityCollapse(carrier="ghost"))


# -- what tandem's CDR reader makes of it ----------------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_written_traffic_reads_back_through_the_cdr_reader(planted, tmp_path, suffix):
    small = planted.slice(0, 3_000)
    path = write_traffic(small, tmp_path / f"traffic{suffix}")
    read = pa.concat_tables(CdrReader().batches(str(path)))
    assert read.num_rows == small.num_rows
    assert read.column("start").to_pylist() == small.column("start").to_pylist()
    assert read.column("duration").to_pylist() == small.column("duration").to_pylist()
    assert read.column("number").to_pylist() == small.column("number").to_pylist()
    assert read.column("call_id").to_pylist() == small.column("call_id").to_pylist()
    assert read.column("disposition").to_pylist() == small.column("disposition").to_pylist()
    for account in ("customer", "carrier"):
        got = pc.cast(read.column(account), pa.string()).to_pylist()
        assert got == small.column(account).to_pylist()
    assert str(read.column("label").to_pylist()[:3]) is not None
    assert "label" in read.column_names and "pdd_ms" in read.column_names


def test_table_reads_through_the_cdr_reader_without_a_file(planted):
    batches = list(CdrReader(batch_size=50_000).batches(planted))
    assert sum(b.num_rows for b in batches) == planted.num_rows
    assert all(b.column("start").null_count == 0 for b in batches)


def test_write_refuses_other_suffixes(tmp_path, planted):
    with pytest.raises(ConfigError):
        write_traffic(planted, tmp_path / "x.json")
