"""Redis stopped in the middle of a run: routing continues on local counters, every
decision made meanwhile says so, nothing raises; when Redis is back the notes stop. And
the credit limit against a real store: charges land in the store, exactly."""

from __future__ import annotations

import time

from calls_helpers import CUSTOMER, PrivateRedis, table

from tandem.calls import LOCAL_COUNTERS_NOTE, Calls, Caps
from tandem.fraud import FraudEngine, fraud_config_from_mapping
from tandem.lcr.policy import config_from_mapping
from tandem.lcr.router import Router
from tandem.money import UNIT
from tandem.state import FallbackCounters, MemoryCounters, RedisCounters

T = 1_767_225_600
NUMBER = "442079460000"


def test_redis_stopped_mid_run_routing_continues_and_decisions_say_so():
    server = PrivateRedis()
    try:
        shared = RedisCounters(server.url, prefix="outage:", node="n1", socket_timeout=0.2,
                               connect_timeout=0.2)  # fmt: skip
        counters = FallbackCounters(shared, retry_after=0.3)
        fraud = FraudEngine(
            fraud_config_from_mapping(
                {"cps": {"customer": {"warning": 10_000}}, "first_call": {"enabled": False}}
            ),
            counters,
        )
        config = config_from_mapping({"carriers": {"borealis": {"max_concurrent": 1000}}})
        router = Router(table(), plan=config, counters=counters)
        calls = Calls(router, counters=counters, fraud=fraud, caps=Caps(customer=500),
                      credit_refresh=0)  # fmt: skip
        noted = []
        for i in range(60):
            if i == 30:
                server.stop()  # Redis dies between two calls
            at = T + i
            call = calls.route(NUMBER, customer=CUSTOMER, at=at, call_id=f"o{i}")
            assert call.decision.routes and not call.decision.blocked
            assert call.admit(at=at) is None
            assert call.attempt(call.decision.routes[0].carrier, at=at)
            call.answered(call.decision.routes[0].carrier, at=at)
            end = call.end(at=at + 10)
            assert end.cost is not None
            noted.append(LOCAL_COUNTERS_NOTE in call.decision.notes)
            assert (LOCAL_COUNTERS_NOTE in call.decision.to_dict().get("notes", [])) == noted[-1]
        assert noted[:30] == [False] * 30
        assert noted[30:] == [True] * 30
        assert counters.fallbacks > 0 and calls.fell_back == 30
        # slots taken on local counters were released there too
        assert counters.local.in_use("fraud:cc:customer:acme", at=T + 100) == 0
    finally:
        server.stop()


def test_redis_back_after_an_outage_notes_stop():
    server = PrivateRedis()
    port = server.port
    try:
        shared = RedisCounters(server.url, prefix="back:", node="n1", socket_timeout=0.2,
                               connect_timeout=0.2)  # fmt: skip
        counters = FallbackCounters(shared, retry_after=0.2)
        calls = Calls(Router(table(), counters=counters), counters=counters,
                      caps=Caps(customer=10), credit_refresh=0)  # fmt: skip
        server.stop()
        down = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="d1")
        down.admit(at=T)  # the admission runs on local counters: the next decision says so
        later = calls.route(NUMBER, customer=CUSTOMER, at=T + 1, call_id="d2")
        assert LOCAL_COUNTERS_NOTE in later.decision.notes
        server = PrivateRedis.__new__(PrivateRedis)
        _restart(server, port)
        time.sleep(0.3)  # past retry_after: the primary is tried again
        up = calls.route(NUMBER, customer=CUSTOMER, at=T + 2, call_id="u1")
        assert up.admit(at=T + 2) is None
        again = calls.route(NUMBER, customer=CUSTOMER, at=T + 3, call_id="u2")
        assert LOCAL_COUNTERS_NOTE not in again.decision.notes
    finally:
        server.stop()


def _restart(server: PrivateRedis, port: int) -> None:
    import shutil
    import subprocess

    import redis

    server.port = port
    server.url = f"redis://127.0.0.1:{port}/0"
    server.proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
         "--appendonly", "no", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(server.url, socket_timeout=0.5).ping()
            return
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_credit_limit_with_a_store(store):
    """Charges land in the store exactly; a second node reading the store later agrees;
    the customer is blocked at its limit."""
    from calls_helpers import SPEC, rows_frame

    store.write_deck(CUSTOMER, "customer", rows_frame(SPEC, CUSTOMER), currency="USD",
                     effective_from=0)  # fmt: skip
    store.set_credit(CUSTOMER, balance=UNIT // 100, credit_limit=0, currency="USD", at=T)
    counters = MemoryCounters()
    router = Router(table(), counters=counters)
    node_a = Calls(router, counters=counters, store=store, credit_refresh=0)
    call = node_a.route(NUMBER, customer=CUSTOMER, at=T, call_id="s1")
    assert call.max_duration == 48  # 0.01 at 0.012/min billed 30/6
    call.admit(at=T)
    call.answered("borealis", at=T)
    assert call.end(at=T + 42).cost == 8_400_000
    acc = store.credit_account(CUSTOMER)
    assert acc.balance_scaled == UNIT // 100 - 8_400_000 and acc.charged_scaled == 8_400_000
    node_b = Calls(router, counters=counters, store=store, credit_refresh=0)
    blocked = node_b.route(NUMBER, customer=CUSTOMER, at=T + 50, call_id="s2")
    assert blocked.decision.credit == 1_600_000  # 0.0016 left: less than the first 30 s
    assert blocked.decision.blocked and blocked.max_duration == 0
    # a top-up on the store, then reload: calls go through again
    store.set_credit(CUSTOMER, balance=UNIT, at=T + 60)
    node_b.reload()
    assert not node_b.route(NUMBER, customer=CUSTOMER, at=T + 61, call_id="s3").decision.blocked


def test_bare_redis_down_the_credit_check_goes_on_with_a_note():
    """Without FallbackCounters, a credit read that cannot reach Redis uses the last spend
    the node read; the decision says so and nothing raises."""
    from tandem.calls import UNREACHABLE_CREDIT_NOTE
    from tandem.store import CreditAccount

    server = PrivateRedis()
    try:
        counters = RedisCounters(server.url, prefix="bare:", node="n1", socket_timeout=0.2,
                                 connect_timeout=0.2)  # fmt: skip
        account = CreditAccount(CUSTOMER, "USD", UNIT, 0, 0, T)
        calls = Calls(Router(table()), counters=counters, accounts=[account], credit_refresh=0)
        up = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="b1")
        assert up.max_duration == 4998 and UNREACHABLE_CREDIT_NOTE not in up.decision.notes
        server.stop()
        down = calls.route(NUMBER, customer=CUSTOMER, at=T + 1, call_id="b2")
        assert down.max_duration == 4998 and not down.decision.blocked
        assert UNREACHABLE_CREDIT_NOTE in down.decision.to_dict()["notes"]
    finally:
        server.stop()
