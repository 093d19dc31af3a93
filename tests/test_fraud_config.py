"""data/fraud.toml: every key read, mistakes refused naming the key, the loader fuzzed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.errors import ConfigError
from tandem.fraud import Thresholds, fraud_config_from_mapping, load_fraud_config
from tandem.money import to_scaled

DATA = Path(__file__).resolve().parents[1] / "data"


def test_shipped_rules_load_with_every_key() -> None:
    config = load_fraud_config(DATA / "fraud.toml")
    r = config.rules
    assert r.high_risk.action == "block" and r.high_risk.file == DATA / "high_risk.csv"
    assert r.concurrent.customer == Thresholds(80, 100) and r.concurrent.ttl == 7200
    assert r.cps.source_ip == Thresholds(20, 40)
    assert r.spend.hour == Thresholds(to_scaled("200"), to_scaled("500"))
    assert r.spend.fail == "closed"
    assert r.velocity.factors == Thresholds(10.0, 50.0) and r.velocity.baseline == 86400
    assert r.sequential.block == Thresholds(30, 80)
    assert r.wangiri.calls == Thresholds(20, 60) and r.wangiri.short == 5
    assert r.first_call.rate == to_scaled("0.50")
    assert r.long_call.minutes == 60
    assert config.episode_gap == 300
    acme = config.customers["acme-telecom"]
    assert acme.high_risk_allow == ("8816",) and acme.high_risk_deny == ("4470",)
    assert acme.rules.cps.customer == Thresholds(60, 100)
    assert acme.rules.cps.source_ip == r.cps.source_ip  # not overridden: the default
    assert config.rules_for("nimbus-voip").first_call.rate == to_scaled("0.20")
    assert config.rules_for("someone-else") is config.rules


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"cpss": {}}, "cpss"),
        ({"cps": {"windw": 1}}, "cps.windw"),
        (
            {"cps": {"customer": {"warning": 5, "critical": 3}}},
            "cps.customer.critical must be >= warning",
        ),
        ({"cps": {"customer": {"warning": -1}}}, "cps.customer.warning"),
        ({"cps": {"customer": {"warning": "5"}}}, "cps.customer.warning"),
        ({"cps": {"customer": {"warning": 2.5}}}, "cps.customer.warning"),
        ({"cps": {"customer": {"warn": 2}}}, "cps.customer.warn"),
        ({"cps": {"customer": 5}}, "cps.customer must be a table"),
        ({"cps": {"window": 10, "step": 3}}, "cps.window"),
        ({"cps": {"window": 0}}, "cps.window"),
        ({"cps": {"enabled": "yes"}}, "cps.enabled"),
        ({"cps": {"fail": "ajar"}}, "cps.fail"),
        ({"spend": {"hour": {"warning": 100.0}}}, "spend.hour.warning"),
        ({"spend": {"hour": {"warning": "-1"}}}, "spend.hour.warning"),
        ({"spend": {"hour": {"warning": "abc"}}}, "spend.hour.warning"),
        ({"spend": {"day": {"warning": "10", "critical": "9.99"}}}, "spend.day.critical"),
        ({"spend": {"hour_step": 7}}, "spend.hour_step"),
        ({"velocity": {"factors": {"warning": 0.5}}}, "velocity.factors.warning"),
        ({"velocity": {"factors": {"warning": float("nan")}}}, "velocity.factors.warning"),
        ({"velocity": {"window": 600, "baseline": 900}}, "velocity.baseline"),
        ({"velocity": {"window": 600, "baseline": 600}}, "velocity.baseline"),
        ({"velocity": {"prefix_length": 16}}, "velocity.prefix_length"),
        ({"sequential": {"block_digits": 0}}, "sequential.block_digits"),
        ({"wangiri": {"short": -5}}, "wangiri.short"),
        ({"first_call": {"remember": 100, "step": 30}}, "first_call.remember"),
        ({"first_call": {"rate": 0.5}}, "first_call.rate"),
        ({"high_risk": {"action": "drop"}}, "high_risk.action"),
        ({"high_risk": {"prefixes": ["88x"]}}, "high_risk.prefixes"),
        ({"high_risk": {"prefixes": "881"}}, "high_risk.prefixes"),
        ({"high_risk": {"prefixes": ["0881"]}}, "high_risk.prefixes"),
        ({"long_call": {"minutes": 0}}, "long_call.minutes"),
        ({"scan": {"episode_gap": -1}}, "scan.episode_gap"),
        ({"scan": {"gap": 1}}, "scan.gap"),
        ({"customers": {"x": {"cps": {"window": 2}}}}, "customers.x.cps.window"),
        ({"customers": {"x": {"cps": {"nonsense": 2}}}}, "customers.x.cps.nonsense"),
        ({"customers": {"x": {"colour": 2}}}, "customers.x.colour"),
        ({"customers": {"x": {"high_risk_allow": [44]}}}, "customers.x.high_risk_allow"),
        (
            {
                "cps": {"customer": {"warning": 5}},
                "customers": {"x": {"cps": {"customer": {"warning": 9, "critical": 2}}}},
            },
            "customers.x.cps.customer.critical",
        ),
        ({"customers": {"x": 3}}, "customers.x must be a table"),
    ],
)
def test_bad_rules_are_refused_naming_the_key(data: dict[str, Any], names: str) -> None:
    with pytest.raises(ConfigError) as err:
        fraud_config_from_mapping(data)
    assert names in str(err.value)


def test_a_customer_scope_table_replaces_both_levels_and_keeps_other_rules() -> None:
    config = fraud_config_from_mapping(
        {
            "cps": {"customer": {"warning": 5, "critical": 10}},
            "customers": {
                "x": {"cps": {"customer": {"critical": 20}}, "wangiri": {"enabled": False}}
            },
        }
    )
    own = config.rules_for("x")
    assert own.cps.customer == Thresholds(None, 20)  # a customer's table replaces the levels
    assert not own.wangiri.enabled and config.rules.wangiri.enabled


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read fraud rules"):
        load_fraud_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[cps\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_fraud_config(bad)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError):
        load_fraud_config(binary)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["open", "closed", "flag", "block", "0.5", "-1", "881", "1e5"]),
)
_keys = st.sampled_from(
    [
        "enabled", "fail", "action", "window", "step", "warning", "critical", "customer",
        "trunk", "group", "source_ip", "hour", "day", "hour_step", "day_step", "prefixes",
        "prefix_length", "baseline", "min_calls", "factors", "block_digits", "same_number",
        "block", "short", "calls", "remember", "rate", "minutes", "ttl", "file", "x",
        "high_risk_allow", "high_risk_deny", "group_prefix_length", "episode_gap",
    ]
)  # fmt: skip
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=10,
)
_rules = st.sampled_from(
    ["high_risk", "concurrent", "cps", "spend", "velocity", "sequential", "wangiri",
     "first_call", "long_call", "scan", "customers", "bogus"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_rules, st.dictionaries(_keys, _values, max_size=5), max_size=4))
def test_fuzzed_mappings_load_or_fail_cleanly(data: dict[str, Any]) -> None:
    try:
        config = fraud_config_from_mapping(data)
    except ConfigError as exc:
        assert str(exc)
        return
    for rules in [config.rules, *(c.rules for c in config.customers.values())]:
        for name in ("cps", "sequential", "wangiri"):
            rule = getattr(rules, name)
            assert rule.window % rule.step == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzzed_files_load_or_fail_cleanly(tmp_path_factory: Any, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "fraud.toml"
    path.write_bytes(raw)
    try:
        load_fraud_config(path)
    except ConfigError as exc:
        assert str(exc)
