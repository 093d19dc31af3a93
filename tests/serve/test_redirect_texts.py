"""The ``format=sip`` texts kept per route span (:class:`RedirectTexts`): the same text as
:func:`redirect_text` for every decision, and emptied, so that the answer follows, on a
table swap and on a routing-config reload (SIGHUP or a change of ``routing.toml``)."""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.lcr.policy import config_from_mapping
from tandem.lcr.router import Router
from tandem.lcr.table import compile_rates
from tandem.money import UNIT
from tandem.serve import answer
from tandem.serve.answer import RedirectTexts, redirect_text
from tandem.serve.http import HttpApi

sys.path.insert(0, str(Path(__file__).parent))

import serve_helpers as h  # noqa: E402

COLUMNS = h.COLUMNS
CARRIERS = ["atlas", "bo%real", 'cy"gnus', "draco"]  # a % and a quote in names: escaped
TRUNKS = ["sip:gw.atlas.example", "10.0.0.%d", "sips:edge.example:5061;transport=tls", "x%s"]


@st.composite
def tables(draw):
    prefix = st.text("123", min_size=1, max_size=3)
    rows = []
    for account, kind in [(c, "carrier") for c in CARRIERS] + [("acme", "customer")]:
        for p in draw(st.sets(prefix, max_size=6)):
            rate = draw(st.integers(1, 40)) * UNIT // 1000
            rows.append((account, kind, "USD", p, rate, 0, 60, 60, 0, 0, 1000))
    return compile_rates(pd.DataFrame(rows, columns=COLUMNS), 0)


def _config(max_routes: int, trunks: list[str], **plan):
    return config_from_mapping({
        "carriers": {c: {"trunk": t} for c, t in zip(CARRIERS, trunks, strict=True)},
        "customers": {"acme": {"max_routes": max_routes, **plan}},
    })  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(),
    other=tables(),
    numbers=st.lists(st.text("123", min_size=1, max_size=6), min_size=1, max_size=10),
    ids=st.lists(st.sampled_from(["ab-1", "x y", 'q"%s', "7f-3e"]), min_size=1, max_size=3),
    max_routes=st.integers(1, 5),
    priority=st.booleans(),
)
def test_kept_texts_are_redirect_text(table, other, numbers, ids, max_routes, priority):
    # Random tables, numbers and decision ids; the same router swapped to another table
    # and reconfigured meanwhile (without emptying the cache: its own checks suffice).
    plan = {"strategy": "priority", "priority": {"draco": 1}} if priority else {}
    router = Router(table, plan=_config(max_routes, TRUNKS, **plan))
    texts = RedirectTexts()
    for step in range(3):
        for i, number in enumerate(numbers * 2):
            decision = router.route("+" + number, customer="acme", at=5)
            if decision.blocked:
                continue
            did = ids[i % len(ids)]
            assert texts.text(decision, did) == redirect_text(decision, did)
        if step == 0:
            router.swap(other)
        else:
            router.reconfigure(_config(max_routes, TRUNKS[::-1], **plan))
    assert len(texts) <= answer.MAX_TEMPLATES


def test_at_most_max_templates_kept(monkeypatch):
    monkeypatch.setattr(answer, "MAX_TEMPLATES", 3)
    rows = [
        (c, "carrier", "USD", p, 5 * UNIT // 1000 * (i + 1), 0, 60, 60, 0, 0, 1000)
        for i, c in enumerate(CARRIERS)
        for p in ("1", "12", "123", "1234", "12345")
    ]
    rows += [("acme", "customer", "USD", "1", UNIT, 0, 60, 60, 0, 0, 1000)]  # fmt: skip
    router = Router(compile_rates(pd.DataFrame(rows, columns=COLUMNS), 0),
                    plan=_config(5, TRUNKS))  # fmt: skip
    texts = RedirectTexts()
    for number in ("19", "129", "1239", "12349", "123459", "19"):
        decision = router.route("+" + number, customer="acme", at=5)
        assert texts.text(decision, "id-1") == redirect_text(decision, "id-1")
        assert 1 <= len(texts) <= 3


def _sip_answer(api: HttpApi, number: str = "%2B442079460000") -> str:
    status, _ctype, body, _extra = api.route(f"format=sip&number={number}&source_ip=127.0.0.1",
                                             None)  # fmt: skip
    assert status == 200
    return body.decode()


def _without_ids(text: str) -> str:
    return "\n".join(line.rsplit(";decision=", 1)[0] for line in text.splitlines())


def test_a_table_swap_changes_the_kept_answer(tmp_path: Path):
    svc = h.service(tmp_path, "http")
    api = HttpApi(svc)
    before = _sip_answer(api)
    assert _sip_answer(api) != before and _without_ids(_sip_answer(api)) == _without_ids(before)
    assert len(svc.sip_texts) == 1 and "borealis" in before
    h.other_table().save(tmp_path / "next.tdm")
    os.replace(tmp_path / "next.tdm", svc.table_path)
    assert svc.reload()
    assert len(svc.sip_texts) == 0  # emptied with the swap
    after = _sip_answer(api)
    assert "borealis" not in after and "atlas" in after


def test_a_config_reload_changes_the_kept_answer(tmp_path: Path):
    svc = h.service(tmp_path, "http")
    config = tmp_path / "routing.toml"
    svc = type(svc)(svc.router, svc.table_path, metrics=svc.metrics, calls=svc.calls,
                    lifecycle_json=False, config_path=config)  # fmt: skip
    api = HttpApi(svc)
    before = _sip_answer(api)
    assert "@gw1.atlas.example.net>" in before
    assert not svc.config_changed()
    config.write_text(h.CONFIG.replace("gw1.atlas.example.net", "gw9.atlas.example.org")
                      + "\n")  # fmt: skip
    assert svc.config_changed()
    assert svc.reload_config() and len(svc.sip_texts) == 0 and not svc.config_changed()
    after = _sip_answer(api)
    assert "@gw9.atlas.example.org>" in after and "gw1.atlas" not in after
    assert _without_ids(after) == _without_ids(before).replace(
        "gw1.atlas.example.net", "gw9.atlas.example.org"
    )
    # a config that does not load: the one in use stays
    config.write_text("[customers.acme\n")
    assert not svc.reload_config()
    assert "@gw9.atlas.example.org>" in _sip_answer(api)


def _get(port: int, query: str) -> str:
    url = f"http://127.0.0.1:{port}/route?{query}"
    with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - loopback
        return reply.read().decode()


def test_sighup_and_a_changed_config_file_change_the_served_answer(tmp_path: Path):
    # `tandem serve http --config routing.toml`: a changed routing.toml changes the
    # format=sip answer after a SIGHUP, and after the watch notices a change by itself.
    table, config = h.write_files(tmp_path)
    proc = h.ServerProcess("http", ["--table", str(table), "--config", str(config),
                                    "--watch", "0"])  # fmt: skip
    query = "format=sip&number=%2B442079460000&source_ip=127.0.0.1"
    try:
        assert "@gw1.atlas.example.net>" in _get(proc.port, query)
        assert "@gw1.atlas.example.net>" in _get(proc.port, query)  # the kept text
        config.write_text(h.CONFIG.replace("gw1.atlas.example.net", "gw2.atlas.example.net"))
        proc.signal(signal.SIGHUP)
        proc.wait_for("routing config reloaded")
        deadline = time.monotonic() + 10
        while "gw2.atlas" not in _get(proc.port, query) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "@gw2.atlas.example.net>" in _get(proc.port, query)
        assert proc.stop() == 0
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
    proc = h.ServerProcess("http", ["--table", str(table), "--config", str(config),
                                    "--watch", "0.1"])  # fmt: skip
    try:
        assert "@gw2.atlas.example.net>" in _get(proc.port, query)
        config.write_text(h.CONFIG.replace("gw1.atlas.example.net", "gw3.atlas.example.net"))
        proc.wait_for("routing config reloaded")
        deadline = time.monotonic() + 10
        while "gw3.atlas" not in _get(proc.port, query) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "@gw3.atlas.example.net>" in _get(proc.port, query)
        assert proc.stop() == 0
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
