"""NAPTR regexps are untrusted input (issue 10 item 9): no expression may stall a lookup.

A backtracking engine takes hours on ``^(.*)(.*)...(.*)Z$`` against a 16-digit AUS; the
evaluator runs RE2 (linear time) and refuses what RE2 cannot run. The slow cases carry a
pytest-timeout: with a backtracking engine they hang and the timeout fails them; nothing
here measures time.
"""

from __future__ import annotations

import pytest

from tandem.enum.naptr import NaptrRecord, apply_regexp, evaluate, parse_subst_expr
from tandem.enum.resolver import EnumResolver
from tandem.enum.types import LookupKind
from tandem.errors import EnumLookupError, RegexpRefusedError

#: The report's shape: 103 characters, 24 ``(.*)`` groups, an anchor that never matches.
EVIL = "!^" + "(.*)" * 24 + "Z$!x!"
AUS = "+442071234567890"


def test_evil_regexp_is_the_reported_size():
    assert len(EVIL) == 103


@pytest.mark.timeout(20)
def test_evil_regexp_evaluates_without_backtracking():
    assert apply_regexp(EVIL, AUS) is None
    # Nested and alternated stars: also exponential for a backtracking engine.
    assert apply_regexp("!^((.*)*)*(0|00)*(.*)*Z$!x!", AUS) is None
    assert apply_regexp("!^(\\+|.)*(4|44|.)*(.*.*.*.*.*.*)*Z!x!", AUS) is None


@pytest.mark.timeout(20)
def test_evil_record_is_skipped_and_the_next_one_chosen():
    records = [
        NaptrRecord(10, 10, "u", "E2U+sip", EVIL),
        NaptrRecord(20, 10, "u", "E2U+sip", "!^\\+(.*)$!sip:\\1@example.net!"),
    ]
    got = evaluate(records, AUS)
    assert [c.status for c in got] == ["skipped", "chosen"]
    assert "does not match" in got[0].reason and not got[0].regexp_refused
    assert got[1].uri == "sip:442071234567890@example.net"


@pytest.mark.parametrize(
    "regexp",
    [
        "!^(4)\\1!x!",  # a back-reference in the pattern: not POSIX ERE, not linear
        "!^\\+(?=44)(.*)$!\\1!",  # look-ahead
        "!^\\+(?<=\\+)(.*)$!\\1!",  # look-behind
        "!^\\+(.*)++$!\\1!",  # possessive quantifier
        "!^\\+(4{1001})$!\\1!",  # repetition count above RE2's limit
        "!^\\+((4{100}){100})$!\\1!",  # nested counts beyond the limit
    ],
)
def test_constructs_the_linear_engine_cannot_run_are_refused(regexp):
    with pytest.raises(RegexpRefusedError, match="refused"):
        parse_subst_expr(regexp)
    with pytest.raises(EnumLookupError):
        apply_regexp(regexp, AUS)


def test_back_references_in_the_replacement_still_work():
    assert apply_regexp("!^\\+(44)(.*)$!sip:\\2@\\1.example.net!", AUS) == (
        "sip:2071234567890@44.example.net"
    )
    assert apply_regexp("!^\\+(\\d{2})([[:digit:]]+)$!tel:+\\1\\2!", "+4420") == "tel:+4420"


def test_refused_record_is_reported_as_refused():
    records = [
        NaptrRecord(10, 10, "u", "E2U+sip", "!^\\+(4)\\1(.*)$!sip:\\2@h!"),
        NaptrRecord(20, 10, "u", "E2U+sip", "!^\\+(.*)$!sip:\\1@h!"),
    ]
    got = evaluate(records, "+4420")
    assert got[0].status == "skipped" and got[0].regexp_refused
    assert got[0].reason.startswith("malformed") and "refused" in got[0].reason
    assert got[1].status == "chosen" and not got[1].regexp_refused


@pytest.mark.timeout(20)
def test_resolver_keeps_its_answer_and_counts_refusals(responder):
    responder.records = [
        f'10 10 "u" "E2U+sip" "{EVIL}" .',
        '20 10 "u" "E2U+sip" "!^\\\\+(4)\\\\1(.*)$!sip:\\\\2@refused.test!" .',
        '30 10 "u" "E2U+sip" "!^\\\\+(.*)$!sip:\\\\1@ok.test!" .',
    ]
    r = EnumResolver([responder.server], budget_ms=2000)
    res = r.resolve("+442071234567890", use_cache=False)
    assert res.info.kind is LookupKind.ON_NET, res.info
    assert res.info.sip_uri == "sip:442071234567890@ok.test"
    assert [c.status for c in res.candidates] == ["skipped", "skipped", "chosen"]
    assert r.stats()["regexps_refused"] == 1
    r.resolve("+442071234567890", use_cache=False)
    assert r.stats()["regexps_refused"] == 2


def test_only_refused_records_is_malformed(responder):
    responder.records = ['10 10 "u" "E2U+sip" "!^\\\\+(4)\\\\1(.*)$!sip:\\\\2@h!" .']
    r = EnumResolver([responder.server], budget_ms=2000)
    info = r.lookup("+4420")
    assert info.kind is LookupKind.MALFORMED and "refused" in info.detail
    assert r.stats()["regexps_refused"] == 1
