"""Fuzzing the NAPTR evaluator (issue 10, "a fuzz suite ... and the NAPTR evaluator").

* random text, random pathological expressions and random record sets: the evaluator
  raises nothing but :class:`~tandem.errors.EnumLookupError` (its documented refusal,
  :class:`~tandem.errors.RegexpRefusedError` included) and never hangs (pytest-timeout);
* a grammar of safe expressions (literals, ``.``, classes, groups, alternation, bounded
  and unbounded repeats) where a backtracking engine is quick on a 16-digit AUS: the
  substitution equals a reference built from Python's :mod:`re` and the expression's
  own structure, and the record chosen is the one a plain RFC 3403 walk picks.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tandem.enum.naptr import NaptrRecord, apply_regexp, evaluate
from tandem.errors import EnumLookupError

AUS = st.text(alphabet="+0123456789", min_size=1, max_size=16).map(lambda s: "+" + s.lstrip("+"))
DELIMS = "!#/|%,;:@~=_"

# -- never an exception but the refusal, never a hang --------------------------------------

PIECES = [
    "(.*)",
    "(.*)*",
    "(.+)+",
    "((.*)*)*",
    "(0|00)*",
    "(.|..)*",
    "(\\+|.)*",
    "[0-9]*",
    "\\1",
    "(?=4)",
    "{1000}",
    "{2,}",
    "Z",
    "$",
    "^",
    "(",
    ")",
    "[",
    "]",
    "|",
    "\\",
    "4",
    ".",
    "?",
    "*",
    "+",
]


@pytest.mark.timeout(60)
@given(
    delim=st.sampled_from(DELIMS),
    star=st.sampled_from(["(.*)", "(.+)?", "([0-9]*)", "(\\+?.*)", "(.*)*"]),
    stars=st.integers(0, 30),
    pieces=st.lists(st.sampled_from(PIECES), max_size=40),
    repl=st.text(alphabet="sip:@\\123456789x", max_size=12),
    flags=st.sampled_from(["", "i", "g", "ii"]),
    aus=AUS,
)
@settings(max_examples=150, deadline=None)
def test_pathological_expressions_refused_or_evaluated(
    delim, star, stars, pieces, repl, flags, aus
):
    """Up to 30 repeated star groups (the reported attack) then random pieces."""
    ere = "^" + star * stars + "".join(pieces) + "Z"
    regexp = f"{delim}{ere[:200]}{delim}{repl}{delim}{flags}"
    try:
        result = apply_regexp(regexp, aus)
    except EnumLookupError:
        return
    assert result is None or isinstance(result, str)


@pytest.mark.timeout(60)
@given(text=st.text(max_size=255), aus=st.text(max_size=20))
@settings(max_examples=200, deadline=None)
def test_random_text_refused_or_evaluated(text, aus):
    try:
        result = apply_regexp(text, aus)
    except EnumLookupError:
        return
    assert result is None or isinstance(result, str)


RECORD = st.builds(
    NaptrRecord,
    order=st.integers(0, 65535),
    preference=st.integers(0, 65535),
    flags=st.sampled_from(["u", "U", "", "s", "a", "uu"]),
    services=st.sampled_from(["E2U+sip", "E2U+pstn:tel", "e2u+SIP", "sip+E2U", "E2U+x", "x"]),
    regexp=st.one_of(
        st.lists(st.sampled_from(PIECES), max_size=40).map(lambda p: f"!^{''.join(p)}!sip:x@h!"),
        st.just("!^\\+(.*)$!sip:\\1@h!"),
        st.just("!^\\+(.*)$!tel:+\\1!"),
        st.text(max_size=60),
    ),
)


@pytest.mark.timeout(60)
@given(records=st.lists(RECORD, max_size=10), aus=AUS)
@settings(max_examples=80, deadline=None)
def test_evaluate_never_raises_and_chooses_at_most_one(records, aus):
    got = evaluate(records, aus)
    statuses = [c.status for c in got]
    assert statuses.count("chosen") <= 1
    if "chosen" in statuses:
        after = statuses[statuses.index("chosen") + 1 :]
        assert set(after) <= {"not-considered"}
    for c in got:
        if c.regexp_refused:
            assert c.status == "skipped" and c.reason.startswith("malformed")


# -- a grammar of safe expressions, against a reference ------------------------------------


@st.composite
def safe_ere(draw, depth: int = 0) -> tuple[str, int]:
    """An ERE and its number of groups: atoms, groups, alternation, quantifiers. Groups
    take only ``?`` (a repeated group around repeats is where backtracking explodes);
    :func:`safe_case` keeps at most three unbounded repeats in all."""
    atoms = []
    groups = 0
    for _ in range(draw(st.integers(1, 3))):
        kinds = ["lit", "dot", "class", "posix"] + (["group"] if depth < 2 else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "lit":
            atom = draw(st.sampled_from(["0", "1", "4", "44", "\\+", "2"]))
        elif kind == "dot":
            atom = "."
        elif kind == "class":
            atom = draw(st.sampled_from(["[0-9]", "[1-4]", "[^5]", "[+0-9]"]))
        elif kind == "posix":
            atom = "[[:digit:]]"
        else:
            first, n1 = draw(safe_ere(depth + 1))
            alt = draw(st.booleans())
            if alt:
                second, n2 = draw(safe_ere(depth + 1))
                atom = f"({first}|{second})"
                groups += 1 + n1 + n2
            else:
                atom = f"({first})"
                groups += 1 + n1
        if kind == "group":
            quant = draw(st.sampled_from(["", "?"]))
        else:
            quant = draw(st.sampled_from(["", "", "?", "*", "+", "{2}", "{1,3}"]))
        atoms.append(atom + quant)
    return "".join(atoms), groups


@st.composite
def safe_case(draw):
    ere, groups = draw(safe_ere())
    unbounded = ere.count("*") + ere.count("+") - ere.count("\\+")  # "[+0-9]" counts too
    assume(unbounded <= 3 and ere.count("(") <= 6)
    anchor_start = draw(st.booleans())
    anchor_end = draw(st.booleans())
    ere = ("^" if anchor_start else "") + ere + ("$" if anchor_end else "")
    delim = draw(st.sampled_from(DELIMS))
    parts = draw(
        st.lists(
            st.one_of(
                st.text(alphabet="sip:@.xyz", min_size=1, max_size=4),
                st.integers(1, 9),
            ),
            max_size=5,
        )
    )
    parts = [p for p in parts if not isinstance(p, int) or p <= groups]
    repl = "".join(f"\\{p}" if isinstance(p, int) else p for p in parts)
    return delim, ere, parts, repl


def _reference(ere: str, parts: list, aus: str) -> str | None:
    """Python's re on the same expression (safe here: small, AUS short), and the
    replacement assembled from its parts rather than parsed."""
    python = ere.replace("[[:digit:]]", "[0-9]")
    match = re.search(python, aus)
    if match is None:
        return None
    return "".join(match.group(p) or "" if isinstance(p, int) else p for p in parts)


def _subst(delim: str, ere: str, parts: list) -> str | None:
    """The RFC 3402 text for ``ere`` and ``parts`` with ``delim`` escaped (None when the
    delimiter is an operator the expression uses: not expressible)."""
    if delim == "|" and "|" in ere:
        return None
    repl = "".join(
        f"\\{p}" if isinstance(p, int) else p.replace(delim, "\\" + delim) for p in parts
    )
    return f"{delim}{ere.replace(delim, chr(92) + delim)}{delim}{repl}{delim}"


@pytest.mark.timeout(60)
@given(case=safe_case(), aus=AUS)
@settings(max_examples=150, deadline=None)
def test_safe_expressions_match_the_reference(case, aus):
    delim, ere, parts, _repl = case
    regexp = _subst(delim, ere, parts)
    if regexp is None:
        return
    assert apply_regexp(regexp, aus) == _reference(ere, parts, aus), regexp


@pytest.mark.timeout(60)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 3),
            st.sampled_from(["u", ""]),
            st.sampled_from(["E2U+sip", "E2U+email:mailto"]),
            safe_case(),
        ),
        max_size=6,
    ),
    aus=AUS,
)
@settings(max_examples=60, deadline=None)
def test_selection_matches_a_plain_rfc3403_walk(rows, aus):
    """The chosen URI is the first record, by order then preference, that is a terminal
    E2U+sip record whose expression matches (reference: Python's re)."""
    records = []
    for order, pref, flags, services, (_delim, ere, parts, _repl) in rows:
        regexp = _subst("!", ere, ["sip:", *parts])
        records.append((NaptrRecord(order, pref, flags, services, regexp or ""), ere, parts))
    expected = None
    for record, ere, parts in sorted(records, key=lambda r: (r[0].order, r[0].preference)):
        if record.services != "E2U+sip" or record.flags != "u":
            continue
        out = _reference(ere, ["sip:", *parts], aus)
        if out is not None:
            expected = out
            break
    chosen = [c for c in evaluate([r for r, _, _ in records], aus) if c.status == "chosen"]
    assert (chosen[0].uri if chosen else None) == expected
