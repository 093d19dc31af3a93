"""The compiled rules (tandem.fraud.compiled: the in-process path of FraudEngine.check)
answer exactly what the batch path answers, call by call, and queue the same operations
on the same keys.

Random rule sets (the scan equivalence test's) and random call streams; one engine on
MemoryCounters (compiled), one on the same kind of counters seen only through their
batch (the path RedisCounters takes)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fraud_scan_equivalence import configs, rows_strategy

from tandem.fraud import CallFacts, FraudEngine, fraud_config_from_mapping
from tandem.fraud.compiled import Compiled
from tandem.money import to_scaled
from tandem.state import MemoryCounters


class BatchOnly:
    """MemoryCounters through its Counters interface only (no compiled fast path)."""

    def __init__(self) -> None:
        self._inner = MemoryCounters()

    def __getattr__(self, name: str) -> Any:
        if name in ("run_program", "run_graded", "run_fused", "table"):
            raise AttributeError(name)
        return getattr(self._inner, name)


def _facts(row: tuple[Any, ...], record: int, group_len: int, whole: bool) -> CallFacts:
    start, _duration, number, customer, _carrier, trunk, ip, _amount, rate = row
    return CallFacts(
        call_id=f"c{record}",
        customer=str(customer),
        number=str(number),
        at=int(start) if whole else start + 0.25,
        trunk=trunk,
        source_ip=ip,
        group=str(number)[:group_len],
        destination=str(number)[:3] if record % 3 == 0 else "",
        sell_rate=None if rate is None else to_scaled(rate),
    )


def _play(engine: FraudEngine, counters: Any, rows: list, whole: bool) -> list[Any]:
    out: list[Any] = []
    group_len = engine.config.rules.concurrent.group_prefix_length
    for record, row in enumerate(sorted(rows, key=lambda r: r[0]), start=1):
        facts = _facts(row, record, group_len, whole)
        result = engine.check(facts)
        out.append((result.action, result.verdicts, result.notes))
        limits = {k: 2**31 for k in engine.admission_limits(facts)}
        if limits and record % 2:
            counters.acquire(facts.call_id, limits, ttl=engine.slot_ttl, at=facts.at)
        if record % 3 == 0:  # some calls end at once: spend and short calls counted
            cost = 0 if row[7] is None else to_scaled(row[7])
            out.append(engine.ended(facts, duration=row[1] % 7, cost=cost, at=facts.at))
            counters.release(facts.call_id, at=facts.at)
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=configs(), rows=rows_strategy, whole=st.booleans())
def test_compiled_equals_batch_path(data: dict[str, Any], rows: list, whole: bool) -> None:
    config = fraud_config_from_mapping(data)
    fast_counters, slow_counters = MemoryCounters(), BatchOnly()
    fast = FraudEngine(config, fast_counters)
    slow = FraudEngine(config, slow_counters)
    assert fast._run_graded is not None and slow._run_graded is None
    assert _play(fast, fast_counters, rows, whole) == _play(slow, slow_counters, rows, whole)
    assert fast_counters.size() == slow_counters._inner.size()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=configs(), rows=rows_strategy)
def test_compiled_keys_and_operations_are_the_batch_ones(data: dict[str, Any], rows: list):
    config = fraud_config_from_mapping(data)
    counters = MemoryCounters()
    engine = FraudEngine(config, counters)
    for record, row in enumerate(rows, start=1):
        facts = _facts(row, record, config.rules.concurrent.group_prefix_length, True)
        plan = engine._plan(facts.customer)
        if not plan.counted:
            continue
        ops: list[Any] = []
        engine._queue(plan, facts, ops)
        compiled = Compiled(plan, counters.table)
        variant, keys = compiled.build(facts, engine._customer_keys(facts.customer))
        program, bounds, _first, _run, _parts = compiled.program(variant)
        assert keys == [op[1] for op in ops]
        assert len(bounds) == len(program)
        got = [
            (kind, key, amount, 0 if table is None else table.window,
             0 if table is None else table.step)
            for (kind, table, amount), key in zip(program, keys, strict=True)
        ]  # fmt: skip
        assert got == ops


def test_compiled_checks_from_threads_lose_no_count():
    """Four threads deciding on one engine and one MemoryCounters (the compiled path, its
    loop under the counters' lock, windows rolling to new buckets as they go): every
    attempt is counted exactly once."""
    import threading

    config = fraud_config_from_mapping(
        {"cps": {"window": 3600, "step": 60, "customer": {"warning": 10**9}}}
    )
    counters = MemoryCounters()
    engine = FraudEngine(config, counters)

    def work(k: int) -> None:
        for i in range(500):
            facts = CallFacts(f"c{k}-{i}", "acme", f"44{k}{i:07d}", 1_700_000_000 + 30 * i)
            assert engine.check(facts).action == "allow"

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    end = 1_700_000_000 + 30 * 499
    # the window of the last instant holds the attempts of its last 60 buckets, 4 threads
    expected = 4 * sum(1 for i in range(500) if (1_700_000_000 + 30 * i) // 60 > end // 60 - 60)
    assert counters.total("fraud:cps:customer:acme", window=3600, step=60, at=end) == expected


_text = st.one_of(
    st.text(alphabet="0123456789", max_size=14),
    st.text(alphabet="0123456789٣²a:%+ é", max_size=8),  # other digits, escapes, letters
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=configs(),
    calls=st.lists(
        st.tuples(
            _text,
            st.one_of(st.none(), _text),
            st.one_of(st.none(), st.just(""), _text),
            st.one_of(st.none(), st.just(""), _text),
            st.one_of(st.just(""), _text),
            st.sampled_from(["acme", "b:c", "d%e"]),
        ),
        max_size=20,
    ),
)
def test_c_keys_equal_the_generated_function(data: dict[str, Any], calls: list) -> None:
    """The C key maker (tandem/state/_fastwin.c ``keys``, from the rule set's recipe) makes
    exactly the keys and variant of the generated Python function, whatever the facts:
    numbers shorter than a prefix or a block, destinations of other digits or none,
    trunks and source addresses present or absent, names that need escaping."""
    counters = MemoryCounters()
    if counters.native_keys is None:
        return  # not built: the generated function is the only one
    config = fraud_config_from_mapping(data)
    engine = FraudEngine(config, counters)
    for number, destination, trunk, ip, group, customer in calls:
        plan = engine._plan(customer)
        if not plan.counted:
            continue
        compiled = Compiled(plan, counters.table, counters.native_keys)
        facts = CallFacts("c", customer, number, 1_700_000_000, trunk, ip,
                          destination, group, None)  # type: ignore[arg-type]  # fmt: skip
        keys = engine._customer_keys(customer)
        assert compiled.build(facts, keys) == compiled.python_build(facts, keys)
    assert MemoryCounters(native=False).native_keys is None


def _counters_state(c: MemoryCounters) -> tuple:
    windows = {shape: {k: list(w) for k, w in t.windows.items()} for shape, t in c._tables.items()}
    slots = {k: dict(s.expiry) for k, s in c._slots.items()}
    return windows, slots, dict(c._values), sorted(c._due, key=repr), c.size()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=configs(), rows=rows_strategy, whole=st.booleans())
def test_c_and_python_paths_give_the_same_verdicts_and_counters(
    data: dict[str, Any], rows: list, whole: bool
) -> None:
    """The whole in-process decision with the C extension (key maker, loop, Window
    objects) and without it (MemoryCounters(native=False): the generated function, the
    Python loop, flat lists): random rule sets and call streams with admissions, ends,
    spend and short calls, instants jumping on: the same verdicts call by call and the
    same counters at the end (every window's buckets, every slot, every due entry)."""
    config = fraud_config_from_mapping(data)
    fast_counters, slow_counters = MemoryCounters(), MemoryCounters(native=False)
    fast = FraudEngine(config, fast_counters)
    slow = FraudEngine(config, slow_counters)
    assert _play(fast, fast_counters, rows, whole) == _play(slow, slow_counters, rows, whole)
    assert _counters_state(fast_counters) == _counters_state(slow_counters)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=configs(),
    calls=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "8",
                    "88",
                    "881",
                    "8812",
                    "8821",
                    "88219",
                    "882",
                    "8825",
                    "979",
                    "97",
                    "44",
                    "4420",
                    "1",
                ]
            ),
            st.sampled_from(["", "0", "77", "123"]),
            st.sampled_from(["acme", "b"]),
            st.one_of(st.none(), st.integers(0, 4 * 10**9)),
            st.integers(0, 30),
        ),
        max_size=30,
    ),
)
def test_c_decide_settles_as_the_python_steps(data: dict[str, Any], calls: list) -> None:
    """``_fastwin.decide`` (keys, counters and, when nothing fires, the verdict in one C
    call) gives the verdicts of the Python steps (MemoryCounters(native=False)) on numbers
    in, around and shorter than the high-risk prefixes (one customer's allow override
    among them), sell rates around the first-call threshold, repeated destinations."""
    config = fraud_config_from_mapping(data)
    fast_counters, slow_counters = MemoryCounters(), MemoryCounters(native=False)
    fast = FraudEngine(config, fast_counters)
    slow = FraudEngine(config, slow_counters)
    at = 1_700_000_000
    for i, (head, tail, customer, rate, gap) in enumerate(calls):
        at += gap
        number = head + tail
        facts = CallFacts(f"c{i}", customer, number, at, None, None, "",
                          number[:2], rate)  # fmt: skip
        got, want = fast.check(facts), slow.check(facts)
        assert (got.action, got.verdicts, got.notes) == (want.action, want.verdicts, want.notes)
    assert _counters_state(fast_counters) == _counters_state(slow_counters)
    if fast_counters.native_keys is not None:  # built: the C decide ran
        assert all(entry[8] is not None for entry in fast._fast.values())


def test_c_decide_reads_the_due_heap_the_counters_keep_after_a_rebuild() -> None:
    """``decide`` holds MemoryCounters' heap of due instants itself (no attribute read per
    decision): a sweep rebuilds it in the same list, so expired windows are still freed
    before a decision, as the Python steps free them (same verdicts and counters)."""
    config = fraud_config_from_mapping({"velocity": {"factors": {"warning": 2}}})
    fast_counters, slow_counters = MemoryCounters(), MemoryCounters(native=False)
    fast = FraudEngine(config, fast_counters)
    slow = FraudEngine(config, slow_counters)
    heap = fast_counters._due
    at = 1_700_000_000
    for i in range(40):
        at += 1 if i % 10 else 100_000  # windows expire between the bursts
        if i % 7 == 0:
            fast_counters.sweep(at)
            slow_counters.sweep(at)
        facts = CallFacts(f"c{i}", "acme", f"4420{i % 3}", at, None, None, "", "44", None)
        got, want = fast.check(facts), slow.check(facts)
        assert (got.action, got.verdicts) == (want.action, want.verdicts)
        assert fast_counters._due is heap
    assert _counters_state(fast_counters) == _counters_state(slow_counters)
    if fast_counters.native_keys is not None:  # built: the C decide ran
        assert all(entry[8].args[0][3] is heap for entry in fast._fast.values())
