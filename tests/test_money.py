from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.errors import MoneyError
from tandem.money import (
    SCALE,
    MoneyPolicy,
    Rounding,
    format_money,
    from_scaled,
    parse_decimal,
    round_scaled,
    to_scaled,
)


@pytest.mark.parametrize(
    ("text", "expected", "comma"),
    [
        ("0.0123", "0.0123", False),
        ("0,0123", "0.0123", True),
        ("1.2E-3", "0.0012", False),
        ("1.2e-3", "0.0012", False),
        (" .5 ", "0.5", False),
        ("$0.01", "0.01", False),
        ("0.01€", "0.01", False),
        ("1,234.5", "1234.5", False),
        ("1.234,5", "1234.5", True),
        ("-0.25", "-0.25", False),
        ("7", "7", False),
    ],
)
def test_parse_decimal_spellings(text, expected, comma):
    assert parse_decimal(text, decimal_comma=comma) == Decimal(expected)


@pytest.mark.parametrize("bad", ["", "  ", "abc", "0.01.2", "1e", "0,0123", "--1", "NaN", "inf"])
def test_parse_decimal_rejects(bad):
    with pytest.raises(MoneyError):
        parse_decimal(bad)


def test_parse_decimal_refuses_float():
    with pytest.raises(MoneyError, match="binary float"):
        parse_decimal(0.1)


def test_scaled_roundtrip_and_refusal():
    assert to_scaled("0.0123") == 12_300_000
    assert from_scaled(12_300_000) == Decimal("0.0123")
    with pytest.raises(MoneyError, match="decimal places"):
        to_scaled("0.0000000001")


@pytest.mark.parametrize(
    ("amount", "decimals", "mode", "expected"),
    [
        ("0.125", 2, "half-up", "0.13"),
        ("0.125", 2, "half-even", "0.12"),
        ("0.135", 2, "half-even", "0.14"),
        ("0.121", 2, "up", "0.13"),
        ("0.121", 2, "ceiling", "0.13"),
        ("0.129", 2, "down", "0.12"),
        ("-0.125", 2, "half-up", "-0.13"),
        ("-0.121", 2, "ceiling", "-0.12"),
        ("-0.121", 2, "up", "-0.13"),
        ("-0.121", 2, "floor", "-0.13"),
    ],
)
def test_rounding_modes(amount, decimals, mode, expected):
    policy = MoneyPolicy(decimals, Rounding.parse(mode))
    assert policy.quantize(Decimal(amount)) == Decimal(expected)
    assert from_scaled(policy.quantize_scaled(to_scaled(amount))) == Decimal(expected)


def test_unknown_rounding_mode():
    with pytest.raises(MoneyError, match="half-up"):
        Rounding.parse("sideways")


def test_format_money():
    assert format_money(12_300_000) == "0.0123"
    assert format_money(Decimal("1.5"), 4) == "1.5000"
    with pytest.raises(MoneyError):
        format_money(Decimal("1.23456"), 2)


decimal_strings = st.builds(
    lambda sign, whole, frac, exp: f"{sign}{whole}{'.' + frac if frac else ''}{exp}",
    st.sampled_from(["", "-", "+"]),
    st.integers(min_value=0, max_value=10**12).map(str),
    st.text(alphabet="0123456789", max_size=12),
    st.one_of(st.just(""), st.integers(-12, 12).map(lambda e: f"E{e}")),
)


@given(decimal_strings, st.booleans())
def test_parse_roundtrips_every_decimal_string(text, comma):
    expected = Decimal(text)
    spelled = text.replace(".", ",") if comma else text
    value = parse_decimal(spelled, decimal_comma=comma)
    assert value == expected
    # the printed form parses back to the same number, exactly
    assert parse_decimal(format(value, "f")) == expected


@given(st.integers(min_value=-(10**17), max_value=10**17))
def test_scaled_integers_roundtrip(n):
    assert to_scaled(from_scaled(n)) == n


@given(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.integers(min_value=0, max_value=SCALE),
    st.sampled_from(list(Rounding)),
)
def test_integer_rounding_matches_decimal(n, decimals, mode):
    policy = MoneyPolicy(decimals, mode)
    assert from_scaled(policy.quantize_scaled(n)) == policy.quantize(from_scaled(n))
    step = 10 ** (SCALE - decimals)
    assert round_scaled(n, step, mode) % step == 0
