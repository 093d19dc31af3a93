"""NAPTR selection and RFC 3402 substitution; tel URIs; property tests and fuzzing."""

from __future__ import annotations

import re

import dns.e164
import dns.name
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.enum.naptr import (
    NaptrRecord,
    apply_regexp,
    evaluate,
    order_records,
    parse_services,
    parse_subst_expr,
)
from tandem.enum.teluri import parse_sip_tel_user, parse_tel_uri
from tandem.errors import EnumLookupError
from tandem.numbers import e164_digits

# -- substitution expressions (RFC 3402) ---------------------------------------------------


@pytest.mark.parametrize(
    "regexp, aus, expected",
    [
        (r"!^.*$!sip:info@example.net!", "+4420", "sip:info@example.net"),
        (r"!^\+44(.*)$!sip:\1@uk.example.net!", "+442071234567", "sip:2071234567@uk.example.net"),
        (r"/^\+(1)(202)(.*)$/tel:+\1-\2-\3/", "+12025550100", "tel:+1-202-5550100"),
        (r"#^\+(.*)$#sip:\1\#x@h#", "+12", "sip:12#x@h"),  # escaped delimiter in repl
        (r"|^\+1(.*)$|sip:\1\|y@h|", "+1555", "sip:555|y@h"),  # regex metachar as delimiter
        (r"!^\+(\!?)(.*)$!sip:\2@h!", "+99", "sip:99@h"),  # escaped delimiter in the ERE
        (r"!^\+([[:digit:]]{2})!x\1!", "+4420", "x44"),  # POSIX class; only repl is output
        (r"!^\+(9)?(4)!a\1b\2!", "+4420", "ab4"),  # group that did not take part: empty
        (r"!^\+44$!never!", "+4420", None),  # no match
        (r"!ABC!sip:x@h!i", "+abc", "sip:x@h"),  # the i flag
        (r"!ABC!sip:x@h!", "+abc", None),
        (r"!^\+(.*)$!sip:\\\1@h!", "+1", "sip:\\1@h"),  # \\ is one backslash
    ],
)
def test_apply_regexp(regexp, aus, expected):
    assert apply_regexp(regexp, aus) == expected


@pytest.mark.parametrize(
    "regexp",
    [
        "",
        "!^.*$!sip:x",  # no closing delimiter
        "1^.*$1x1",  # digit delimiter
        "i^.*$ixi",  # flag as delimiter
        "\\^.*$\\x\\",  # backslash delimiter
        "!^.*$!x!g",  # unknown flag
        "!^(.*$!x!",  # bad ERE
        "!^(.*)$!\\2!",  # back-reference beyond the groups
        "!^(.*)$!\\0!",  # \0 is not a back-reference
        "!^.*$!x\\",  # lone backslash
        "!" + "a" * 300 + "!x!",  # longer than a DNS character-string
    ],
)
def test_bad_regexps_raise_enum_lookup_error(regexp):
    with pytest.raises(EnumLookupError):
        apply_regexp(regexp, "+4420")


DELIMS = "!#/|%,;:@~=_"


@st.composite
def substitution_case(draw):
    """A random valid record and its expected output, built independently of the parser:
    the AUS is the concatenation of segments, each literal or captured with a known
    length, so the captured text of every group is known by construction."""
    delim = draw(st.sampled_from(DELIMS))
    ignore_case = draw(st.booleans())
    segments = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["lit", "cap", "anycap"]),
                st.text(alphabet="0123456789abcXYZ", min_size=1, max_size=4),
            ),
            min_size=1,
            max_size=6,
        )
    )
    aus = "+" + "".join(text for _, text in segments)
    ere = ["^\\+"]
    captures: list[str] = []
    for kind, text in segments:
        if kind == "lit":
            lit = text.swapcase() if ignore_case else text
            ere.append(re.escape(lit).replace(delim, "\\" + delim))
        elif kind == "cap":
            ere.append(f"([0-9a-zA-Z]{{{len(text)}}})")
            captures.append(text)
        else:
            ere.append(f"(.{{{len(text)}}})")
            captures.append(text)
    ere.append("$")
    pieces = draw(
        st.lists(
            st.one_of(
                st.text(alphabet="sip:@.-abcdefxyz0123" + delim, min_size=1, max_size=5),
                st.integers(min_value=1, max_value=max(1, len(captures))),
            ),
            max_size=6,
        )
    )
    repl: list[str] = []
    expected: list[str] = []
    for piece in pieces:
        if isinstance(piece, int):
            if not captures:
                continue
            repl.append(f"\\{piece}")
            expected.append(captures[piece - 1])
        else:
            repl.append(piece.replace(delim, "\\" + delim))
            expected.append(piece)
    regexp = f"{delim}{''.join(ere)}{delim}{''.join(repl)}{delim}{'i' if ignore_case else ''}"
    return regexp, aus, "".join(expected)


@given(substitution_case())
@settings(max_examples=300, deadline=None)
def test_substitution_matches_reference(case):
    regexp, aus, expected = case
    assert apply_regexp(regexp, aus) == expected


@given(st.text(max_size=80), st.text(alphabet="+0123456789", max_size=16))
@settings(max_examples=400, deadline=None)
def test_fuzz_subst_expr(text, aus):
    try:
        result = apply_regexp(text, aus)
    except EnumLookupError:
        return
    assert result is None or isinstance(result, str)


# -- services and ordering (RFC 6116, RFC 3403) --------------------------------------------


def test_parse_services():
    assert parse_services("E2U+sip") == ("sip",)
    assert parse_services("e2u+PSTN:tel") == ("pstn:tel",)
    assert parse_services("E2U+voice:tel+sip") == ("voice:tel", "sip")
    assert parse_services("sip+E2U") == ("sip",)
    for not_enum in ("", "E2U", "SIP+D2U", "E2U+", "E2U+si p", "x+y"):
        assert parse_services(not_enum) is None


@given(st.text(max_size=40))
def test_fuzz_services(text):
    result = parse_services(text)
    assert result is None or all(isinstance(s, str) and s for s in result)


def rec(order, pref, services="E2U+sip", regexp="!^.*$!sip:x@h!", flags="u"):
    return NaptrRecord(order, pref, flags, services, regexp)


def test_order_then_preference():
    records = [rec(20, 1), rec(10, 30), rec(10, 5), rec(15, 0)]
    assert [(r.order, r.preference) for r in order_records(records)] == [
        (10, 5),
        (10, 30),
        (15, 0),
        (20, 1),
    ]


def test_evaluate_filters_and_chooses_first_usable():
    records = [
        rec(5, 1, services="E2U+email:mailto", regexp="!^.*$!mailto:a@b!"),
        rec(10, 1, flags=""),
        rec(10, 2, flags="s"),
        rec(10, 3, regexp="!^\\+1!sip:us@h!"),
        rec(10, 4, regexp="!^(.*$!x!"),
        rec(10, 5, regexp="!^.*$!http://web!"),
        rec(20, 1, services="E2U+pstn:tel", regexp="!^(.*)$!tel:\\1;npdi!"),
        rec(30, 1),
        rec(1, 1, services="SIP+D2U"),  # another application: left out
    ]
    got = evaluate(records, "+4420")
    assert [c.status for c in got] == ["skipped"] * 6 + ["chosen", "not-considered"]
    assert got[6].uri == "tel:+4420;npdi" and got[6].service == "pstn:tel"
    assert "non-terminal" in got[1].reason and "'s'" in got[2].reason
    assert "does not match" in got[3].reason and got[4].reason.startswith("malformed")
    assert got[5].reason.startswith("malformed")
    only_sip = evaluate(records, "+4420", services=("sip",))
    assert [c.status for c in only_sip].count("chosen") == 1
    assert next(c for c in only_sip if c.status == "chosen").record.order == 30


@given(
    st.lists(
        st.tuples(
            st.integers(0, 65535),
            st.integers(0, 65535),
            st.text(max_size=3),
            st.text(max_size=20),
            st.text(max_size=40),
        ),
        max_size=8,
    ),
    st.text(alphabet="+0123456789", max_size=16),
)
@settings(max_examples=200, deadline=None)
def test_fuzz_evaluate_never_raises(rows, aus):
    records = [NaptrRecord(o, p, f, s, r) for o, p, f, s, r in rows]
    chosen = [c for c in evaluate(records, aus) if c.status == "chosen"]
    assert len(chosen) <= 1


def test_record_to_text_round_trips_through_dnspython():
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    r = rec(10, 20, regexp='!^\\+(.*)$!sip:\\1@"h"!')
    rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.NAPTR, r.to_text())
    assert NaptrRecord.from_rdata(rd) == r


def test_substitution_parse_is_memoised():
    assert parse_subst_expr("!^.*$!x!") is parse_subst_expr("!^.*$!x!")


# -- number <-> domain (RFC 6116 with dns.e164) ----------------------------------------------

SUFFIXES = ["e164.arpa.", "e164.example.net.", "enum.customer-7.example.com."]


@given(st.from_regex(r"[1-9][0-9]{0,14}", fullmatch=True), st.sampled_from(SUFFIXES))
def test_number_domain_number_round_trip(digits, suffix):
    origin = dns.name.from_text(suffix)
    domain = dns.e164.from_e164("+" + digits, origin=origin)
    assert len(domain.labels) == len(digits) + len(origin.labels)
    assert domain.is_subdomain(origin)
    assert dns.e164.to_e164(domain, origin=origin) == "+" + digits
    assert e164_digits(dns.e164.to_e164(domain, origin=origin)) == digits


# -- tel URIs (RFC 3966, RFC 4694) ----------------------------------------------------------


def test_tel_uris():
    t = parse_tel_uri("tel:+1-202-555-0100;npdi;rn=+1-202-555-9999")
    assert (t.number, t.rn, t.npdi, t.ported) == ("12025550100", "12025559999", True, True)
    t = parse_tel_uri("TEL:+1.202.555.0100;NPDI")
    assert (t.rn, t.npdi, t.ported) == (None, True, False)
    t = parse_tel_uri("tel:+12025550100;rn=(202)555-9999;rn-context=+1")
    assert t.rn == "12025559999"
    t = parse_tel_uri("tel:555-0100;phone-context=+1202")
    assert t.number == "12025550100"
    t = parse_tel_uri("tel:+12025550100;rn=+12025550100;npdi")
    assert not t.ported
    s = parse_sip_tel_user("sip:+15551234567;npdi;rn=+15559876543@gw.example.com;user=phone")
    assert (s.number, s.rn, s.npdi) == ("15551234567", "15559876543", True)


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "sip:x@y",
        "tel:",
        "tel:+",
        "tel:+1x",
        "tel:5550100",  # local number without phone-context
        "tel:+12025550100;rn=2025559999",  # local rn without rn-context
        "tel:+12025550100;rn=+",
        "tel:+12025550100;npdi=1",
        "tel:+12025550100;npdi;npdi",
        "tel:+12025550100;rn=+1;rn=+2",
        "tel:+1234567890123456",  # 16 digits
        "tel:+12025550100;bad param",
    ],
)
def test_bad_tel_uris(uri):
    with pytest.raises(EnumLookupError):
        parse_tel_uri(uri)


@pytest.mark.parametrize("uri", ["tel:+1", "sip:@h", "sip:+1", "http://x@y", "sip:+1;rn=x@h"])
def test_bad_sip_tel_users(uri):
    with pytest.raises(EnumLookupError):
        parse_sip_tel_user(uri)


@given(st.text(max_size=60))
@settings(max_examples=300)
def test_fuzz_tel_uri(text):
    for candidate in (text, "tel:" + text, "tel:+" + text):
        try:
            t = parse_tel_uri(candidate)
        except EnumLookupError:
            continue
        assert t.number.isdigit() and len(t.number) <= 15
        assert t.rn is None or (t.rn.isdigit() and len(t.rn) <= 15)
    for candidate in (text, "sip:" + text, "sip:+" + text + "@h"):
        try:
            parse_sip_tel_user(candidate)
        except EnumLookupError:
            continue
