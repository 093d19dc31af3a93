"""The done-when test of shared capacity: 4 workers x 2,000 admissions against one carrier
cap of 50 (4 processes on one Redis; 4 threads on MemoryCounters): never more than 50 in
flight (sampled all along), customer caps all-or-nothing with the carrier's, no slot left
once the lost call ends expire, and duplicate and late ends never take a count below the
truth."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from tandem.state import MemoryCounters
from tests.state.admission import (
    CARRIER,
    CARRIER_CAP,
    CUSTOMER_CAP,
    admit,
    admit_on_redis,
    customer_key,
)
from tests.state.conftest import REDIS_URL

WORKERS = 4
ADMISSIONS = 2000


def _run(counters, pool: Executor, submit) -> list[dict]:
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(counters.in_use(CARRIER, at=time.time()))
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        futures = [submit(pool, n) for n in range(WORKERS)]
        results = [f.result(timeout=120) for f in futures]
    finally:
        done.set()
        sampler.join()
    assert len(samples) > 50
    assert max(samples) <= CARRIER_CAP
    assert max(samples) >= CARRIER_CAP - 10  # the cap was reached, not just respected
    return results


def _check(counters, results: list[dict]) -> None:
    assert all(r["seen"] <= CARRIER_CAP for r in results)
    refused_by: dict[str, int] = {}
    for r in results:
        for k, v in r["refused_by"].items():
            refused_by[k] = refused_by.get(k, 0) + v
    assert refused_by.get(CARRIER, 0) > 0  # the carrier cap refused calls
    assert sum(v for k, v in refused_by.items() if k != CARRIER) > 0  # so did customer caps
    assert sum(r["late"] for r in results) > 0 and sum(r["duplicates"] for r in results) > 0
    # once every lost call's slot has expired, exactly the calls still held count
    after = max([r["lost_until"] for r in results] + [time.time()]) + 0.01
    kept = [call for r in results for call in r["kept"]]
    assert 0 < len(kept) <= WORKERS * 5
    assert counters.in_use(CARRIER, at=after) == len(kept)
    for n, r in enumerate(results):
        assert counters.in_use(customer_key(n), at=after) == len(r["kept"]) <= CUSTOMER_CAP
    for call in kept:
        assert counters.release(call, at=after) is True
        assert counters.release(call, at=after) is False
    assert counters.in_use(CARRIER, at=after) == 0
    assert all(counters.in_use(customer_key(n), at=after) == 0 for n in range(WORKERS))


@pytest.mark.redis
def test_four_processes_share_one_cap_in_redis(redis_factory):
    counters = redis_factory()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:

        def submit(pool, n):
            return pool.submit(admit_on_redis, REDIS_URL, counters.prefix, n, ADMISSIONS, n)

        results = _run(counters, pool, submit)
    _check(counters, results)


def test_four_threads_share_one_cap_in_memory():
    counters = MemoryCounters()
    with ThreadPoolExecutor(WORKERS) as pool:
        results = _run(counters, pool, lambda p, n: p.submit(admit, counters, n, ADMISSIONS, n))
    _check(counters, results)
    counters.sweep(time.time() + 1)  # nothing is left behind
    assert counters.size()["calls"] == counters.size()["slot_keys"] == 0
