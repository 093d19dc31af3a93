"""Fixtures for the shared-state tests: counters in memory and in the shared Redis
(127.0.0.1:6379, a unique key prefix per test, deleted afterwards), and a Redis server of
the test's own that it may stop. Outside CI a missing Redis skips; in CI (``CI=true``) it is
a failure."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from tandem.state import FallbackCounters, MemoryCounters, RedisCounters

REDIS_URL = os.environ.get("TANDEM_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def redis_problem(url: str = REDIS_URL) -> str | None:
    """Why the Redis at ``url`` cannot be used, or None."""
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not there"
        return f"Redis at {url} not reachable: {exc}"


def need_redis() -> None:
    problem = redis_problem()
    if problem:
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)


def unique_prefix() -> str:
    return f"tandem-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def redis_factory() -> Iterator[Callable[..., RedisCounters]]:
    """Makes RedisCounters on the shared Redis, each with a fresh prefix (unless one is
    given) under one prefix of this test's own, whose keys are deleted at the end."""
    need_redis()
    base = unique_prefix()
    made: list[RedisCounters] = []

    def make(prefix: str | None = None, **kw: object) -> RedisCounters:
        prefix = prefix or f"{base}{len(made)}:"
        c = RedisCounters(REDIS_URL, prefix=prefix, socket_timeout=5, **kw)
        made.append(c)
        return c

    yield make
    RedisCounters(REDIS_URL, prefix=base).clear()
    for c in made:
        if not c.prefix.startswith(base):
            c.clear()
        c.close()


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("fallback", marks=pytest.mark.redis),
    ]
)
def make_counters(request) -> Callable[[], object]:
    """A factory of fresh, empty counters: MemoryCounters, RedisCounters, and
    FallbackCounters over RedisCounters (every operation passing through)."""
    if request.param == "memory":
        return MemoryCounters
    make = request.getfixturevalue("redis_factory")
    if request.param == "redis":
        return make
    return lambda: FallbackCounters(make())


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make_backend(request) -> Callable[[], object]:
    """A factory of fresh, empty counters of each backend: MemoryCounters, RedisCounters."""
    if request.param == "memory":
        return MemoryCounters
    return request.getfixturevalue("redis_factory")


@pytest.fixture
def counters(make_counters):
    """Fresh counters of each kind."""
    return make_counters()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """A redis-server of the test's own on a loopback port, nothing saved to disk."""

    def __init__(self, port: int, workdir: str) -> None:
        self.port = port
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while redis_problem(self.url):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:
    """A redis-server of this test's own (started; the test may stop and restart it)."""
    if shutil.which("redis-server") is None:
        message = "redis-server not installed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    server = OwnRedis(free_port(), str(tmp_path))
    server.start()
    try:
        yield server
    finally:
        server.stop()
