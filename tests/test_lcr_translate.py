"""Number translation rules and trunk identification by source IP."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.errors import ConfigError, NumberError, UnknownCustomerError
from tandem.lcr.translate import Translation, TranslationRules, normalize, translate
from tandem.lcr.trunks import Trunk, TrunkTable

UK = TranslationRules.from_mapping(
    {
        "tech_prefixes": ["#123", "1234#"],
        "international_prefixes": ["+", "00"],
        "national_prefix": "0",
        "country_code": "44",
    }
)
NANP = TranslationRules.from_mapping(
    {"international_prefixes": ["+", "011"], "national_prefix": "1", "country_code": "1",
     "assume": "national"}
)  # fmt: skip


@pytest.mark.parametrize(
    ("dialed", "rules", "normalized", "tech"),
    [
        ("442079460000", TranslationRules(), "442079460000", ""),
        ("+44 20 7946 0000", TranslationRules(), "442079460000", ""),
        ("+1 (212) 555-0100", TranslationRules(), "12125550100", ""),
        ("00442079460000", UK, "442079460000", ""),
        ("02079460000", UK, "442079460000", ""),
        ("#12302079460000", UK, "442079460000", "#123"),
        ("1234#0033123456789", UK, "33123456789", "1234#"),
        ("442079460000", UK, "442079460000", ""),
        ("011442079460000", NANP, "442079460000", ""),
        ("12125550100", NANP, "12125550100", ""),
        ("2125550100", NANP, "12125550100", ""),
        ("+12125550100", NANP, "12125550100", ""),
    ],
)
def test_translation(dialed, rules, normalized, tech):
    t = translate(dialed, rules)
    assert (t.normalized, t.tech_prefix) == (normalized, tech)


def test_strip_and_add():
    rules = TranslationRules.from_mapping({"strip": 3, "add": "49"})
    t = translate("999301234567", rules)
    assert t.normalized == "49301234567"
    assert t.steps == ("3 leading digit(s) stripped", "'49' prepended")


@pytest.mark.parametrize(
    ("dialed", "rules", "message"),
    [
        ("", TranslationRules(), "empty number"),
        ("#123", UK, "no digits left"),
        ("#999442079460000", UK, "contains '#'"),
        ("44*20", TranslationRules(), "contains '\\*'"),
        ("1" * 16, TranslationRules(), "at most 15"),
        ("+" + "4" * 16, TranslationRules(), "at most 15"),
        ("0" + "4" * 10, TranslationRules(), "starts with 0"),
        ("00" + "0" * 5, UK, "starts with 0"),
        ("sip:alice@example.com", TranslationRules(), "contains 's'"),
    ],
)
def test_rejections(dialed, rules, message):
    with pytest.raises(NumberError, match=message):
        translate(dialed, rules)


def test_non_text_number():
    with pytest.raises(NumberError, match="must be text"):
        translate(442079460000)  # type: ignore[arg-type]


@given(st.text(max_size=30), st.sampled_from([TranslationRules(), UK, NANP]))
def test_fuzz_translation(text, rules):
    try:
        t = translate(text, rules)
    except NumberError:
        return
    assert isinstance(t, Translation)
    assert t.normalized.isascii() and t.normalized.isdigit()
    assert 1 <= len(t.normalized) <= 15 and t.normalized[0] != "0"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"strip": -1}, "strip must be"),
        ({"assume": "local"}, "assume must be"),
        ({"tech_prefixes": "#1"}, "list of non-empty strings"),
        ({"add": "+1"}, "string of digits"),
        ({"colour": 1}, "unknown key"),
    ],
)
def test_bad_rules(data, message):
    with pytest.raises(ConfigError, match=message):
        TranslationRules.from_mapping(data)


# -- trunks -----------------------------------------------------------------------------------
@pytest.fixture
def trunks():
    return TrunkTable(
        [
            Trunk("acme-lon-1", "acme-telecom", ("192.0.2.0/24", "2001:db8:ac3e::/48")),
            Trunk("globex-1", "globex", ("192.0.2.77", "2001:db8:ac3e:7::/64")),
            Trunk("initech", "initech", ("10.0.0.0/8",)),
        ]
    )


@pytest.mark.parametrize(
    ("ip", "trunk"),
    [
        ("192.0.2.1", "acme-lon-1"),
        ("192.0.2.77", "globex-1"),  # the /32 inside acme's /24 wins
        ("10.200.3.4", "initech"),
        ("2001:db8:ac3e::1", "acme-lon-1"),
        ("2001:db8:ac3e:7::9", "globex-1"),  # the /64 inside acme's /48 wins
        ("[2001:db8:ac3e::2]", "acme-lon-1"),
        ("::ffff:192.0.2.77", "globex-1"),  # IPv4-mapped IPv6
    ],
)
def test_longest_match(trunks, ip, trunk):
    assert trunks.identify(ip).name == trunk


@pytest.mark.parametrize(
    ("ip", "message"),
    [
        ("198.51.100.1", "matches no customer trunk"),
        ("2001:db8:beef::1", "matches no customer trunk"),
        ("192.0.2", "not an IPv4 or IPv6 address"),
        ("", "not an IPv4 or IPv6 address"),
        ("acme", "not an IPv4 or IPv6 address"),
    ],
)
def test_unknown_source_ip(trunks, ip, message):
    with pytest.raises(UnknownCustomerError, match=message):
        trunks.identify(ip)


def test_identify_asked_again_and_after_a_trunk_is_added(trunks):
    """An address is remembered once found (asked again: the same answer, and again for
    an unknown one); a trunk added later that covers it more closely wins at once."""
    for _ in range(2):
        assert trunks.identify("10.1.2.3").name == "initech"
        with pytest.raises(UnknownCustomerError):
            trunks.identify("198.51.100.1")
    trunks.add(Trunk("initech-east", "initech", ("10.1.0.0/16",)))
    assert trunks.identify("10.1.2.3").name == "initech-east"
    trunks.add(Trunk("late", "late", ("198.51.100.0/24",)))
    assert trunks.identify("198.51.100.1").name == "late"


def test_subnet_claimed_twice(trunks):
    with pytest.raises(ConfigError, match="listed by trunks"):
        trunks.add(Trunk("other", "other", ("10.0.0.0/8",)))


@given(st.text(alphabet="+0123456789 #*x", max_size=20), st.sampled_from([TranslationRules(), UK]))
def test_normalize_agrees_with_translate(text, rules):
    try:
        expected = translate(text, rules)
    except NumberError:
        with pytest.raises(NumberError):
            normalize(text, rules)
        return
    assert normalize(text, rules) == (expected.normalized, expected.tech_prefix)
