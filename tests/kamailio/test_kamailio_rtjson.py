"""Kamailio + Tandem in-process in rtjson mode: Kamailio relays each call itself, in
Tandem's order, failing over on the carrier's failover codes; the call's life (admit,
attempt, failed, answered, end on BYE) goes to Tandem's lifecycle on shared Redis counters.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from tandem.state import RedisCounters, carrier_calls_key
from tests.kamailio.conftest import BASE_RATES, save_table
from tests.kamailio.harness import EXAMPLES, Carrier, Kamailio, run_sipp, tools

pytestmark = pytest.mark.timeout(60)
HERE = os.path.dirname(__file__)
REDIS = os.environ.get("TANDEM_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _redis():
    import redis

    client = redis.Redis.from_url(REDIS, socket_timeout=2)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not there"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis at {REDIS} not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS} not reachable: {exc}")
    return client


def test_rtjson_fails_over_in_tandem_order_and_ends_go_to_the_lifecycle(tmp_path):
    sipp = tools()[1]
    client = _redis()
    prefix = f"tandem-test-{uuid.uuid4().hex[:10]}:"
    failing = Carrier(sipp, os.path.join(HERE, "carrier_fail.xml"), tmp_path)
    answering = Carrier(sipp, os.path.join(HERE, "carrier_answer.xml"), tmp_path)
    unused = Carrier(sipp, os.path.join(HERE, "carrier_fail.xml"), tmp_path)
    table = save_table(tmp_path / "routes.tdm", BASE_RATES)
    config = tmp_path / "routing.toml"
    # +4420...: borealis (0.005) first, then cygnus (0.007), then atlas (0.008)
    config.write_text(
        "[carriers.borealis]\n"
        f'trunk = "sip:127.0.0.1:{failing.port}"\n'
        "max_concurrent = 50\n"
        "[carriers.cygnus]\n"
        f'trunk = "sip:127.0.0.1:{answering.port}"\n'
        "max_concurrent = 50\n"
        "[carriers.atlas]\n"
        f'trunk = "sip:127.0.0.1:{unused.port}"\n'
        "[customers.acme.trunks.local]\n"
        'ips = ["127.0.0.1"]\n'
    )
    env = {
        "TANDEM_TABLE": str(table), "TANDEM_CONFIG": str(config), "TANDEM_MODE": "rtjson",
        "TANDEM_REDIS": REDIS, "TANDEM_REDIS_PREFIX": prefix,
    }  # fmt: skip
    calls = 5
    counters = RedisCounters(REDIS, prefix=prefix)
    held = {"borealis": 0, "cygnus": 0}
    running = threading.Event()

    def watch() -> None:  # the carriers' live slots while the calls run
        while running.is_set():
            for name in held:
                now = counters.in_use(carrier_calls_key(name), at=time.time())
                held[name] = max(held[name], now)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    try:
        with Kamailio(EXAMPLES / "kamailio.cfg", tmp_path, env) as k:
            running.set()
            watcher.start()
            run = run_sipp(
                sipp,
                k.port,
                tmp_path,
                [("+442079460000", "")],
                calls=calls,
                rate=10,
                scenario=Path(HERE) / "call.xml",
            )
            log = k.text()
    finally:
        running.clear()
        if watcher.is_alive():
            watcher.join()
        fail_seen = failing.stop()
        ok_seen = answering.stop()
        unused_seen = unused.stop()
    try:
        assert (run.successful, run.failed) == (calls, 0), run.out + log[-3000:]
        assert fail_seen[0] == calls  # borealis tried first on every call (503)
        assert ok_seen[0] == calls  # then cygnus answered, and got the BYE
        assert unused_seen == (0, 0)  # atlas never tried
        assert "Traceback" not in log
        # each call ended once in the lifecycle (its shared end mark), on the BYE
        ended = client.keys(f"{prefix}*ended*")
        assert len(ended) == calls, client.keys(f"{prefix}*")
        # cygnus's slot was held while its calls were up, and every slot was released:
        # borealis's on its 503, cygnus's on the BYE
        assert held["cygnus"] >= 1, held
        at = time.time()
        assert counters.in_use(carrier_calls_key("cygnus"), at=at) == 0
        assert counters.in_use(carrier_calls_key("borealis"), at=at) == 0
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
