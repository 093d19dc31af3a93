"""RedisCounters specifics: a restarted node frees only its own share; scripts come back
after the server lost them; an unreachable server raises StateUnavailableError quickly."""

from __future__ import annotations

import time

import pytest

from tandem.errors import StateError, StateUnavailableError
from tandem.state import RedisCounters
from tests.state.conftest import free_port

pytestmark = pytest.mark.redis
T = 1_700_000_000.0


def test_a_restarted_node_frees_only_its_own_calls(redis_factory):
    a = redis_factory(node="node-a")
    b = redis_factory(prefix=a.prefix, node="node-b")
    for i in range(3):
        assert a.acquire(f"a{i}", {"carrier": 10, "cust-a": 10}, ttl=3600, at=T) is None
    for i in range(2):
        assert b.acquire(f"b{i}", {"carrier": 10}, ttl=3600, at=T) is None
    a.release("a0", at=T + 1)  # released: not forgotten again
    assert a.in_use("carrier", at=T + 1) == 4
    # node-a crashes and starts again: its two calls in flight died with it
    restarted = redis_factory(prefix=a.prefix, node="node-a")
    assert restarted.forget_node() == 2
    assert b.in_use("carrier", at=T + 1) == 2
    assert b.in_use("cust-a", at=T + 1) == 0
    assert restarted.forget_node() == 0
    # a call released by another node than the one that acquired it
    assert b.release("b0", at=T + 2) is True
    assert a.release("b1", at=T + 2) is True
    assert a.in_use("carrier", at=T + 2) == 0


def test_scripts_are_loaded_again_after_a_flush(own_redis):
    """On a server of the test's own: SCRIPT FLUSH on the shared one would disturb others."""
    c = RedisCounters(own_redis.url, prefix="flush:")
    assert c.acquire("c1", {"k": 1}, ttl=60, at=T) is None
    c.client.script_flush()
    assert c.acquire("c2", {"k": 1}, ttl=60, at=T) == "k"
    c.client.script_flush()
    b = c.batch()
    b.incr("n")
    b.release("c1", at=T)
    b.current("n")
    assert b.execute() == [1, True, 1]


def test_keys_live_under_the_prefix_and_expire(redis_factory):
    c = redis_factory()
    c.acquire("c1", {"k": 1}, ttl=60, at=T)
    c.add("w", 1, window=60, step=10, at=T)
    c.record("s", {"a": 1}, at=T, bucket=5, keep=30)
    c.mark("m", ttl=5, at=T)
    names = sorted(c.client.scan_iter(match=c.prefix + "*"))
    assert names == sorted(
        c.prefix + n
        for n in [
            "c:k",
            "call:c1",
            f"node:{c.node}",
            "w:60:10:w",
            "wi:60:10:w",
            "si:s",
            f"sb:s|{int(T)}",
            "m:m",
        ]
    )
    for name in names:  # every key collects itself when nobody touches it any more
        assert 0 < c.client.pttl(name) <= 3_600_000
    assert c.clear() == len(names)


def test_a_wrong_type_is_a_state_error(redis_factory):
    c = redis_factory()
    c.client.set(c.prefix + "c:k", "not a sorted set")
    with pytest.raises(StateError, match="refused an operation"):
        c.acquire("c1", {"k": 1}, ttl=60, at=T)


def test_an_unreachable_server_fails_fast():
    c = RedisCounters(f"redis://127.0.0.1:{free_port()}/0", prefix="x:")
    started = time.monotonic()
    with pytest.raises(StateUnavailableError, match="unreachable"):
        c.acquire("c1", {"k": 1}, ttl=60, at=T)
    with pytest.raises(StateUnavailableError):
        c.batch().execute() or c.current("k")
    assert time.monotonic() - started < 2
