"""The admission workload of the done-when test: one worker (a process or a thread) admits
calls against a carrier cap and its own customer cap, ends them in random order with
duplicate ends, loses some ends (their slots must expire) and sends late ends for those."""

from __future__ import annotations

import random
import time
from typing import Any

CARRIER = "carrier:atlas:calls"
CARRIER_CAP = 50
CUSTOMER_CAP = 15
LOST_TTL = 0.25
KEPT = 5


def customer_key(n: int) -> str:
    return f"customer:c{n}:calls"


def admit(counters: Any, n: int, admissions: int, seed: int) -> dict[str, Any]:
    """Admit ``admissions`` calls; what the worker saw and the calls it still holds."""
    rng = random.Random(seed)
    limits = {customer_key(n): CUSTOMER_CAP, CARRIER: CARRIER_CAP}
    held: list[str] = []
    lost: list[tuple[str, float]] = []
    seen = refused = late = duplicates = admitted = i = 0
    refused_by: dict[str, int] = {}
    while admitted < admissions:
        at = time.time()
        call = f"w{n}-{i}"
        i += 1
        lose_end = rng.random() < 0.05
        full = counters.acquire(call, limits, ttl=LOST_TTL if lose_end else 60, at=at)
        if full is None:
            admitted += 1
            seen = max(seen, counters.in_use(CARRIER, at=time.time()))
            if lose_end:
                lost.append((call, at + LOST_TTL))
            else:
                held.append(call)
        else:
            refused += 1
            refused_by[full] = refused_by.get(full, 0) + 1
            if not held:
                time.sleep(0.005)  # only lost calls hold slots: they expire soon
        # calls end in random order; some ends arrive twice
        while held and (full is not None or len(held) > rng.randint(4, 20)):
            call = held.pop(rng.randrange(len(held)))
            assert counters.release(call, at=time.time()) is True
            if rng.random() < 0.2:
                duplicates += 1
                assert counters.release(call, at=time.time()) is False
            full = None
        # the end of a lost call arrives after its slot expired: it frees nothing
        if lost and lost[0][1] < time.time() and rng.random() < 0.5:
            assert counters.release(lost.pop(0)[0], at=time.time()) is False
            late += 1
    for call in held[KEPT:]:
        counters.release(call, at=time.time())
        counters.release(call, at=time.time())
    return {
        "seen": seen,
        "refused": refused,
        "refused_by": refused_by,
        "late": late,
        "duplicates": duplicates,
        "kept": held[:KEPT],
        "lost_until": max((until for _, until in lost), default=0.0),
        "lost": len(lost),
    }


def admit_on_redis(url: str, prefix: str, n: int, admissions: int, seed: int) -> dict[str, Any]:
    """:func:`admit` in a process of its own, on RedisCounters (node ``w<n>``)."""
    from tandem.state import RedisCounters

    counters = RedisCounters(url, prefix=prefix, node=f"w{n}", socket_timeout=10)
    try:
        return admit(counters, n, admissions, seed)
    finally:
        counters.close()
