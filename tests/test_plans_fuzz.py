"""Fuzz plan imports: a routing or tariff plan file is outside input.

Mutated sample plans (lines dropped, doubled, values swapped for hostile ones, stray bytes)
and random bytes must either import or be refused with a :class:`ConfigError` that names
the plan, never another exception, and a refused plan leaves the store unchanged.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tandem.errors import ConfigError
from tandem.lcr.plans import import_plan
from tandem.store import Store

DATA = Path(__file__).resolve().parents[1] / "data"
ROUTING = (DATA / "routing.toml").read_text(encoding="utf-8").splitlines()
TARIFF = """\
[customer."acme-telecom"]
grace = 5
periods = { weekend = { days = ["sat", "sun"] }, night = { from = "19:00", until = "07:00" } }

[[customer."acme-telecom".tariffs]]
prefix = "447"
intervals = [
    { start = 0, rate = "0.10", increment = 60 },
    { start = 60, rate = "0.05", increment = 1 },
]

[[customer."acme-telecom".tariffs]]
prefix = ""
period = "weekend"
rate = "0.004"

[carrier.atlas]
grace = 3
""".splitlines()

#: Values a careless or hostile plan might hold where the sample has a sane one.
HOSTILE = [
    '"x"', "-1", "0", "1e309", "nan", "true", "[]", "{}", '"0.1"', '"-0.5"', '"1e-9999999"',
    "99999999999999999999", '"25:00"', '[1, "a"]', '"\\u0000"', '""', '"  "', "[[]]",
    '{ from = "07:00" }', '["mon", 7]', "2026-11-01T00:00:00Z", "-99999999999999999999",
]  # fmt: skip

_mutation = st.one_of(
    st.tuples(st.just("drop"), st.integers(0, 200)),
    st.tuples(st.just("double"), st.integers(0, 200)),
    st.tuples(st.just("value"), st.integers(0, 200), st.sampled_from(HOSTILE)),
    st.tuples(st.just("insert"), st.integers(0, 200), st.text(max_size=30)),
)


def _mutate(lines: list[str], mutations: list[tuple]) -> bytes:
    out = list(lines)
    for m in mutations:
        if not out:
            break
        i = m[1] % len(out)
        if m[0] == "drop":
            del out[i]
        elif m[0] == "double":
            out.insert(i, out[i])
        elif m[0] == "value" and "=" in out[i]:
            out[i] = out[i].split("=", 1)[0] + "= " + m[2]
        elif m[0] == "insert":
            out.insert(i, m[2])
    return ("\n".join(out) + "\n").encode("utf-8", "surrogatepass")


def _check(kind: str, data: bytes) -> None:
    """The import either stores a version or raises ConfigError, leaving nothing behind."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "fuzz.db")
        try:
            try:
                report = import_plan(store, data, kind=kind, source_name="fuzz.toml", now=0)
            except ConfigError as exc:
                assert "plan" in str(exc)
                assert store.plan_versions() == []
            else:
                assert report.version is not None
                assert [v.version for v in store.plan_versions(kind)] == [1]
        finally:
            store.close()


_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.lists(_mutation, min_size=1, max_size=6))
def test_mutated_routing_plans_import_or_are_refused_clearly(mutations):
    _check("routing", _mutate(ROUTING, mutations))


@_FUZZ
@given(st.lists(_mutation, min_size=1, max_size=6))
@example([("value", next(i for i, line in enumerate(TARIFF) if "period =" in line), "[[]]")])
def test_mutated_tariff_plans_import_or_are_refused_clearly(mutations):
    _check("tariff", _mutate(TARIFF, mutations))


@_FUZZ
@given(st.binary(max_size=200), st.sampled_from(["routing", "tariff"]))
def test_random_bytes_import_or_are_refused_clearly(data, kind):
    _check(kind, data)
