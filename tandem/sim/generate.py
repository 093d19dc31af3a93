"""Seeded, realistic CDR streams with planted fraud and quality collapses, for tests,
benchmarks and simulation.

``generate_traffic(seed)`` draws normal wholesale traffic from a
:class:`~tandem.sim.profile.TrafficProfile` (customers, destinations by share, a daily
curve, carriers with their ASR and PDD per destination) and plants, on request, the
shapes fraud rules look for (:mod:`tandem.sim.patterns`) and a carrier's quality
collapse. Every planted call is labelled with its pattern's name in the ``label``
column; normal calls have ``label == ""``. The same seed gives the same table, byte for
byte; normal traffic does not change when patterns are added (each part draws from its
own random stream).

Columns (one row per call; what ``tandem rate``'s CDR reader reads, plus extras it
passes through):

================  =========  ======================================================
``start``         int64      call start, UTC epoch seconds (rows sorted by it)
``duration``      int64      billable seconds; 0 for a call not answered
``number``        string     the dialled number, E.164 digits without ``+``
``customer``      string     the customer (sell side)
``carrier``       string     the carrier the call went to (buy side)
``call_id``       string     unique per call: ``sim<seed>-<row>``
``disposition``   string     ANSWERED, BUSY, NO ANSWER, CONGESTION, FAILED
``sip_code``      int16      the final SIP response code (200 when answered)
``pdd_ms``        int32      post-dial delay: INVITE to first ringing/answer/final, ms
``source_ip``     string     the customer trunk's signalling address
``trunk``         string     the customer trunk the call came in on
``destination``   string     the range the number was drawn from (a prefix)
``sell_rate``     decimal    the customer's rate per minute for that range (4 places)
``label``         string     ``""``, a pattern name, or ``quality_collapse``
================  =========  ======================================================
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.errors import ConfigError
from tandem.fraud.highrisk_list import HighRiskList, load_high_risk
from tandem.instant import parse_instant
from tandem.sim.patterns import LABELS, PATTERNS, Context, Pattern, QualityCollapse, make_pattern
from tandem.sim.profile import DEFAULT_CARRIERS, DISPOSITIONS, TrafficProfile, traffic_profile
from tandem.sim.rows import DestTable, Rows, draw_numbers, outcomes
from tandem.sim.universe import EXPENSIVE

__all__ = [
    "DEFAULT_START",
    "TRAFFIC_SCHEMA",
    "generate_traffic",
    "write_traffic",
]

#: Where generated traffic starts unless told: Monday 2 November 2026, 00:00 UTC.
DEFAULT_START = "2026-11-02T00:00:00Z"

#: The columns of a generated table.
TRAFFIC_SCHEMA = pa.schema(
    [
        ("start", pa.int64()),
        ("duration", pa.int64()),
        ("number", pa.string()),
        ("customer", pa.string()),
        ("carrier", pa.string()),
        ("call_id", pa.string()),
        ("disposition", pa.string()),
        ("sip_code", pa.int16()),
        ("pdd_ms", pa.int32()),
        ("source_ip", pa.string()),
        ("trunk", pa.string()),
        ("destination", pa.string()),
        ("sell_rate", pa.decimal128(12, 4)),
        ("label", pa.string()),
    ]
)


def _instant(value: int | float | str | datetime) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return parse_instant(value)


def _avoid_high_risk(
    rng: np.random.Generator,
    numbers: np.ndarray,
    dest: np.ndarray,
    table: DestTable,
    high_risk: HighRiskList,
    count: int,
) -> None:
    """Draw again, in place, every normal number (ranges ``< count``) that falls in a
    high-risk range inside its destination (a premium block inside a geographic code)."""
    listed = sorted(high_risk.prefixes)
    for d in range(count):
        p, length = table.prefix[d], table.length[d]
        for h in listed:
            if p.startswith(h):
                raise ConfigError(f"destination {p} lies in the high-risk range {h}")
        inner = [h for h in listed if h.startswith(p) and len(h) <= length]
        if not inner:
            continue
        rows = np.flatnonzero(dest == d)
        for _ in range(100):
            bad = np.zeros(len(rows), dtype=bool)
            for h in inner:
                bad |= numbers[rows] // 10 ** (length - len(h)) == int(h)
            if not bad.any():
                break
            again = rows[bad]
            numbers[again] = draw_numbers(rng, dest[again], table)
        else:  # pragma: no cover - only a range that is almost all high-risk
            raise ConfigError(f"destination {p}: cannot draw numbers outside its high-risk ranges")


def _normal_calls(
    profile: TrafficProfile,
    rng: np.random.Generator,
    calls: int,
    start: int,
    days: int,
    table: DestTable,
    trunk_offset: np.ndarray,
    high_risk: HighRiskList,
) -> Rows:
    hours = 24 * days
    counts = rng.multinomial(calls, [c.share for c in profile.customers])
    st, cu, de, tr = [], [], [], []
    for i, c in enumerate(profile.customers):
        n = int(counts[i])
        hw = profile.hour_weights(start, hours, c.utc_offset)
        h = rng.choice(hours, size=n, p=hw / hw.sum())
        st.append(start + 3600 * h.astype(np.int64) + rng.integers(0, 3600, n))
        cu.append(np.full(n, i, dtype=np.int32))
        de.append(c.portfolio[rng.choice(len(c.portfolio), size=n, p=c.weights)].astype(np.int32))
        tr.append((trunk_offset[i] + rng.integers(0, len(c.trunks), n)).astype(np.int32))
    starts = np.concatenate(st)
    cust = np.concatenate(cu)
    dest = np.concatenate(de)
    trunk = np.concatenate(tr)
    n = len(starts)
    # redials: a few calls go again to a number the same customer just called
    redial = np.flatnonzero(rng.random(n) < 0.04)
    source = rng.integers(0, n, len(redial))
    numbers = draw_numbers(rng, dest, table)
    _avoid_high_risk(rng, numbers, dest, table, high_risk, len(profile.destinations))
    keep = redial != source
    redial, source = redial[keep], source[keep]
    cust[redial], dest[redial], trunk[redial] = cust[source], dest[source], trunk[source]
    numbers[redial] = numbers[source]
    starts[redial] = starts[source] + rng.integers(30, 600, len(redial))
    # carrier: drawn from the destination's routing shares
    ncar = len(profile.carriers)
    cum = np.cumsum(profile.routing, axis=1)
    cum[:, -1] = 1.0
    flat = (np.arange(len(cum))[:, None] + cum).ravel()
    carrier = (np.searchsorted(flat, dest + rng.random(n), side="right") - dest * ncar).astype(
        np.int32
    )
    carrier = np.minimum(carrier, ncar - 1)
    acd = np.array([d.acd for d in profile.destinations], dtype=np.float64)
    sip, duration, pdd = outcomes(
        rng,
        profile.asr[dest, carrier],
        profile.pdd_ms[dest, carrier],
        acd[dest],
        sigma=profile.duration_sigma,
    )
    return Rows(
        start=starts,
        duration=duration,
        number=numbers,
        dest=dest,
        customer=cust,
        trunk=trunk,
        carrier=carrier,
        sip=sip,
        pdd=pdd,
        label=np.zeros(n, dtype=np.int8),
    )


def _patterns(fraud: Iterable[str | Pattern]) -> list[Pattern]:
    out = []
    for p in fraud:
        if isinstance(p, str):
            if p not in PATTERNS:
                raise ConfigError(f"unknown fraud pattern {p!r}: one of {', '.join(PATTERNS)}")
            out.append(make_pattern(p))
        elif isinstance(p, Pattern):
            out.append(p)
        else:
            raise ConfigError(f"a fraud pattern is a name or a Pattern, not {type(p).__name__}")
    return out


def generate_traffic(
    seed: int,
    *,
    customers: int = 50,
    destinations: int = 200,
    calls: int = 100_000,
    start: int | float | str | datetime = DEFAULT_START,
    days: int = 1,
    carriers: tuple[str, ...] = DEFAULT_CARRIERS,
    fraud: Iterable[str | Pattern] = (),
    quality_collapse: QualityCollapse | bool | None = None,
    high_risk: HighRiskList | None = None,
) -> pa.Table:
    """A seeded table of CDRs (columns: the module docstring).

    ``calls`` normal calls over ``days`` days from ``start`` (an epoch or an ISO 8601
    instant), by ``customers`` customers to the ``destinations`` biggest destinations of
    :data:`tandem.sim.universe.DESTINATIONS`, carried by ``carriers``. ``fraud`` plants
    patterns, by name (:data:`tandem.sim.patterns.PATTERNS`, default parameters) or as
    :class:`~tandem.sim.patterns.Pattern` objects; each planted call is labelled with the
    pattern's name. ``quality_collapse`` (``True`` for the defaults) makes one carrier's
    ASR on one destination fall from an instant on; the calls it touches are labelled
    ``quality_collapse``. ``high_risk`` is the list whose ranges normal traffic avoids and
    the ``high_risk`` / ``long_call`` patterns call (default: the shipped list).
    """
    if calls < 0:
        raise ConfigError("calls must not be negative")
    if days < 1:
        raise ConfigError("days must be at least 1")
    t0 = _instant(start)
    profile = traffic_profile(seed, customers=customers, destinations=destinations,
                              carriers=carriers)  # fmt: skip
    hr = high_risk if high_risk is not None else load_high_risk()
    table = DestTable()
    for d in profile.destinations:
        table.add(d.prefix, d.length, d.sell_rate)
    for d in EXPENSIVE:
        table.add(d.prefix, d.length, d.sell_rate)
    sizes = np.array([len(c.trunks) for c in profile.customers])
    trunk_offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
    normal = _normal_calls(
        profile, np.random.default_rng([seed, 1]), calls, t0, days, table, trunk_offset, hr
    )
    ctx = Context(
        profile=profile,
        seed=seed,
        start=t0,
        days=days,
        calls=calls,
        table=table,
        trunk_offset=trunk_offset,
        high_risk=hr,
        expensive=range(len(profile.destinations), len(profile.destinations) + len(EXPENSIVE)),
    )
    if quality_collapse:
        qc = quality_collapse if isinstance(quality_collapse, QualityCollapse) else None
        (qc or QualityCollapse()).apply(ctx, normal)
    parts = [normal]
    seen: dict[str, int] = {}
    for p in _patterns(fraud):
        occurrence = seen.get(p.name, 0)
        seen[p.name] = occurrence + 1
        parts.append(p.plant(ctx, occurrence))
    rows = Rows.concat(parts)
    return _to_table(rows, profile, table, seed)


def _to_table(rows: Rows, profile: TrafficProfile, table: DestTable, seed: int) -> pa.Table:
    order = np.argsort(rows.start, kind="stable")
    rows = rows.take(order)
    n = len(rows.start)
    trunks = [t for c in profile.customers for t in c.trunks]
    ips = [ip for c in profile.customers for ip in c.source_ips]
    codes = np.array(sorted(DISPOSITIONS), dtype=np.int16)
    disp = pa.array([DISPOSITIONS[int(c)] for c in codes], pa.string())
    code_index = np.searchsorted(codes, rows.sip)
    row_no = pc.utf8_lpad(pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.string()), 9, "0")
    call_id = pc.binary_join_element_wise(pa.scalar(f"sim{seed}-"), row_no, "")
    rates = pa.array(table.rate, pa.decimal128(12, 4))
    columns = {
        "start": pa.array(rows.start, pa.int64()),
        "duration": pa.array(rows.duration, pa.int64()),
        "number": pc.cast(pa.array(rows.number, pa.int64()), pa.string()),
        "customer": pa.array([c.name for c in profile.customers], pa.string()).take(rows.customer),
        "carrier": pa.array(list(profile.carriers), pa.string()).take(rows.carrier),
        "call_id": call_id,
        "disposition": disp.take(code_index),
        "sip_code": pa.array(rows.sip.astype(np.int16), pa.int16()),
        "pdd_ms": pa.array(rows.pdd.astype(np.int32), pa.int32()),
        "source_ip": pa.array(ips, pa.string()).take(rows.trunk),
        "trunk": pa.array(trunks, pa.string()).take(rows.trunk),
        "destination": pa.array(table.prefix, pa.string()).take(rows.dest),
        "sell_rate": rates.take(rows.dest),
        "label": pa.array(LABELS, pa.string()).take(rows.label),
    }
    return pa.table(columns, schema=TRAFFIC_SCHEMA)


def write_traffic(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    """Write a generated table as Parquet (``.parquet``) or CSV with a header (``.csv``),
    files ``tandem rate`` reads."""
    p = Path(path)
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, p)
    elif p.suffix == ".csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, p)
    else:
        raise ConfigError(f"{p.name}: write .parquet or .csv")
    return p
