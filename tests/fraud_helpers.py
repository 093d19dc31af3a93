"""Shared by the fraud tests: a small CDR table, and the live engine replayed call by call
over it (the reference the vectorised scan must equal)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from decimal import Decimal

import pyarrow as pa

from tandem.fraud import CallFacts, FraudConfig, FraudEngine
from tandem.money import to_scaled
from tandem.rating.cdr import canonical_table
from tandem.state import MemoryCounters

COLUMNS = (
    "start", "duration", "number", "customer", "carrier", "trunk", "source_ip",
    "sell_amount", "sell_rate",
)  # fmt: skip


def cdr_table(
    rows: Sequence[Sequence[object]], *, extra: dict[str, list[object]] | None = None
) -> pa.Table:
    """A canonical CDR table from tuples in :data:`COLUMNS` order."""
    cols: dict[str, list[object]] = {c: [r[i] for r in rows] for i, c in enumerate(COLUMNS)}
    arrays = {
        "start": pa.array(cols["start"], pa.int64()),
        "duration": pa.array(cols["duration"], pa.int64()),
        "number": pa.array(cols["number"], pa.string()),
        "customer": pa.array(cols["customer"], pa.string()),
        "carrier": pa.array(cols["carrier"], pa.string()),
        "trunk": pa.array(cols["trunk"], pa.string()),
        "source_ip": pa.array(cols["source_ip"], pa.string()),
        "sell_amount": pa.array(
            [None if v is None else Decimal(str(v)) for v in cols["sell_amount"]],
            pa.decimal128(19, 9),
        ),
        "sell_rate": pa.array(cols["sell_rate"], pa.string()),
    }
    for name, values in (extra or {}).items():
        arrays[name] = pa.array(values)
    return canonical_table(pa.table(arrays))


def replay(
    rows: Sequence[Sequence[object]],
    config: FraudConfig,
    *,
    high_risk: Iterable[str] = (),
    destinations: Sequence[str | None] | None = None,
) -> list[tuple[int, str, str, dict[str, str]]]:
    """Feed the CDRs to a live engine over MemoryCounters, in time order (file order for
    ties), as a proxy would have: end (release, ``ended``) every call whose end is at or
    before the next start, ``check`` the call, then take its slots (no cap: the history
    happened). Returns every verdict as ``(record, rule, action, evidence)``."""
    counters = MemoryCounters()
    engine = FraudEngine(config, counters, high_risk=high_risk)
    out: list[tuple[int, str, str, dict[str, str]]] = []
    running: list[tuple[int, int, CallFacts, int, int]] = []

    def end_until(t: float) -> None:
        while running and running[0][0] <= t:
            end, record, facts, duration, cost = heapq.heappop(running)
            counters.release(facts.call_id)
            for v in engine.ended(facts, duration=duration, cost=cost, at=end):
                out.append((record, v.rule, v.action, v.evidence))

    order = sorted(range(len(rows)), key=lambda i: (rows[i][0], i))
    group_len = config.rules.concurrent.group_prefix_length
    for i in order:
        start, duration, number, customer, _carrier, trunk, ip, amount, rate = rows[i]
        record = i + 1
        end_until(start)  # type: ignore[arg-type]
        digits = str(number).lstrip("+")
        facts = CallFacts(
            call_id=f"c{record}",
            customer=str(customer),
            number=digits,
            at=float(start),  # type: ignore[arg-type]
            trunk=trunk or None,  # type: ignore[arg-type]
            source_ip=ip or None,  # type: ignore[arg-type]
            group=(destinations[i] if destinations else None) or digits[:group_len],
            destination=(destinations[i] if destinations else None) or "",
            sell_rate=None if rate is None else to_scaled(str(rate)),
        )
        result = engine.check(facts)
        for v in result.verdicts:
            out.append((record, v.rule, v.action, v.evidence))
        limits = {k: 2**31 for k in engine.admission_limits(facts)}
        if limits:
            counters.acquire(facts.call_id, limits, ttl=engine.slot_ttl, at=float(start))  # type: ignore[arg-type]
        cost = 0 if amount is None else to_scaled(str(amount))
        heapq.heappush(running, (start + duration, record, facts, duration, cost))  # type: ignore[operator]
    end_until(float("inf"))
    from tandem.fraud.config import RULES

    out.sort(key=lambda a: (a[0], RULES.index(a[1])))
    return out
