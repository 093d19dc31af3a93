"""Shared pieces of the call-lifecycle tests: a small routing table, counters backends
(in memory, and the shared Redis under a unique prefix), and a private redis-server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid

import pandas as pd
import pytest

from tandem.lcr.table import OPEN_END, compile_rates
from tandem.money import UNIT

MILLI = UNIT // 1000
COLUMNS = [
    "account", "kind", "currency", "prefix", "rate", "connect_fee", "initial_increment",
    "next_increment", "min_duration", "effective_from", "effective_until",
]  # fmt: skip
CUSTOMER = "acme"
REDIS_URL = os.environ.get("TANDEM_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"

#: (account, kind, prefix, rate in thousandths per minute, first, next increment)
SPEC = [
    ("atlas", "carrier", "44", 10, 60, 60),
    ("borealis", "carrier", "4420", 5, 1, 1),
    ("cygnus", "carrier", "4", 6, 60, 60),
    ("borealis", "carrier", "881", 1, 60, 60),
    (CUSTOMER, "customer", "44", 12, 30, 6),
    (CUSTOMER, "customer", "881", 90, 60, 60),
    ("bravo", "customer", "44", 12, 60, 60),
]


def table():
    frame = pd.DataFrame(
        [(a, k, "USD", p, r * MILLI, 0, i, n, 0, 0, OPEN_END) for a, k, p, r, i, n in SPEC],
        columns=COLUMNS,
    )
    return compile_rates(frame, 0)


def redis_counters(prefix: str | None = None):
    """RedisCounters on the shared Redis under a fresh prefix (skipped outside CI when
    Redis is not there), and a cleanup function."""
    import redis

    from tandem.state import RedisCounters

    prefix = prefix or f"tandem-test-{uuid.uuid4().hex[:10]}:"
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not there"
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} not reachable: {exc}")
    counters = RedisCounters(REDIS_URL, prefix=prefix, node="test")

    def cleanup() -> None:
        client = redis.Redis.from_url(REDIS_URL)
        names = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if names:
            client.delete(*names)

    return counters, cleanup


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own (no persistence) that the test may kill."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if IN_CI:
                pytest.fail("redis-server not installed")
            pytest.skip("redis-server not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_timeout=0.5).ping()
                return
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def rows_frame(spec, account):
    """The deck rows of ``account`` in ``spec`` as a frame for Store.write_deck."""
    return pd.DataFrame(
        [
            {"prefix": p, "rate": r * MILLI, "initial_increment": i, "next_increment": n}
            for a, _k, p, r, i, n in spec
            if a == account
        ]
    )
